"""C2PA content credentials for image outputs (c2pa-python), tied to the provider's key.

``embed_c2pa(png, manifest, signer)`` returns a copy of the PNG carrying a C2PA manifest
with two assertions:

- ``c2pa.actions``: one ``c2pa.created`` action, ``digitalSourceType`` =
  IPTC ``trainedAlgorithmicMedia``, software agent = the model and runtime;
- ``org.deai.provenance``: the deai manifest's CID, model CID, job id, output CID and
  provider, the whole signed deai manifest, and the credential binding (below).

Any C2PA reader reports the credential as valid; with a private CA it adds
``signingCredential.untrusted`` (the reader does not know the CA), which is expected.

**Which CID.** The deai manifest names the bytes the runtime produced (``output_cid``).
The credential is a PNG chunk (``caBX``) inserted after ``IHDR``, and every other byte is
left as it was, so :func:`strip_c2pa` gives back the original bytes exactly: ``deai
verify`` checks a credentialed file by hashing it with the credential removed. The
credentialed copy is a *derived* file whose CID the provenance log also indexes.

**The certificate chain** (:func:`generate_c2pa_signer`): C2PA signs with X.509
certificates, not Ethereum keys, so the provider makes a small P-256 CA and an ES256 leaf
for itself, and *binds* the CA to its Ethereum key with an EIP-712 signature over the
CA certificate's keccak256 hash (``DeaiC2paCredential`` in the provenance domain). The
binding and the CA travel in the deai assertion; ``deai verify`` checks the binding
recovers to the manifest's provider and re-reads the file with that CA as the only
trust anchor: the C2PA signature must then validate as ``Trusted``. An operator with a
certificate from a CA on the C2PA trust list uses :meth:`C2paSigner.from_pem_files`
instead (docs/provenance.md).
"""

from __future__ import annotations

import datetime
import io
import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak

from deai import __version__ as deai_version
from deai.errors import CredentialError, ManifestError, SignatureError
from deai.identity.did import did_pkh
from deai.identity.signing import Eip712Domain, recover_typed, sign_typed
from deai.provenance.manifest import Manifest

DEAI_ASSERTION = "org.deai.provenance"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
C2PA_PNG_CHUNK = b"caBX"
UNTRUSTED = "signingCredential.untrusted"
BINDING_PRIMARY_TYPE = "DeaiC2paCredential"
BINDING_TYPES: dict[str, list[dict[str, str]]] = {
    "DeaiC2paCredential": [
        {"name": "caCertHash", "type": "bytes32"},
        {"name": "provider", "type": "address"},
    ]
}
_SIGNER_FILES = ("c2pa-chain.pem", "c2pa-key.pem", "c2pa-binding.json")

# No thumbnail: a deai image is small and its thumbnail would be ten times its size.
_BUILD_SETTINGS = {"builder": {"thumbnail": {"enabled": False}}}


@dataclass(frozen=True)
class C2paSigner:
    """An ES256 signing credential: the PEM chain (leaf first), its key, and the provider binding."""

    chain_pem: bytes
    key_pem: bytes
    ca_pem: bytes | None = None
    """The provider's own CA (None for a certificate from a public CA)."""
    binding: str | None = None
    """0x EIP-712 signature by the provider over the CA's hash (see the module docstring)."""
    provider: str | None = None
    alg: str = "es256"
    tsa_url: str | None = None
    """An RFC 3161 timestamp authority (a network call per signature); None signs offline."""

    @classmethod
    def from_pem_files(cls, chain: Path, key: Path, *, alg: str = "es256", tsa_url: str | None = None) -> C2paSigner:
        """An operator's certificate chain and key (e.g. from a CA on the C2PA trust list)."""
        try:
            return cls(chain.read_bytes(), key.read_bytes(), alg=alg, tsa_url=tsa_url)
        except OSError as exc:
            raise CredentialError(f"cannot read the certificate files: {exc}") from None

    def save(self, folder: Path) -> None:
        """Write the chain, key (mode 0600) and binding under ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        chain, key, binding = (folder / name for name in _SIGNER_FILES)
        chain.write_bytes(self.chain_pem)
        key.touch(mode=0o600, exist_ok=True)
        key.write_bytes(self.key_pem)
        binding.write_text(json.dumps({
            "ca_pem": self.ca_pem.decode() if self.ca_pem else None, "binding": self.binding,
            "provider": self.provider, "alg": self.alg, "tsa_url": self.tsa_url,
        }))

    @classmethod
    def load(cls, folder: Path) -> C2paSigner:
        chain, key, binding = (folder / name for name in _SIGNER_FILES)
        try:
            meta: dict[str, Any] = json.loads(binding.read_text())
            return cls(chain.read_bytes(), key.read_bytes(),
                       meta["ca_pem"].encode() if meta.get("ca_pem") else None,
                       meta.get("binding"), meta.get("provider"), str(meta.get("alg", "es256")),
                       meta.get("tsa_url"))
        except (OSError, ValueError, KeyError) as exc:
            raise CredentialError(f"no usable C2PA credential in {folder}: {exc}") from None

    @classmethod
    def load_or_create(cls, folder: Path, account: LocalAccount, domain: Eip712Domain) -> C2paSigner:
        """The provider's credential under ``folder``, made once on first use."""
        if (folder / _SIGNER_FILES[0]).is_file():
            return cls.load(folder)
        signer = generate_c2pa_signer(account, domain)
        signer.save(folder)
        return signer

    def _native(self) -> c2pa.Signer:
        try:
            info = c2pa.C2paSignerInfo(self.alg.encode(), self.chain_pem, self.key_pem, self.tsa_url)
            return c2pa.Signer.from_info(info)
        except (c2pa.C2paError, ValueError, TypeError) as exc:
            raise CredentialError(f"the C2PA signing credential is not usable: {exc}") from None


def _name(common: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "deai provider"),
    ])


def _key_usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
        encipher_only=False, decipher_only=False,
    )


def ca_cert_hash(ca_pem: bytes) -> bytes:
    """keccak256 of the CA certificate's DER bytes: what the provider's binding signs."""
    try:
        der = x509.load_pem_x509_certificate(ca_pem).public_bytes(serialization.Encoding.DER)
    except ValueError as exc:
        raise CredentialError(f"not a PEM certificate: {exc}") from None
    return keccak(der)


def generate_c2pa_signer(
    account: LocalAccount, domain: Eip712Domain, *, days: int = 825
) -> C2paSigner:
    """A fresh P-256 CA and ES256 leaf for ``account``, the CA bound to its Ethereum key.

    The leaf has the extensions C2PA asks of a signing certificate: not a CA, digital
    signature key usage, the emailProtection extended key usage, and a subject naming the
    provider (its did:pkh is in the subject alternative name).
    """
    now = datetime.datetime.now(datetime.UTC)
    did = did_pkh(account.address, domain.chain_id)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"deai provider CA {account.address}")
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days + 30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(sign=False, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder().subject_name(_name(f"deai provider {account.address}"))
        .issuer_name(ca_name).public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign=True, ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(did)]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    binding = sign_typed(account, domain, BINDING_TYPES, BINDING_PRIMARY_TYPE,
                         {"caCertHash": ca_cert_hash(ca_pem), "provider": account.address})
    return C2paSigner(
        chain_pem=leaf.public_bytes(serialization.Encoding.PEM) + ca_pem,
        key_pem=leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()),
        ca_pem=ca_pem, binding="0x" + binding.hex(), provider=account.address,
    )


# --- PNG chunks ---------------------------------------------------------------------------


def _png_chunks(data: bytes, *, check_crc: bool = False) -> list[tuple[bytes, int, int]]:
    """(type, start, end) of every chunk; CredentialError when ``data`` is not a whole PNG.

    Checksums are checked only on request: a file changed in one pixel chunk must still
    show its credential, so that verify can say the bytes changed rather than find nothing.
    """
    if not data.startswith(PNG_SIGNATURE):
        raise CredentialError("not a PNG file", hint="C2PA credentials are embedded in PNG outputs")
    out: list[tuple[bytes, int, int]] = []
    pos = len(PNG_SIGNATURE)
    while pos < len(data):
        if pos + 12 > len(data):
            raise CredentialError("the PNG is truncated")
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        end = pos + 12 + length
        if end > len(data):
            raise CredentialError("the PNG is truncated")
        kind = data[pos + 4:pos + 8]
        if check_crc and zlib.crc32(data[pos + 4:end - 4]) != struct.unpack(">I", data[end - 4:end])[0]:
            raise CredentialError(f"the PNG chunk {kind!r} has a bad checksum")
        out.append((kind, pos, end))
        pos = end
        if kind == b"IEND":
            break
    return out


def has_c2pa(data: bytes) -> bool:
    """Whether ``data`` is a PNG with a C2PA chunk (cheap: no signature check)."""
    try:
        return any(kind == C2PA_PNG_CHUNK for kind, _, _ in _png_chunks(data))
    except CredentialError:
        return False


def strip_c2pa(data: bytes) -> bytes:
    """The PNG without its C2PA chunk(s): the bytes the runtime produced."""
    chunks = _png_chunks(data)
    return PNG_SIGNATURE + b"".join(data[s:e] for kind, s, e in chunks if kind != C2PA_PNG_CHUNK)


# --- embedding and reading -----------------------------------------------------------------


def _assertion(manifest: Manifest, signer: C2paSigner) -> dict[str, Any]:
    data: dict[str, Any] = {
        "manifest_cid": manifest.cid(),
        "model_cid": manifest.model_cid,
        "output_cid": manifest.output_cid,
        "job_id": manifest.job_id,
        "receipt_sequence": manifest.receipt_sequence,
        "provider": manifest.provider,
        "manifest": manifest.as_dict(),
    }
    if signer.ca_pem is not None and signer.binding is not None:
        data["credential"] = {"ca_pem": signer.ca_pem.decode(), "binding": signer.binding}
    return data


def embed_c2pa(png_bytes: bytes, manifest: Manifest, signer: C2paSigner) -> bytes:
    """A copy of ``png_bytes`` carrying ``manifest`` as a C2PA content credential."""
    if has_c2pa(png_bytes):
        raise CredentialError("the PNG already carries a C2PA credential",
                              hint="embed into the runtime's output, not into a credentialed copy")
    _png_chunks(png_bytes, check_crc=True)  # a whole, well-formed PNG, or CredentialError
    if signer.provider is not None and signer.provider != manifest.provider:
        raise CredentialError(
            f"the credential belongs to {signer.provider}, the manifest to {manifest.provider}",
            hint="each provider signs with its own C2PA credential",
        )
    agent = {"name": f"deai {manifest.model_name or manifest.model_cid}",
             "version": f"{manifest.runtime} {manifest.runtime_version}".strip()}
    definition = {
        "claim_generator_info": [{"name": "deai", "version": deai_version}],
        "title": manifest.output_name or "output.png",
        "format": "image/png",
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [{
                "action": "c2pa.created",
                "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                "softwareAgent": agent,
            }]}},
            {"label": DEAI_ASSERTION, "data": _assertion(manifest, signer)},
        ],
    }
    try:
        context = c2pa.Context(settings=c2pa.Settings.from_dict(_BUILD_SETTINGS))
        with signer._native() as native, c2pa.Builder(definition, context=context) as builder:
            out = io.BytesIO()
            builder.sign(native, "image/png", io.BytesIO(png_bytes), out)
    except c2pa.C2paError as exc:
        raise CredentialError(f"C2PA signing failed: {exc}") from None
    signed = out.getvalue()
    if strip_c2pa(signed) != png_bytes:  # the rule deai verify relies on; never ship without it
        raise CredentialError("the C2PA library changed the image bytes outside its own chunk")
    return signed


@dataclass(frozen=True)
class C2paReading:
    """What a C2PA reader says about a file, and the deai assertion inside it."""

    state: str
    """``Valid``, ``Trusted`` or ``Invalid``, as the C2PA reader reports it."""
    failures: tuple[str, ...]
    assertion: dict[str, Any] | None
    actions: tuple[dict[str, Any], ...]
    signer_name: str
    issuer: str

    @property
    def valid(self) -> bool:
        """Valid for any C2PA reader: every failure is only the private CA being unknown."""
        return self.state in ("Valid", "Trusted") and all(f == UNTRUSTED for f in self.failures)

    @property
    def ai_generated(self) -> bool:
        return any(a.get("digitalSourceType") == TRAINED_ALGORITHMIC_MEDIA for a in self.actions)

    def manifest(self) -> Manifest:
        """The deai manifest carried in the credential; ManifestError when absent or malformed."""
        if self.assertion is None or "manifest" not in self.assertion:
            raise ManifestError("the C2PA credential has no deai manifest")
        return Manifest.from_dict(self.assertion["manifest"])


def read_c2pa(data: bytes, *, trust_anchors: str | None = None) -> C2paReading | None:
    """Read a file's C2PA credential (None when it has none); never raises on a damaged one."""
    fmt = "image/png" if data.startswith(PNG_SIGNATURE) else "image/jpeg"
    try:
        settings: dict[str, Any] = {"trust": {"trust_anchors": trust_anchors}} if trust_anchors else {}
        context = c2pa.Context(settings=c2pa.Settings.from_dict(settings)) if settings else None
        reader = c2pa.Reader.try_create(fmt, io.BytesIO(data), context=context)
    except c2pa.C2paError as exc:
        # A credential whose own structure is damaged: the reader refuses it outright.
        return C2paReading("Invalid", (f"unreadable: {exc}",), None, (), "", "")
    if reader is None:
        return None
    with reader:
        state = str(reader.get_validation_state() or "Invalid")
        results = reader.get_validation_results() or {}
        active = reader.get_active_manifest() or {}
    failures = tuple(str(f.get("code", "")) for f in results.get("activeManifest", {}).get("failure", []))
    assertion: dict[str, Any] | None = None
    actions: list[dict[str, Any]] = []
    for item in active.get("assertions", []):
        label = str(item.get("label", ""))
        if label == DEAI_ASSERTION:
            assertion = dict(item.get("data") or {})
        elif label.startswith("c2pa.actions"):
            actions.extend(item.get("data", {}).get("actions", []))
    info = active.get("signature_info") or {}
    return C2paReading(state, failures, assertion, tuple(actions),
                       str(info.get("common_name", "")), str(info.get("issuer", "")))


def check_binding(data: bytes, reading: C2paReading, manifest: Manifest) -> tuple[bool, str]:
    """Whether the C2PA signer's CA is the one ``manifest.provider`` bound to its key."""
    credential = (reading.assertion or {}).get("credential")
    if not isinstance(credential, dict) or "ca_pem" not in credential or "binding" not in credential:
        return False, "the credential names no provider-bound CA (an operator certificate?)"
    try:
        ca_pem = str(credential["ca_pem"])
        signer = recover_typed(
            manifest.domain(), BINDING_TYPES, BINDING_PRIMARY_TYPE,
            {"caCertHash": ca_cert_hash(ca_pem.encode()), "provider": manifest.provider},
            bytes.fromhex(str(credential["binding"]).removeprefix("0x")),
        )
    except (CredentialError, SignatureError, ValueError) as exc:
        return False, f"the CA binding is unreadable: {exc}"
    if signer != manifest.provider:
        return False, f"the CA binding is signed by {signer}, not the provider {manifest.provider}"
    trusted = read_c2pa(data, trust_anchors=ca_pem)
    if trusted is None or trusted.state != "Trusted":
        return False, "the C2PA signature was not made under the provider's bound CA"
    return True, f"signed under {manifest.provider}'s own CA ({reading.signer_name})"
