"""Test kit for ``ReceiptDisputes``: real signed receipts, anchored batches, state fingerprints.

``ReceiptKit`` signs receipts with the provider's real ``ReceiptSigner`` (the domain the
deployment's Anchors gives), anchors a batch's Merkle root with ``Anchors.post`` and keeps
the tree for proofs. ``fingerprint`` extends ``Market.fingerprint`` with the disputes'
state and the contract's token balance, so ``assert_reverts`` proves a refused call
changed nothing anywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from eth_utils.address import to_checksum_address

from deai.chain.anchors import Anchors
from deai.chain.receipt_disputes import ReceiptDisputes
from deai.errors import ContractRevert
from deai.node.fastpath.receipts import (
    Receipt,
    ReceiptSigner,
    SignedReceipt,
    body_hash,
    receipt_domain,
)
from deai.provenance.merkle import MerkleTree
from deai.testing.market import PROVIDERS, VALIDATORS, Market, cid
from deai.units import Address, ChannelId, TokenAmount, tokens

RECEIPT_PRICE = tokens("0.01")


@dataclass(frozen=True)
class AnchoredBatch:
    """Receipts one provider signed and anchored as its Anchors batch ``anchor_sequence``."""

    signed: tuple[SignedReceipt, ...]
    tree: MerkleTree
    anchor_sequence: int

    def proof(self, index: int) -> tuple[bytes, ...]:
        return self.tree.siblings(index)


class ReceiptKit:
    def __init__(self, m: Market) -> None:
        self.m = m
        self.disputes = ReceiptDisputes.from_deployment(m.w3, m.deployment)
        self.anchors = Anchors.from_deployment(m.w3, m.deployment)
        self.domain = receipt_domain(int(m.w3.eth.chain_id), self.anchors.address)
        self._sequence: dict[str, int] = {}

    def signer(self, role: str) -> ReceiptSigner:
        return ReceiptSigner(self.m[role], self.domain)

    def receipt(self, role: str = "provider1", *, price: int = RECEIPT_PRICE, issued_at: int | None = None,
                label: str = "") -> Receipt:
        """A fresh receipt of ``role``'s (the next sequence), issued now unless told."""
        sequence = self._sequence.get(role, 0) + 1
        self._sequence[role] = sequence
        request = f'{{"input":"{role} {sequence} {label}"}}'.encode()
        return Receipt(
            provider=Address(to_checksum_address(self.m[role].address)),
            channel_id=ChannelId(hashlib.sha256(f"channel {role}".encode()).digest()),
            sequence=sequence, request_hash=body_hash(request), response_hash=body_hash(b'{"data":[]}' + request),
            model=cid("model"), price=TokenAmount(price), cumulative_amount=TokenAmount(price * sequence),
            issued_at=self.m.now() if issued_at is None else issued_at,
        )

    def anchor(self, role: str, receipts: Iterable[Receipt]) -> AnchoredBatch:
        """Sign ``receipts`` as ``role`` and anchor their tree as its next batch."""
        signer = self.signer(role)
        signed = tuple(signer.sign(r) for r in receipts)
        tree = MerkleTree(s.leaf for s in signed)
        sequence = self.anchors.last_sequence(self.m[role].address) + 1
        self.anchors.post(self.m[role], tree.root, sequence, len(tree), cid(f"listing {role} {sequence}"))
        return AnchoredBatch(signed, tree, sequence)

    def anchored(self, role: str = "provider1", n: int = 4, **receipt: Any) -> AnchoredBatch:
        return self.anchor(role, [self.receipt(role, **receipt) for _ in range(n)])

    # --- observing --------------------------------------------------------------------------

    def fingerprint(self, digests: Iterable[bytes] = ()) -> tuple[dict[str, Any], list[str]]:
        d, t = self.disputes, self.m.token
        calls: list[tuple[Any, str, tuple[Any, ...]]] = [(t, "balanceOf", (d.address,))]
        for digest in digests:
            calls.append((d, "getDispute", (digest,)))
            calls += [(d, "ballotOf", (digest, self.m[r].address)) for r in (*VALIDATORS, *PROVIDERS)]
        return self.m.fingerprint(), self.m.raw_calls(calls)

    def assert_reverts(self, call: Callable[[], object], reason: str, digests: Iterable[bytes] = ()) -> None:
        """``call`` raises ContractRevert whose reason contains ``reason``, and nothing changed."""
        keys = list(digests)
        before = self.fingerprint(keys)
        with pytest.raises(ContractRevert) as info:
            call()
        assert reason in info.value.reason, info.value.reason
        assert self.fingerprint(keys) == before
