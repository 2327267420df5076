"""Typed wrapper over the ``AINFT`` contract: ERC-721 tokens of AI outputs, ERC-7007 shape.

Minting is two transactions in two blocks: ``commit`` (a hash of minter, prompt and
output) and then ``mint`` (the reveal with the proof). The proof's encoding and what it
proves live in ``deai.provenance.nft``, which sits above the chain; this module passes
bytes through and decodes the contract's events.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3.types import TxReceipt

from deai.chain.contract import ContractWrapper
from deai.errors import ChainError, ContractRevert
from deai.units import Address

MAX_PROMPT = 4096
MAX_AIGC = 128
MAX_URI = 256
MAX_PROOF = 3072
"""Bounds in AINFT.vy; checked here first so the caller gets a reason, not a bare revert."""


@dataclass(frozen=True)
class TokenInfo:
    """What the contract keeps per token: who made it, where it was anchored, when minted."""

    token_id: int
    owner: Address
    provider: Address
    sequence: int
    mint_block: int
    aigc_data_hash: bytes
    uri: str


@dataclass(frozen=True)
class Minted:
    token_id: int
    owner: Address
    provider: Address
    sequence: int
    uri: str
    block_number: int
    transaction_hash: str


@dataclass(frozen=True)
class AigcData:
    """ERC-7007's event: the prompt, the content and the proof behind a token."""

    token_id: int
    prompt: bytes
    aigc_data: bytes
    proof: bytes
    block_number: int


class AINFT(ContractWrapper):
    """The AINFT contract; build it with ``AINFT(w3, deployment)`` or ``AINFT(w3, address)``."""

    name = "AINFT"

    # --- reading ------------------------------------------------------------------------------

    def commitment_for(self, minter: str, prompt: bytes, aigc_data: bytes) -> bytes:
        return bytes(self._call(self.contract.functions.commitmentFor(
            to_checksum_address(minter), prompt, aigc_data)))

    def committed_at(self, commitment: bytes) -> int:
        """The block a commitment was posted in (0: none, or already used)."""
        return int(self._call(self.contract.functions.commitments(commitment)))

    def verify(self, prompt: bytes, aigc_data: bytes, proof: bytes) -> bool:
        """ERC-7007 ``verify``: the contract's own check of the proof (signature, anchor, registry)."""
        try:
            return bool(self._call(self.contract.functions.verify(prompt, aigc_data, proof)))
        except ContractRevert:
            return False  # a proof that does not even decode proves nothing

    def exists(self, token_id: int) -> bool:
        return self.info(token_id) is not None

    def owner_of(self, token_id: int) -> Address:
        return Address(self._call(self.contract.functions.ownerOf(token_id)))

    def token_uri(self, token_id: int) -> str:
        return str(self._call(self.contract.functions.tokenURI(token_id)))

    def info(self, token_id: int) -> TokenInfo | None:
        """The token's record, or None when no such token was minted."""
        provider, sequence, mint_block, data_hash = self._call(self.contract.functions.tokenInfo(token_id))
        if int(mint_block) == 0:
            return None
        return TokenInfo(token_id, self.owner_of(token_id), Address(provider), int(sequence), int(mint_block),
                         bytes(data_hash), self.token_uri(token_id))

    def total_supply(self) -> int:
        return int(self._call(self.contract.functions.totalSupply()))

    def supports_interface(self, interface_id: bytes) -> bool:
        return bool(self._call(self.contract.functions.supportsInterface(interface_id)))

    def aigc_data(self, token_id: int, *, from_block: int = 0) -> AigcData | None:
        """The latest ``AigcData`` event of a token."""
        logs = self.contract.events.AigcData().get_logs(
            from_block=from_block, argument_filters={"tokenId": token_id})
        if not logs:
            return None
        args = logs[-1]["args"]
        return AigcData(int(args["tokenId"]), bytes(args["prompt"]), bytes(args["aigcData"]),
                        bytes(args["proof"]), int(logs[-1]["blockNumber"]))

    # --- writing ------------------------------------------------------------------------------

    def commit(self, minter: LocalAccount, commitment: bytes) -> TxReceipt:
        if len(commitment) != 32:
            raise ChainError(f"a commitment is 32 bytes, got {len(commitment)}")
        return self._send(minter, self.contract.functions.commit(commitment))

    def mint(self, minter: LocalAccount, prompt: bytes, aigc_data: bytes, uri: str, proof: bytes) -> Minted:
        """Reveal and mint; needs ``commit`` of the same (minter, prompt, output) in an earlier block."""
        for what, value, limit in (("prompt", prompt, MAX_PROMPT), ("output", aigc_data, MAX_AIGC),
                                   ("uri", uri.encode(), MAX_URI), ("proof", proof, MAX_PROOF)):
            if len(value) > limit:
                raise ChainError(f"the {what} is {len(value)} bytes; AINFT takes at most {limit}")
        receipt = self._send(minter, self.contract.functions.mint(prompt, aigc_data, uri, proof))
        for log in receipt["logs"]:
            if str(log["address"]) != self.address:
                continue
            try:
                args = self.contract.events.Minted().process_log(log)["args"]
            except Exception:  # another of this contract's events (Transfer, AigcData)
                continue
            return Minted(int(args["tokenId"]), Address(args["owner"]), Address(args["provider"]),
                          int(args["sequence"]), str(args["uri"]), int(log["blockNumber"]),
                          "0x" + bytes(log["transactionHash"]).hex())
        raise ChainError(f"mint transaction {receipt['transactionHash'].hex()} emitted no Minted event")

    def transfer(self, owner: LocalAccount, to: str, token_id: int) -> TxReceipt:
        return self._send(owner, self.contract.functions.transferFrom(
            owner.address, to_checksum_address(to), token_id))
