"""Talk to an EVM JSON-RPC endpoint: connect, send signed transactions, deploy, decode reverts.

Transactions are signed locally with an eth-account key; the node never holds keys.
A revert (in gas estimation or on chain) becomes ``ContractRevert`` with the contract's
own reason, and nothing was changed on chain.
"""

from __future__ import annotations

import threading
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError
from web3.types import TxParams, TxReceipt, Wei

from deai.chain.compile import Artifact
from deai.errors import ChainUnavailable, ContractRevert, InsufficientFunds


def connect(rpc_url: str, *, timeout: float = 30.0) -> Web3:
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    try:
        w3.eth.chain_id  # noqa: B018 - a cheap call that proves the endpoint answers
    except Exception as exc:
        raise ChainUnavailable(f"cannot reach the chain at {rpc_url}: {exc}") from None
    return w3


def revert_reason(exc: BaseException) -> str:
    """The contract's revert string from a web3 exception, as plainly as it can be had."""
    message = getattr(exc, "message", None) or str(exc)
    for prefix in ("execution reverted: ", "execution reverted:"):
        if prefix in message:
            return message.split(prefix, 1)[1].strip().strip("'\"")
    return message.strip()


def send(
    w3: Web3,
    account: LocalAccount,
    call: ContractFunction | ContractConstructor | None = None,
    *,
    to: str | None = None,
    data: bytes = b"",
    value: int = 0,
    gas: int | None = None,
) -> TxReceipt:
    """Sign and send ``call`` (or a raw transaction) from ``account``; wait for its receipt."""
    label = getattr(call, "fn_name", "constructor") if call is not None else "transaction"
    tx: TxParams = {"from": account.address, "value": Wei(value), "chainId": w3.eth.chain_id}
    try:
        if call is not None:
            # A placeholder gas keeps web3 from estimating against the latest block here.
            tx = call.build_transaction({**tx, "gas": 1})
            del tx["gas"]
        else:
            tx["data"] = data
            if to is not None:
                tx["to"] = to_checksum_address(to)
        # Estimate against the pending block: its timestamp is "now", which is what a
        # time-windowed call (assign after the bid window, finalize after the challenge
        # window) is judged by when it is mined; the latest block may be seconds old.
        if gas is None:
            gas = int(w3.eth.estimate_gas(tx, "pending") * 1.2) + 21_000
        tx["gas"] = gas
        if "maxFeePerGas" not in tx and "gasPrice" not in tx:
            tx["gasPrice"] = w3.eth.gas_price
    except (ContractLogicError, ContractCustomError) as exc:
        raise ContractRevert(revert_reason(exc), function=label) from None
    except Web3RPCError as exc:
        _raise_rpc(exc, label)
    # Threads of one node send with the same key (job path, fast path, anchoring): the
    # nonce is taken and the transaction handed to the node under one lock per sender.
    with _sender_lock(account.address):
        try:
            tx["nonce"] = w3.eth.get_transaction_count(account.address, "pending")
            signed = account.sign_transaction(tx)  # type: ignore[arg-type]
            tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        except Web3RPCError as exc:
            _raise_rpc(exc, label)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
    if receipt["status"] != 1:
        raise ContractRevert("transaction failed on chain", function=label)
    return receipt


_SENDER_LOCKS: dict[str, threading.Lock] = {}
_SENDER_LOCKS_GUARD = threading.Lock()


def _sender_lock(address: str) -> threading.Lock:
    with _SENDER_LOCKS_GUARD:
        return _SENDER_LOCKS.setdefault(address.lower(), threading.Lock())


def _raise_rpc(exc: Web3RPCError, label: str) -> Any:
    text = revert_reason(exc)
    if "insufficient funds" in text.lower():
        raise InsufficientFunds(f"{label}: {text}") from None
    raise ContractRevert(text, function=label) from None


def deploy(
    w3: Web3, account: LocalAccount, artifact: Artifact, *args: Any
) -> tuple[str, TxReceipt]:
    """Deploy ``artifact`` with constructor ``args``; returns (address, receipt)."""
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = send(w3, account, factory.constructor(*args))
    address = receipt["contractAddress"]
    if address is None:
        raise ContractRevert("deployment produced no contract", function=f"{artifact.name}.deploy")
    return str(address), receipt
