"""Anchored records and batch listings: round trips and refusals of malformed documents."""

from __future__ import annotations

import json

import pytest
from eth_account import Account

from deai.errors import ManifestError
from deai.identity.did import did_pkh
from deai.provenance.manifest import UnsignedManifest, provenance_domain, sign_manifest
from deai.provenance.merkle import MerkleTree
from deai.provenance.records import AnchoredRecord, AnchorInfo, BatchListing
from deai.store import cid_of_bytes

CHAIN, ANCHORS = 31337, "0x" + "ab" * 20


def _record() -> AnchoredRecord:
    account = Account.from_key("0x" + "42" * 32)
    manifests = [
        sign_manifest(account, provenance_domain(CHAIN, ANCHORS), UnsignedManifest(
            output_cid=cid_of_bytes(f"out {i}".encode()), model_cid=cid_of_bytes(b"m"), kind="embed",
            receipt_sequence=i, provider=account.address, provider_did=did_pkh(account.address, CHAIN),
            chain_id=CHAIN, anchors=ANCHORS, runtime="onnx", created_at=1_800_000_000))
        for i in range(3)
    ]
    tree = MerkleTree(m.leaf() for m in manifests)
    anchor = AnchorInfo(chain_id=CHAIN, anchors=ANCHORS, provider=account.address, sequence=4,
                        root="0x" + tree.root.hex(), count=3, tx="0x" + "12" * 32, block=99,
                        batch=cid_of_bytes(b"listing"))
    return AnchoredRecord(manifest=manifests[1], manifest_cid=manifests[1].cid(),
                          proof=tree.proof(1).as_dict(), anchor=anchor)


def test_a_record_round_trips_and_its_proof_checks() -> None:
    record = _record()
    again = AnchoredRecord.from_json(record.to_json())
    assert again == record and again.cid() == record.cid()
    proof = again.merkle_proof()
    assert proof.verify() and proof.leaf == record.manifest.leaf()
    assert record.to_json().startswith(b'{"anchor":{')  # what locate() keys on


@pytest.mark.parametrize("change", [
    lambda d: d["proof"].update(leaf="0x12"),
    lambda d: d["anchor"].update(sequence=0),
    lambda d: d.update(schema="deai-anchored-manifest/9"),
    lambda d: d["manifest"].update(provider="nobody"),
    lambda d: d.pop("anchor"),
])
def test_malformed_records_are_manifest_errors(change: object) -> None:
    doc = json.loads(_record().to_json())
    change(doc)  # type: ignore[operator]
    with pytest.raises(ManifestError, match="not an anchored deai record"):
        AnchoredRecord.from_json(json.dumps(doc))


def test_a_listing_needs_one_leaf_per_manifest_and_output() -> None:
    record = _record()
    listing = BatchListing(provider=record.anchor.provider, chain_id=CHAIN, anchors=ANCHORS,
                           root=record.anchor.root, manifests=("a", "b"), outputs=("c", "d"),
                           leaves=("0x" + "00" * 32, "0x" + "11" * 32))
    assert BatchListing.from_json(listing.to_json()) == listing
    doc = json.loads(listing.to_json())
    doc["outputs"] = ["c"]
    with pytest.raises(ManifestError, match="one leaf per manifest"):
        BatchListing.from_json(json.dumps(doc).encode())
    with pytest.raises(ManifestError):
        BatchListing.from_json(b"[1, 2]")
