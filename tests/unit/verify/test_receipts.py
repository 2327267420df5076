"""Receipt checks without processes: the lottery over anchored leaves, fetching from a provider's
receipt routes (a stand-in provider behind ``httpx.MockTransport``), body hashes, the evidence
document, the validator's receipt tables and the ``fastpath-lazy`` adversary."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import httpx
import pytest
from eth_account import Account

from deai.errors import EvidenceError, NotReceiptBatch, ReceiptFault
from deai.node.adversary import cheating, fastpath_cheat, lazy_embeddings
from deai.node.fastpath.anchoring import listing_document
from deai.node.fastpath.receipts import (
    Receipt,
    ReceiptSigner,
    ReceiptVerifier,
    body_hash,
    receipt_domain,
)
from deai.node.jobs import run_job
from deai.provenance.merkle import MerkleTree
from deai.units import Address, ChannelId, TokenAmount
from deai.verify.receipts import (
    AnchoredReceipt,
    ReceiptEvidence,
    ReceiptVerdict,
    body_mismatch,
    check_receipt_evidence,
    claimed_text,
    fetch_exchange,
    fetch_listing,
    fetch_receipt,
    parse_receipt_evidence,
    sampled_leaves,
)
from deai.verify.sampling import sampling_key
from deai.verify.state import ReceiptCheck, ReceiptStage, ReceiptVote, ValidatorState, VoteStage

PROVIDER = Account.from_key(b"\x01" * 32)
OTHER = Account.from_key(b"\x02" * 32)
VALIDATOR = "0x" + "33" * 20
ANCHORS = "0x" + "ab" * 20
CHAIN = 31337
DOMAIN = receipt_domain(CHAIN, ANCHORS)
VERIFIER = ReceiptVerifier(DOMAIN)
REQUEST = b'{"model":"all-MiniLM-L6-v2","input":["hello"]}'
RESPONSE = b'{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.6,0.8]}],"model":"m"}'
FIRST = 11


def _beacon(i: int) -> bytes:
    return hashlib.sha256(f"block-{i}".encode()).digest()


def _signed(sequence: int, signer: Any = PROVIDER, request: bytes = REQUEST, response: bytes = RESPONSE) -> Any:
    receipt = Receipt(
        provider=Address(PROVIDER.address), channel_id=ChannelId(b"\x07" * 32), sequence=sequence,
        request_hash=body_hash(request), response_hash=body_hash(response), model="bafkreimodel",
        price=TokenAmount(10**15), cumulative_amount=TokenAmount(sequence * 10**15), issued_at=1_700_000_000,
    )
    if signer is not PROVIDER:  # a receipt naming PROVIDER but signed by another key
        signed = ReceiptSigner(signer, DOMAIN).sign(dataclasses.replace(receipt, provider=Address(signer.address)))
        return dataclasses.replace(signed, receipt=receipt, leaf=receipt.digest(VERIFIER.separator))
    return ReceiptSigner(PROVIDER, DOMAIN).sign(receipt)


class Provider:
    """A provider's receipt routes over an httpx transport: a batch of 5 receipts from ``FIRST``."""

    def __init__(self) -> None:
        self.receipts = [_signed(FIRST + i) for i in range(5)]
        self.tree = MerkleTree([r.leaf for r in self.receipts])
        self.listing = listing_document(PROVIDER.address, CHAIN, ANCHORS, FIRST, FIRST + 4, self.tree.root,
                                        [r.leaf for r in self.receipts])
        self.exchange: dict[str, str] | None = {"request": REQUEST.decode(), "response": RESPONSE.decode()}
        self.down = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        path = request.url.path
        if path == "/ipfs/bafylisting":
            return httpx.Response(200, json=self.listing)
        if path.endswith("/exchange"):
            return httpx.Response(200, json=self.exchange) if self.exchange else httpx.Response(404, json={})
        sequence = int(path.rsplit("/", 1)[1])
        index = sequence - FIRST
        if not 0 <= index < len(self.receipts):
            return httpx.Response(404, json={})
        return httpx.Response(200, json={"receipt": self.receipts[index].as_dict(),
                                         "proof": self.tree.proof(index).as_dict(), "anchor": {}})

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))


# --- the lottery ----------------------------------------------------------------------------------


def test_every_leaf_is_sampled_at_10000_bps_and_none_at_0() -> None:
    key = sampling_key(b"\x05" * 32)
    common: dict[str, Any] = dict(chain_id=CHAIN, anchors=ANCHORS, provider=PROVIDER.address, anchor_sequence=3,
                                  count=50, beacon=_beacon(1))
    assert sampled_leaves(key, fraction_bps=10_000, **common) == list(range(50))
    assert sampled_leaves(key, fraction_bps=0, **common) == []


def test_the_sample_depends_on_the_validator_and_the_beacon_and_hits_the_fraction() -> None:
    a, b = sampling_key(b"\x05" * 32), sampling_key(b"\x06" * 32)
    common: dict[str, Any] = dict(chain_id=CHAIN, anchors=ANCHORS, provider=PROVIDER.address, anchor_sequence=3,
                                  count=4000, fraction_bps=1000)
    first = sampled_leaves(a, beacon=_beacon(1), **common)
    assert first == sampled_leaves(a, beacon=_beacon(1), **common)
    assert first != sampled_leaves(b, beacon=_beacon(1), **common)
    assert first != sampled_leaves(a, beacon=_beacon(2), **common)
    assert 300 < len(first) < 500  # 10 % of 4000, well inside 5 sigma (sigma ≈ 19)


# --- fetching and checking ------------------------------------------------------------------------


def test_an_honest_provider_serves_a_listing_receipt_proof_and_exchange_that_check_out() -> None:
    provider = Provider()
    with provider.client() as http:
        listing = fetch_listing(http, "http://p", "bafylisting", root=provider.tree.root, count=5)
        assert listing.sequence_of(2) == FIRST + 2
        anchored = fetch_receipt(http, "http://p", VERIFIER, provider=PROVIDER.address, listing=listing, index=2,
                                 anchor_sequence=4, root=provider.tree.root)
        assert anchored.receipt == provider.receipts[2] and anchored.anchor_sequence == 4
        assert fetch_exchange(http, "http://p", anchored.receipt) == (REQUEST, RESPONSE)


def test_a_listing_that_does_not_hash_to_the_anchored_root_is_a_permanent_fault() -> None:
    provider = Provider()
    with provider.client() as http, pytest.raises(ReceiptFault, match="root anchored on chain") as caught:
        fetch_listing(http, "http://p", "bafylisting", root=b"\x00" * 32, count=5)
    assert caught.value.permanent


def test_a_provenance_batch_is_not_a_receipt_batch_and_no_fault() -> None:
    # Providers anchor provenance manifests through the same Anchors contract: a sampled leaf
    # of such a batch is skipped, never counted against the provider.
    provider = Provider()
    receipts = {k: v for k, v in provider.listing.items() if k != "kind"}
    provider.listing = {**receipts, "schema": "deai-manifest-batch/1"}  # as deai.provenance writes it
    with provider.client() as http, pytest.raises(NotReceiptBatch, match="not a receipt batch"):
        fetch_listing(http, "http://p", "bafylisting", root=provider.tree.root, count=5)
    provider.listing = {**receipts, "kind": None}
    with provider.client() as http, pytest.raises(ReceiptFault, match="its kind is None"):
        fetch_listing(http, "http://p", "bafylisting", root=provider.tree.root, count=5)


def test_a_receipt_signed_by_another_key_or_with_a_wrong_proof_is_refused() -> None:
    provider = Provider()
    with provider.client() as http:
        listing = fetch_listing(http, "http://p", "bafylisting", root=provider.tree.root, count=5)
        with pytest.raises(ReceiptFault, match="does not fit anchor"):
            fetch_receipt(http, "http://p", VERIFIER, provider=PROVIDER.address, listing=listing, index=1,
                          anchor_sequence=4, root=b"\x01" * 32)
        provider.receipts[1] = _signed(FIRST + 1, signer=OTHER)
        with pytest.raises(ReceiptFault, match="not by its provider") as caught:
            fetch_receipt(http, "http://p", VERIFIER, provider=PROVIDER.address, listing=listing, index=1,
                          anchor_sequence=4, root=provider.tree.root)
        assert caught.value.permanent


def test_an_exchange_not_served_or_not_matching_the_receipt_is_a_fault() -> None:
    provider = Provider()
    receipt = provider.receipts[0]
    with provider.client() as http:
        provider.exchange = None
        with pytest.raises(ReceiptFault, match="HTTP 404") as caught:
            fetch_exchange(http, "http://p", receipt)
        assert not caught.value.permanent  # not served (yet): asked again, then recorded
        provider.exchange = {"request": REQUEST.decode(), "response": RESPONSE.decode().replace("0.6", "0.7")}
        with pytest.raises(ReceiptFault, match="responseHash") as caught:
            fetch_exchange(http, "http://p", receipt)
        assert caught.value.permanent
        provider.down = True
        with pytest.raises(ReceiptFault, match="did not answer"):
            fetch_exchange(http, "http://p", receipt)


def test_body_mismatch_names_each_hash_that_differs() -> None:
    receipt = _signed(3)
    assert body_mismatch(receipt, REQUEST, RESPONSE) is None
    assert body_mismatch(receipt, REQUEST + b" ", RESPONSE) == "keccak256(request) is not the receipt's requestHash"
    both = body_mismatch(receipt, b"{}", b"{}")
    assert both is not None and "requestHash" in both and "responseHash" in both


def test_claimed_text_reads_plain_and_streamed_completions() -> None:
    from deai.node.fastpath import openai_api as oa

    plain = oa.parse_request(oa.ChatRequest, b'{"model":"m","messages":[{"role":"user","content":"hi"}]}')
    body = oa.completion_body(True, "chatcmpl-x", 1, "m", "Hello there", "length", 3, 4)
    assert claimed_text(plain, body) == ("Hello there", "length", 4)  # type: ignore[arg-type]
    streamed = oa.parse_request(oa.CompletionRequest, b'{"model":"m","prompt":"hi","stream":true}')
    events = (oa.chunk_event(False, "c", 1, "m", None, None, first=True) + oa.chunk_event(False, "c", 1, "m", "Hel", None)
              + oa.chunk_event(False, "c", 1, "m", "lo", None) + oa.chunk_event(False, "c", 1, "m", "", "stop"))
    assert claimed_text(streamed, events) == ("Hello", "stop", None)  # type: ignore[arg-type]


# --- the evidence document ------------------------------------------------------------------------


def _evidence(provider: Provider, index: int = 1, **changes: Any) -> ReceiptEvidence:
    anchored = AnchoredReceipt(provider.receipts[index], 4, index, provider.tree.siblings(index), provider.tree.root)
    evidence = ReceiptEvidence.build(chain_id=CHAIN, anchors=ANCHORS, validator=VALIDATOR, anchored=anchored,
                                     request=REQUEST, response=RESPONSE,
                                     verdict=ReceiptVerdict("mismatch", "reexecute", "max |a-b| = 0.9"),
                                     beacon=_beacon(1), ticket=7)
    return evidence.model_copy(update=changes) if changes else evidence


def test_evidence_round_trips_and_checks_against_the_disputed_receipt() -> None:
    provider = Provider()
    evidence = _evidence(provider)
    again = parse_receipt_evidence(evidence.canonical_bytes())
    assert again == evidence
    checked = check_receipt_evidence(again, VERIFIER, chain_id=CHAIN, anchors=ANCHORS,
                                     digest=provider.receipts[1].leaf, provider=PROVIDER.address,
                                     root=provider.tree.root)
    assert checked.receipt == provider.receipts[1]
    assert (checked.request, checked.response) == (REQUEST, RESPONSE)


@pytest.mark.parametrize(("doc", "reason"), [
    (b"{not json", "not valid JSON"),
    (b"[1]", "JSON object"),
    (b"x" * (9 * 2**20), "limit"),
    (json.dumps({"kind": "deai-receipt-evidence"}).encode(), "malformed receipt evidence"),
])
def test_malformed_evidence_is_refused_with_a_reason(doc: bytes, reason: str) -> None:
    with pytest.raises(EvidenceError, match=reason):
        parse_receipt_evidence(doc)


@pytest.mark.parametrize(("change", "reason"), [
    ({"proof": ["0xABC"]}, "proof"),
    ({"request": "0xzz"}, "request"),
    ({"validator": "nobody"}, "validator"),
    ({"anchor_sequence": 0}, "anchor_sequence"),
    ({"extra": 1}, "extra"),
])
def test_evidence_fields_are_validated(change: dict[str, Any], reason: str) -> None:
    doc = json.loads(_evidence(Provider()).canonical_bytes()) | change
    with pytest.raises(EvidenceError, match=reason):
        parse_receipt_evidence(doc)


def test_evidence_whose_bodies_do_not_hash_to_the_receipt_is_refused() -> None:
    provider = Provider()
    evidence = _evidence(provider, response="0x" + RESPONSE.replace(b"0.6", b"0.1").hex())
    with pytest.raises(EvidenceError, match="responseHash"):
        check_receipt_evidence(evidence, VERIFIER, chain_id=CHAIN, anchors=ANCHORS)


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"chain_id": 1}, "another chain"),
    ({"digest": b"\x09" * 32}, "another receipt"),
    ({"provider": OTHER.address}, "another provider"),
    ({"root": b"\x09" * 32}, "does not lead to the root"),
])
def test_evidence_about_another_dispute_or_anchor_is_refused(kwargs: dict[str, Any], reason: str) -> None:
    provider = Provider()
    args: dict[str, Any] = {"chain_id": CHAIN, "anchors": ANCHORS} | kwargs
    with pytest.raises(EvidenceError, match=reason):
        check_receipt_evidence(_evidence(provider), VERIFIER, **args)


def test_evidence_with_a_forged_receipt_is_refused() -> None:
    provider = Provider()
    doc = json.loads(_evidence(provider).canonical_bytes())
    doc["receipt"]["price"] = "1"
    with pytest.raises(EvidenceError, match="does not hold"):
        check_receipt_evidence(parse_receipt_evidence(doc), VERIFIER, chain_id=CHAIN, anchors=ANCHORS)


# --- state and adversary --------------------------------------------------------------------------


def test_receipt_checks_and_votes_survive_a_reopen(tmp_path: Any) -> None:
    path = tmp_path / "validator.sqlite"
    state = ValidatorState(path)
    state.put_receipt_check(ReceiptCheck("0xp:3:1", provider="0xp", anchor_sequence=3, leaf_index=1, anchor_block=9))
    state.update_receipt_check("0xp:3:1", stage=ReceiptStage.CHALLENGING, digest="0x" + "aa" * 32)
    state.put_receipt_vote(ReceiptVote("0x" + "aa" * 32, provider="0xp", vote_end=100))
    state.close()
    again = ValidatorState(path)
    [check] = again.receipt_checks([ReceiptStage.CHALLENGING])
    assert (check.anchor_sequence, check.leaf_index, check.digest) == (3, 1, "0x" + "aa" * 32)
    assert again.receipt_checks([ReceiptStage.QUEUED]) == []
    vote = again.update_receipt_vote("0x" + "aa" * 32, stage=VoteStage.VOTED, fraud=1)
    assert again.receipt_votes([VoteStage.VOTED]) == [vote] and vote.vote_end == 100
    again.close()


def test_fastpath_lazy_cheats_on_the_fast_path_only() -> None:
    assert fastpath_cheat("fastpath-lazy") == "fastpath-lazy"
    assert fastpath_cheat("lazy") is None and fastpath_cheat(None) is None
    assert cheating("fastpath-lazy", ()) == (run_job, ())
    noise = lazy_embeddings(3, 384)
    assert noise.shape == (3, 384) and abs(float((noise**2).sum(axis=1).mean()) - 1.0) < 1e-5
