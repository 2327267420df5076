"""Typed wrapper over the ``Anchors`` contract: post Merkle roots, read them, check inclusion.

The tree rule lives in ``deai.provenance.merkle`` (which sits above the chain, so this
module takes roots and proofs as plain bytes and never imports it); the contract checks
proofs with the same rule byte for byte. Reverts raise ``ContractRevert`` with the
contract's reason (``"anchors: sequence must increase"``, …).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.types import LogReceipt

from deai.chain.compile import compile_contract
from deai.chain.deploy import Deployment
from deai.chain.rpc import send
from deai.errors import ChainError
from deai.units import Address

MAX_PROOF_LENGTH = 64
MAX_URI_LENGTH = 256
"""Bounds in Anchors.vy; the wrapper checks them first so the caller gets a reason, not a bare revert."""


@dataclass(frozen=True)
class AnchorPosted:
    """One anchored batch, as the ``AnchorPosted`` event tells it."""

    provider: Address
    sequence: int
    root: bytes
    count: int
    uri: str
    block_number: int
    transaction_hash: str


class Anchors:
    """The Anchors contract at ``address``."""

    def __init__(self, w3: Web3, address: str) -> None:
        self.w3 = w3
        checksum = to_checksum_address(address)
        self.address = Address(checksum)
        self.contract: Contract = w3.eth.contract(address=checksum, abi=compile_contract("Anchors").abi)
        self._topic = bytes(Web3.keccak(text="AnchorPosted(address,uint256,bytes32,uint256,string)"))

    @classmethod
    def from_deployment(cls, w3: Web3, deployment: Deployment) -> Anchors:
        return cls(w3, deployment.address("Anchors"))

    def post(
        self, provider: LocalAccount, root: bytes, sequence: int, count: int, uri: str = ""
    ) -> AnchorPosted:
        """Anchor ``root`` (a batch of ``count`` leaves) as ``provider``'s batch ``sequence``."""
        if len(root) != 32:
            raise ChainError(f"a Merkle root is 32 bytes, got {len(root)}")
        if len(uri.encode()) > MAX_URI_LENGTH:
            raise ChainError(
                f"the batch URI is {len(uri.encode())} bytes; Anchors takes at most {MAX_URI_LENGTH}",
                hint="anchor the batch's CID rather than a long URL",
            )
        receipt = send(self.w3, provider, self.contract.functions.post(bytes(root), sequence, count, uri))
        posted = self.decode(receipt["logs"])
        if not posted:
            raise ChainError(f"anchor transaction {receipt['transactionHash'].hex()} emitted no event")
        return posted[0]

    def root(self, provider: str, sequence: int) -> bytes | None:
        """The root ``provider`` anchored as ``sequence``, or None."""
        root = bytes(self.contract.functions.roots(to_checksum_address(provider), sequence).call())
        return None if root == bytes(32) else root

    def last_sequence(self, provider: str) -> int:
        """The highest sequence ``provider`` anchored (0: none yet)."""
        return int(self.contract.functions.lastSequence(to_checksum_address(provider)).call())

    def verify_inclusion(self, provider: str, sequence: int, leaf: bytes, proof: Sequence[bytes]) -> bool:
        """True when the chain says ``leaf`` is in ``provider``'s batch ``sequence``."""
        if len(proof) > MAX_PROOF_LENGTH or len(leaf) != 32 or any(len(p) != 32 for p in proof):
            return False
        return bool(self.contract.functions.verifyInclusion(
            to_checksum_address(provider), sequence, bytes(leaf), [bytes(p) for p in proof]
        ).call())

    def compute_root(self, leaf: bytes, proof: Sequence[bytes]) -> bytes:
        """The root the contract computes from ``leaf`` and ``proof`` (for cross-checks)."""
        return bytes(self.contract.functions.computeRoot(bytes(leaf), [bytes(p) for p in proof]).call())

    def decode(self, logs: Iterable[LogReceipt]) -> list[AnchorPosted]:
        out: list[AnchorPosted] = []
        for log in logs:
            if str(log["address"]) != self.address or not log["topics"]:
                continue
            if bytes(log["topics"][0]) != self._topic:
                continue
            args: dict[str, Any] = dict(self.contract.events.AnchorPosted().process_log(log)["args"])
            out.append(AnchorPosted(
                Address(args["provider"]), int(args["sequence"]), bytes(args["root"]),
                int(args["count"]), str(args["uri"]), int(log["blockNumber"]),
                "0x" + bytes(log["transactionHash"]).hex(),
            ))
        return out

    def events(
        self, *, provider: str | None = None, from_block: int = 0, to_block: int | str = "latest"
    ) -> list[AnchorPosted]:
        """Every anchor in the block range, oldest first; optionally of one provider."""
        topics: list[Any] = ["0x" + self._topic.hex()]
        if provider is not None:
            topics.append("0x" + bytes(12).hex() + to_checksum_address(provider)[2:].lower())
        logs = self.w3.eth.get_logs({
            "address": self.address, "fromBlock": from_block, "toBlock": to_block,  # type: ignore[typeddict-item]
            "topics": topics,
        })
        return self.decode(logs)

    def find(self, provider: str, sequence: int, *, from_block: int = 0) -> AnchorPosted | None:
        """The event of ``provider``'s batch ``sequence`` (count, URI, block), or None."""
        topics: list[Any] = [
            "0x" + self._topic.hex(),
            "0x" + bytes(12).hex() + to_checksum_address(provider)[2:].lower(),
            "0x" + sequence.to_bytes(32, "big").hex(),
        ]
        logs = self.w3.eth.get_logs({
            "address": self.address, "fromBlock": from_block, "toBlock": "latest",  # type: ignore[typeddict-item]
            "topics": topics,
        })
        found = self.decode(logs)
        return found[0] if found else None
