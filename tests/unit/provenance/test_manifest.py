"""Manifests: canonical JSON, EIP-712 signatures equal to eth-account's, leaves, refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak

import deai.provenance as provenance
from deai.errors import ManifestError, SignatureError
from deai.identity.did import did_pkh
from deai.identity.signing import recover_typed, sign_typed
from deai.provenance.manifest import (
    MANIFEST_PRIMARY_TYPE,
    MANIFEST_TYPES,
    Manifest,
    UnsignedManifest,
    canonical_json,
    domain_separator,
    provenance_domain,
    recover_digest_signer,
    recover_manifest_signer,
    sign_manifest,
)
from deai.store import cid_of_bytes

CHAIN = 31337
ANCHORS = "0x" + "ab" * 20


@pytest.fixture(scope="module")
def provider() -> LocalAccount:
    return Account.from_key("0x" + "42" * 32)


def unsigned_for(account: LocalAccount, **changes: Any) -> UnsignedManifest:
    fields: dict[str, Any] = {
        "output_cid": cid_of_bytes(b"a png"), "output_name": "image.png", "content_type": "image/png",
        "model_cid": cid_of_bytes(b"the model"), "model_name": "imagegen",
        "model_parents": (cid_of_bytes(b"digits-train"),), "kind": "image",
        "inputs": (cid_of_bytes(b'{"label": 7}'),), "params": {"seed": 3, "count": 1},
        "job_id": 12, "result_hash": "0x" + "11" * 32, "provider": account.address,
        "provider_did": did_pkh(account.address, CHAIN), "chain_id": CHAIN, "anchors": ANCHORS,
        "runtime": "torch", "runtime_version": "torch 2.13.0", "created_at": 1_800_000_000,
    }
    fields.update(changes)
    return UnsignedManifest.model_validate(fields)


def test_the_signature_is_the_eip712_signature_a_wallet_makes(provider: LocalAccount) -> None:
    unsigned = unsigned_for(provider)
    domain = provenance_domain(CHAIN, ANCHORS)
    manifest = sign_manifest(provider, domain, unsigned)
    reference = sign_typed(provider, domain, MANIFEST_TYPES, MANIFEST_PRIMARY_TYPE, unsigned.message())
    assert manifest.signature_bytes == reference
    assert recover_manifest_signer(manifest) == provider.address
    assert recover_typed(domain, MANIFEST_TYPES, MANIFEST_PRIMARY_TYPE, unsigned.message(),
                         manifest.signature_bytes) == provider.address
    assert len(domain_separator(domain)) == 32 and manifest.digest() == unsigned.digest()


def test_canonical_json_round_trips_to_the_same_cid_and_leaf(provider: LocalAccount) -> None:
    manifest = sign_manifest(provider, provenance_domain(CHAIN, ANCHORS), unsigned_for(provider))
    data = manifest.to_json()
    assert data == canonical_json(json.loads(data)) and b", " not in data and b": " not in data
    again = Manifest.from_json(data)
    assert again == manifest and again.cid() == manifest.cid() and again.leaf() == manifest.leaf()
    assert manifest.leaf() == keccak(manifest.digest() + manifest.signature_bytes)
    assert json.loads(data)["schema"] == "deai-manifest/1"
    assert manifest.unsigned() == unsigned_for(provider)
    assert manifest.job_ref == "job:12" and unsigned_for(provider, job_id=None, receipt_sequence=4).job_ref == "receipt:4"
    assert json.loads(manifest.request_bytes()) == {"inputs": list(manifest.inputs), "kind": "image",
                                                    "params": {"count": 1, "seed": 3}}


@pytest.mark.parametrize("field,value", [
    ("output_cid", cid_of_bytes(b"another png")), ("model_cid", cid_of_bytes(b"another model")),
    ("model_parents", ()), ("params", {"seed": 4, "count": 1}), ("job_id", 13), ("created_at", 1_800_000_001),
    ("verification", "none"), ("runtime_version", "torch 2.13.1"),
])
def test_every_field_is_covered_by_the_signature(provider: LocalAccount, field: str, value: Any) -> None:
    manifest = sign_manifest(provider, provenance_domain(CHAIN, ANCHORS), unsigned_for(provider))
    changed = Manifest.model_validate({**manifest.as_dict(), field: value})
    assert changed.leaf() != manifest.leaf()
    assert recover_manifest_signer(changed) != provider.address


def test_another_chain_or_anchors_contract_gives_another_signer(provider: LocalAccount) -> None:
    manifest = sign_manifest(provider, provenance_domain(CHAIN, ANCHORS), unsigned_for(provider))
    for changes in ({"chain_id": 1, "provider_did": did_pkh(provider.address, 1)}, {"anchors": "0x" + "cd" * 20}):
        moved = Manifest.model_validate({**manifest.as_dict(), **changes})
        assert recover_manifest_signer(moved) != provider.address


def test_signing_refuses_the_wrong_key_or_domain(provider: LocalAccount) -> None:
    other = Account.from_key("0x" + "43" * 32)
    with pytest.raises(SignatureError, match="the key is"):
        sign_manifest(other, provenance_domain(CHAIN, ANCHORS), unsigned_for(provider))
    with pytest.raises(SignatureError, match="the domain is"):
        sign_manifest(provider, provenance_domain(1, ANCHORS), unsigned_for(provider))


@pytest.mark.parametrize("changes,message", [
    ({"output_cid": "not-a-cid"}, "output_cid"),
    ({"inputs": ("bafy-nope",)}, "inputs"),
    ({"provider": "0x1234"}, "provider"),
    ({"provider_did": "did:pkh:eip155:1:0x0000000000000000000000000000000000000000"}, "provider_did"),
    ({"receipt_sequence": 3}, "not both"),
    ({"result_hash": "0x1234"}, "result_hash"),
    ({"kind": ""}, "kind"),
])
def test_malformed_manifests_are_refused_with_the_field(provider: LocalAccount, changes: dict[str, Any],
                                                        message: str) -> None:
    manifest = sign_manifest(provider, provenance_domain(CHAIN, ANCHORS), unsigned_for(provider))
    with pytest.raises(ManifestError, match=message):
        Manifest.from_json(json.dumps({**manifest.as_dict(), **changes}))


def test_garbage_and_oversized_input_is_a_manifest_error() -> None:
    for data in (b"", b"{", b"[]", b'{"schema": "deai-manifest/2"}', b"\xff\xfe"):
        with pytest.raises(ManifestError):
            Manifest.from_json(data)
    with pytest.raises(ManifestError, match="at most"):
        Manifest.from_json(b" " * (300 * 1024))


def test_bad_signatures_do_not_recover(provider: LocalAccount) -> None:
    digest = keccak(b"x")
    for signature in (b"", b"\x00" * 65, b"\x01" * 64 + b"\x05", b"\xff" * 64 + b"\x1b"):
        with pytest.raises(SignatureError):
            recover_digest_signer(digest, signature)


def test_the_public_surface_is_what_all_names() -> None:
    assert sorted(provenance.__all__) == sorted(provenance._LAZY)
    for name in provenance.__all__:
        assert getattr(provenance, name) is not None
