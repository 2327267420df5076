"""C2PA credentials on a small PNG: any reader accepts them, deai reads them back, tampering shows."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import c2pa
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from deai.errors import CredentialError, ManifestError
from deai.identity.did import did_pkh
from deai.provenance.credentials import (
    C2paReading,
    C2paSigner,
    check_binding,
    embed_c2pa,
    generate_c2pa_signer,
    has_c2pa,
    read_c2pa,
    strip_c2pa,
)
from deai.provenance.manifest import Manifest, UnsignedManifest, provenance_domain, sign_manifest
from deai.store import cid_of_bytes

CHAIN, ANCHORS = 31337, "0x" + "ab" * 20


def png(width: int = 8, height: int = 8) -> bytes:
    rows = b"".join(b"\x00" + bytes((x * 31 + y * 17) % 256 for x in range(width)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def provider() -> LocalAccount:
    return Account.from_key("0x" + "42" * 32)


@pytest.fixture(scope="module")
def signer(provider: LocalAccount) -> C2paSigner:
    return generate_c2pa_signer(provider, provenance_domain(CHAIN, ANCHORS))


def manifest_for(account: LocalAccount, image: bytes) -> Manifest:
    unsigned = UnsignedManifest(
        output_cid=cid_of_bytes(image), output_name="seven.png", content_type="image/png",
        model_cid=cid_of_bytes(b"imagegen"), model_name="imagegen", kind="image", job_id=5,
        provider=account.address, provider_did=did_pkh(account.address, CHAIN), chain_id=CHAIN,
        anchors=ANCHORS, runtime="torch", created_at=1_800_000_000,
    )
    return sign_manifest(account, provenance_domain(CHAIN, ANCHORS), unsigned)


def test_an_embedded_credential_is_valid_for_any_reader_and_carries_the_manifest(
    provider: LocalAccount, signer: C2paSigner,
) -> None:
    image = png()
    manifest = manifest_for(provider, image)
    signed = embed_c2pa(image, manifest, signer)
    assert has_c2pa(signed) and not has_c2pa(image)
    assert strip_c2pa(signed) == image  # the rule verify relies on
    with c2pa.Reader("image/png", io.BytesIO(signed)) as reader:
        assert reader.get_validation_state() == "Valid"
        failures = reader.get_validation_results()["activeManifest"].get("failure", [])
        assert [f["code"] for f in failures] == ["signingCredential.untrusted"]
    reading = read_c2pa(signed)
    assert reading is not None and reading.valid and reading.ai_generated
    assert reading.manifest() == manifest
    assert reading.assertion is not None and reading.assertion["manifest_cid"] == manifest.cid()
    assert reading.assertion["model_cid"] == manifest.model_cid and reading.assertion["job_id"] == 5
    assert provider.address in reading.signer_name
    assert check_binding(signed, reading, manifest)[0]
    # with the provider's CA as the only trust anchor the same file is Trusted
    trusted = read_c2pa(signed, trust_anchors=(signer.ca_pem or b"").decode())
    assert trusted is not None and trusted.state == "Trusted"


def test_a_changed_pixel_chunk_breaks_the_credential(provider: LocalAccount, signer: C2paSigner) -> None:
    image = png()
    signed = bytearray(embed_c2pa(image, manifest_for(provider, image), signer))
    signed[-20] ^= 1
    reading = read_c2pa(bytes(signed))
    assert reading is not None and not reading.valid and "assertion.dataHash.mismatch" in reading.failures
    assert strip_c2pa(bytes(signed)) != image


def test_another_keys_ca_does_not_bind_to_the_provider(provider: LocalAccount, signer: C2paSigner) -> None:
    stranger = Account.from_key("0x" + "44" * 32)
    stranger_signer = generate_c2pa_signer(stranger, provenance_domain(CHAIN, ANCHORS))
    image = png()
    manifest = manifest_for(provider, image)
    with pytest.raises(CredentialError, match="belongs to"):
        embed_c2pa(image, manifest, stranger_signer)
    # a credential re-made by someone else with the provider's CA and binding copied in
    forged = C2paSigner(stranger_signer.chain_pem, stranger_signer.key_pem, signer.ca_pem, signer.binding)
    copied = embed_c2pa(image, manifest, forged)
    reading = read_c2pa(copied)
    assert reading is not None and reading.valid
    ok, detail = check_binding(copied, reading, manifest)
    assert not ok and "not made under the provider's bound CA" in detail


def test_refusals_and_absences(provider: LocalAccount, signer: C2paSigner, tmp_path: Path) -> None:
    image = png()
    manifest = manifest_for(provider, image)
    with pytest.raises(CredentialError, match="not a PNG"):
        embed_c2pa(b"GIF89a...", manifest, signer)
    with pytest.raises(CredentialError, match="already carries"):
        embed_c2pa(embed_c2pa(image, manifest, signer), manifest, signer)
    with pytest.raises(CredentialError, match="truncated"):
        strip_c2pa(image[:-5])
    assert read_c2pa(image) is None
    with pytest.raises(ManifestError, match="no deai manifest"):
        C2paReading("Valid", (), None, (), "", "").manifest()
    signer.save(tmp_path / "c2pa")
    assert C2paSigner.load(tmp_path / "c2pa") == signer
    assert (tmp_path / "c2pa" / "c2pa-key.pem").stat().st_mode & 0o077 == 0
    with pytest.raises(CredentialError, match="no usable C2PA credential"):
        C2paSigner.load(tmp_path / "missing")
    again = C2paSigner.load_or_create(tmp_path / "c2pa", provider, provenance_domain(CHAIN, ANCHORS))
    assert again == signer
