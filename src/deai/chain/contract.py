"""What every typed contract wrapper shares: the web3 contract, calls, sends, event decoding.

A wrapper is built from ``(w3, address)`` or ``(w3, deployment)``. Views that revert and
transactions that revert both raise ``ContractRevert`` carrying the contract's reason;
a transaction returns the typed event it logged, so callers never parse receipts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.types import LogReceipt, TxReceipt

from deai.chain.compile import compile_contract
from deai.chain.deploy import Deployment
from deai.chain.events import ChainLog, EventDecoder
from deai.chain.rpc import revert_reason, send
from deai.errors import ChainError, ContractRevert
from deai.units import Address

_E = TypeVar("_E", bound=ChainLog)


class ContractWrapper:
    """Base of the typed wrappers; ``name`` is the contract's name in ``contracts/``."""

    name: ClassVar[str]

    def __init__(self, w3: Web3, where: str | Deployment) -> None:
        address = where.address(self.name) if isinstance(where, Deployment) else where
        self.w3 = w3
        self.address = Address(to_checksum_address(address))
        abi = compile_contract(self.name).abi
        self.contract: Contract = w3.eth.contract(address=self.address, abi=abi)  # type: ignore[call-overload]
        self.decoder = EventDecoder(w3, {self.name: self.address})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address})"

    def _call(self, fn: ContractFunction) -> Any:
        try:
            return fn.call()
        except (ContractLogicError, ContractCustomError) as exc:
            raise ContractRevert(revert_reason(exc), function=fn.fn_name) from None

    def _send(self, account: LocalAccount, fn: ContractFunction) -> TxReceipt:
        return send(self.w3, account, fn)

    def _one(self, receipt: TxReceipt, kind: type[_E]) -> _E:
        for event in self.decoder.of_type(receipt["logs"], kind):
            return event
        raise ChainError(f"the transaction logged no {kind.__name__} event")

    def decode(self, logs: Iterable[LogReceipt]) -> list[ChainLog]:
        """This contract's events among ``logs`` (others are skipped)."""
        return self.decoder.decode(logs)

    def events(
        self, *, from_block: int = 0, to_block: int | str = "latest", topics: list[Any] | None = None
    ) -> list[ChainLog]:
        """This contract's events in the block range, oldest first."""
        logs = self.w3.eth.get_logs({
            "address": self.address, "fromBlock": from_block, "toBlock": to_block,  # type: ignore[typeddict-item]
            "topics": topics or [],
        })
        return self.decode(logs)

    def chain_time(self) -> int:
        """The latest block's timestamp: the contracts' idea of now."""
        return int(self.w3.eth.get_block("latest")["timestamp"])
