"""Typed wrapper over ``ReceiptDisputes``: challenges of fast-path receipts, votes, verdicts.

A validator that re-ran an anchored receipt and got another response challenges it::

    disputes = ReceiptDisputes.from_deployment(w3, deployment)
    challenged = disputes.challenge(validator, signed_receipt, anchor_sequence, proof, evidence_cid)
    disputes.vote(member, challenged.digest, fraud=True)          # each committee member
    resolved = disputes.resolve(anyone, challenged.digest)        # all voted, or the vote closed

The dispute id is the receipt's EIP-712 digest (its Merkle leaf, ``SignedReceipt.leaf``).
``challenge`` approves the bond (``challenge_bond()``) unless ``approve=False``; the
contract pulls it with transferFrom. ``dispute(digest)`` reads the stored state and the
``ReceiptChallenged`` event (block known from storage) for the evidence CID and sequences.
The contract checks everything else (signature, inclusion, window, validator, CID) and
its reverts arrive as ``ContractRevert`` with the reason (``"receipts: vote closed"``…);
this module only refuses what cannot be encoded (an oversized model string or proof).

Receipts come from ``deai.node.fastpath.receipts`` (a layer above the chain): this
module reads their fields and never imports that module at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3 import Web3

from deai.chain.cids import cid_to_bytes
from deai.chain.contract import ContractWrapper
from deai.chain.deploy import Deployment
from deai.chain.events import (
    ChainLog,
    ReceiptChallenged,
    ReceiptDisputeResolved,
    ReceiptEvent,
    ReceiptVoteCast,
)
from deai.chain.token import Token
from deai.chain.types import Ballot, ReceiptDispute, ReceiptDisputeStatus, ReceiptReason
from deai.errors import ChainError
from deai.units import Address, TokenAmount

if TYPE_CHECKING:
    from deai.node.fastpath.receipts import Receipt, SignedReceipt

MAX_PROOF_LENGTH = 64
MAX_MODEL_LENGTH = 256
"""Bounds in ReceiptDisputes.vy; checked here so the caller gets a reason, not a bare revert."""


def _topic(digest: bytes) -> str:
    return "0x" + bytes(digest).hex()


def _digest_arg(digest: bytes) -> bytes:
    if len(digest) != 32:
        raise ChainError(f"a receipt digest is 32 bytes, not {len(digest)}",
                         hint="the dispute id is the receipt's EIP-712 digest (SignedReceipt.leaf)")
    return bytes(digest)


def receipt_args(receipt: Receipt) -> tuple[Any, ...]:
    """The ``Receipt`` struct as the contract takes it (a tuple in ABI order)."""
    if len(receipt.model.encode()) > MAX_MODEL_LENGTH:
        raise ChainError(f"the receipt's model is {len(receipt.model.encode())} bytes; "
                         f"ReceiptDisputes takes at most {MAX_MODEL_LENGTH}",
                         hint="a model is named by its CID, which is far shorter")
    return (
        to_checksum_address(receipt.provider), bytes(receipt.channel_id), int(receipt.sequence),
        bytes(receipt.request_hash), bytes(receipt.response_hash), receipt.model, int(receipt.price),
        int(receipt.cumulative_amount), int(receipt.issued_at),
    )


class ReceiptDisputes(ContractWrapper):
    name = "ReceiptDisputes"

    @classmethod
    def from_deployment(cls, w3: Web3, deployment: Deployment) -> ReceiptDisputes:
        return cls(w3, deployment)

    # --- reading ----------------------------------------------------------------------------

    def token(self) -> Token:
        return Token(self.w3, str(self._call(self.contract.functions.token())))

    def challenge_window(self) -> int:
        """Seconds after a receipt's ``issued_at`` during which it may be challenged."""
        return int(self._call(self.contract.functions.challengeWindow()))

    def vote_window(self) -> int:
        return int(self._call(self.contract.functions.voteWindow()))

    def challenge_bond(self) -> TokenAmount:
        return TokenAmount(self._call(self.contract.functions.challengeBond()))

    def committee_size(self) -> int:
        return int(self._call(self.contract.functions.committeeSize()))

    def min_slash(self) -> TokenAmount:
        return TokenAmount(self._call(self.contract.functions.minSlash()))

    def sample_bps(self) -> int:
        """The fraction p of receipts validators re-run, in basis points."""
        return int(self._call(self.contract.functions.sampleBps()))

    def slash_for(self, price: int) -> TokenAmount:
        """What a proven-wrong receipt of ``price`` costs its provider: max(minSlash, price / p + 1)."""
        return TokenAmount(self._call(self.contract.functions.slashFor(price)))

    def domain_separator(self) -> bytes:
        return bytes(self._call(self.contract.functions.domainSeparator()))

    def receipt_digest(self, receipt: Receipt) -> bytes:
        """The digest the contract computes for ``receipt`` (equals ``Receipt.digest`` off chain)."""
        return bytes(self._call(self.contract.functions.receiptDigest(receipt_args(receipt))))

    def receipt_signer(self, signed: SignedReceipt) -> Address:
        """The signer the contract recovers (reverts on a malformed or malleable signature)."""
        return Address(self._call(self.contract.functions.receiptSigner(
            receipt_args(signed.receipt), bytes(signed.signature))))

    def dispute(self, digest: bytes) -> ReceiptDispute:
        """The dispute of the receipt with this digest (``exists`` is False if none)."""
        key = _digest_arg(digest)
        (challenger, provider, status, fraud, valid, vote_end, slash, block,
         committee) = self._call(self.contract.functions.getDispute(key))
        challenged = self._challenged(key, int(block)) if status else None
        return ReceiptDispute(
            digest=key, challenger=Address(challenger), provider=Address(provider),
            status=ReceiptDisputeStatus(status), fraud_votes=int(fraud), valid_votes=int(valid),
            committee=tuple(Address(m) for m in committee), vote_end=int(vote_end),
            evidence_cid=challenged.evidence_cid if challenged else "",
            slash_amount=TokenAmount(slash),
            receipt_sequence=challenged.receipt_sequence if challenged else 0,
            anchor_sequence=challenged.anchor_sequence if challenged else 0,
        )

    def _challenged(self, digest: bytes, block: int) -> ReceiptChallenged | None:
        found = [e for e in self.events(from_block=block, to_block=block, topics=[None, _topic(digest)])
                 if isinstance(e, ReceiptChallenged) and e.digest == digest]
        return found[0] if found else None

    def ballot(self, digest: bytes, validator: str) -> Ballot:
        return Ballot(self._call(self.contract.functions.ballotOf(
            _digest_arg(digest), to_checksum_address(validator))))

    # --- disputes ---------------------------------------------------------------------------

    def challenge(
        self,
        account: LocalAccount,
        receipt: SignedReceipt,
        anchor_sequence: int,
        proof: Sequence[bytes],
        evidence_cid: str | bytes,
        *,
        approve: bool = True,
    ) -> ReceiptChallenged:
        """Dispute ``receipt``'s response: ``proof`` leads from its leaf to the root the
        provider anchored as ``anchor_sequence``; ``evidence_cid`` (a CID string, or a binary
        CID as bytes) names the evidence the committee checks. Posts the challenge bond,
        approving it first unless ``approve=False``.
        """
        if len(proof) > MAX_PROOF_LENGTH or any(len(p) != 32 for p in proof):
            raise ChainError(f"a proof is at most {MAX_PROOF_LENGTH} hashes of 32 bytes",
                             hint="use the proof the provider's /v1/receipts/{n} returned")
        evidence = bytes(evidence_cid) if isinstance(evidence_cid, bytes) else cid_to_bytes(evidence_cid)
        fn = self.contract.functions.challenge(
            receipt_args(receipt.receipt), bytes(receipt.signature), int(anchor_sequence),
            [bytes(p) for p in proof], evidence,
        )
        if approve:
            self.token().ensure_allowance(account, self.address, self.challenge_bond())
        return self._one(self._send(account, fn), ReceiptChallenged)

    def vote(self, account: LocalAccount, digest: bytes, fraud: bool) -> ReceiptVoteCast:
        """A committee member's vote: ``fraud`` = the receipt's response is wrong."""
        fn = self.contract.functions.vote(_digest_arg(digest), bool(fraud))
        return self._one(self._send(account, fn), ReceiptVoteCast)

    def resolve(self, account: LocalAccount, digest: bytes) -> ReceiptDisputeResolved:
        """End the dispute once every member voted or the vote closed (anyone may)."""
        fn = self.contract.functions.resolve(_digest_arg(digest))
        return self._one(self._send(account, fn), ReceiptDisputeResolved)

    # --- events -----------------------------------------------------------------------------

    def dispute_events(self, digest: bytes, *, from_block: int = 0) -> list[ReceiptEvent]:
        """Every event of one receipt's dispute, oldest first."""
        key = _digest_arg(digest)
        events = self.events(from_block=from_block, topics=[None, _topic(key)])
        return [e for e in events if isinstance(e, ReceiptEvent) and e.digest == key]

    def why(self, digest: bytes, *, from_block: int = 0) -> str:
        """Where the receipt's dispute is, as a sentence."""
        events: list[ChainLog] = list(self.dispute_events(digest, from_block=from_block))
        last = events[-1] if events else None
        return last.reason.sentence if isinstance(last, ReceiptEvent) else ReceiptReason.NONE.sentence
