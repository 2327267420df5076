"""ProvenanceLog on a real chain: one post per batch, restarts, a crash mid-anchor, sequences."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from deai.chain.anchors import Anchors
from deai.errors import ManifestError
from deai.provenance.log import ProvenanceLog
from deai.provenance.manifest import Manifest, UnsignedManifest, sign_manifest
from deai.provenance.merkle import verify_proof
from deai.provenance.records import AnchoredRecord, BatchListing
from deai.store import LocalStore, cid_of_bytes
from deai.testing.market import Market

pytestmark = pytest.mark.integration

MakeLog = Callable[..., ProvenanceLog]


def _manifests(m: Market, log: ProvenanceLog, n: int, *, start: int = 0, role: str = "provider1") -> list[Manifest]:
    account = m[role]
    base = UnsignedManifest(
        output_cid=cid_of_bytes(b"x"), model_cid=cid_of_bytes(b"model"), kind="embed",
        provider=account.address, provider_did=f"did:pkh:eip155:{m.deployment.chain_id}:{account.address}",
        chain_id=m.deployment.chain_id, anchors=m.deployment.address("Anchors"), runtime="onnx",
        created_at=1_800_000_000,
    )
    return [
        sign_manifest(account, log.domain, base.model_copy(update={
            "output_cid": cid_of_bytes(f"output {i}".encode()), "receipt_sequence": i}))
        for i in range(start, start + n)
    ]


def test_a_batch_of_many_manifests_costs_one_anchor_post(
    m: Market, make_log: MakeLog, prov_store: LocalStore,
) -> None:
    log = make_log()
    manifests = _manifests(m, log, 300)
    for manifest in manifests:
        log.add(manifest)
    [batch] = log.flush()
    anchors = Anchors.from_deployment(m.w3, m.deployment)
    [event] = anchors.events(provider=m["provider1"].address)
    assert (event.sequence, event.count, event.uri) == (1, 300, batch.listing_cid)
    gas = m.w3.eth.get_transaction_receipt(batch.tx)["gasUsed"]  # type: ignore[arg-type]
    assert gas < 80_000  # one post whatever the batch size
    listing = BatchListing.from_json(prov_store.read_bytes(batch.listing_cid))
    assert listing.manifests == tuple(manifest.cid() for manifest in manifests)
    for i in (0, 150, 299):
        record = AnchoredRecord.from_json(prov_store.read_bytes(batch.record_cids[i]))
        proof = record.merkle_proof()
        assert record.manifest == manifests[i] and proof.leaf == manifests[i].leaf()
        assert verify_proof(event.root, proof.leaf, proof.siblings)
        assert anchors.verify_inclusion(event.provider, event.sequence, proof.leaf, proof.siblings)


def test_a_restart_keeps_unanchored_manifests_and_the_next_sequence(
    m: Market, make_log: MakeLog, prov_store: LocalStore, tmp_path: Path,
) -> None:
    log = make_log()
    for manifest in _manifests(m, log, 3):
        log.add(manifest)
    log.flush()
    for manifest in _manifests(m, log, 4, start=3):
        log.add(manifest)
    log.close()
    again = ProvenanceLog(store=prov_store, db_path=log.db_path, anchors=log.anchors, account=m["provider1"])
    try:
        assert again.pending_count() == 4
        [batch] = again.flush()
        assert (batch.sequence, batch.count) == (2, 4)
        assert again.record(cid_of_bytes(b"output 0")) is not None  # the first batch's index survived
        assert again.record(cid_of_bytes(b"output 6")) is not None
    finally:
        again.close()


class _CrashAfterSend(Exception):
    pass


def test_a_crash_after_the_anchor_was_sent_never_posts_it_twice(
    m: Market, make_log: MakeLog, prov_store: LocalStore,
) -> None:
    log = make_log()
    for manifest in _manifests(m, log, 5):
        log.add(manifest)
    real_post = log.anchors.post

    def post_then_die(*args: object, **kwargs: object) -> object:
        real_post(*args, **kwargs)  # type: ignore[arg-type]
        raise _CrashAfterSend  # the process dies before it records the receipt

    log.anchors.post = post_then_die  # type: ignore[method-assign]
    with pytest.raises(_CrashAfterSend):
        log.flush()
    log.close()
    restarted = ProvenanceLog(store=prov_store, db_path=log.db_path,
                              anchors=Anchors.from_deployment(m.w3, m.deployment), account=m["provider1"])
    try:
        [batch] = restarted.flush()
        assert (batch.sequence, batch.count) == (1, 5)
        anchors = Anchors.from_deployment(m.w3, m.deployment)
        assert anchors.last_sequence(m["provider1"].address) == 1  # found on chain, not posted again
        assert len(anchors.events(provider=m["provider1"].address)) == 1
        assert restarted.pending_count() == 0 and restarted.record(cid_of_bytes(b"output 4")) is not None
    finally:
        restarted.close()


def test_a_crash_before_the_anchor_was_sent_posts_it_on_restart(
    m: Market, make_log: MakeLog, prov_store: LocalStore,
) -> None:
    log = make_log()
    for manifest in _manifests(m, log, 2):
        log.add(manifest)

    def die(*args: object, **kwargs: object) -> object:
        raise _CrashAfterSend

    log.anchors.post = die  # type: ignore[method-assign]
    with pytest.raises(_CrashAfterSend):
        log.flush()
    log.close()
    restarted = ProvenanceLog(store=prov_store, db_path=log.db_path,
                              anchors=Anchors.from_deployment(m.w3, m.deployment), account=m["provider1"])
    try:
        [batch] = restarted.flush()
        assert (batch.sequence, batch.count) == (1, 2)
    finally:
        restarted.close()


def test_receipt_batches_and_provenance_batches_share_the_sequence_under_one_lock(
    m: Market, make_log: MakeLog,
) -> None:
    lock = threading.Lock()
    log = make_log(anchor_lock=lock)
    anchors = Anchors.from_deployment(m.w3, m.deployment)
    with lock:  # a fast-path receipt batcher anchoring with the same key
        anchors.post(m["provider1"], b"\x07" * 32, anchors.last_sequence(m["provider1"].address) + 1, 10, "")
    for manifest in _manifests(m, log, 2):
        log.add(manifest)
    [batch] = log.flush()
    assert batch.sequence == 2


def test_the_log_refuses_manifests_it_should_not_anchor(m: Market, make_log: MakeLog) -> None:
    log = make_log()
    other = make_log("provider2")
    [foreign] = _manifests(m, other, 1, role="provider2")
    with pytest.raises(ManifestError, match="this log anchors for"):
        log.add(foreign)
    [mine] = _manifests(m, log, 1)
    forged = Manifest.model_validate({**mine.as_dict(), "signature": foreign.signature})
    with pytest.raises(ManifestError, match="signed by"):
        log.add(forged)
    assert log.pending_count() == 0
