"""The provenance manifest of one output: what made it, from what, where and when, signed.

A manifest is a frozen pydantic model with one canonical JSON form (sorted keys, no
spaces, UTF-8), so its CID is stable and the same on every machine. The provider signs it
with EIP-712 typed data::

    DeaiManifest(string outputCid, string modelCid, bytes32 requestHash, string jobRef,
                 address provider, uint64 timestamp, bytes32 contentHash)
    domain: name "deai-provenance", version "1", chainId, verifyingContract = Anchors

``contentHash`` is keccak256 of the canonical JSON of every unsigned field, so the
signature covers all of them while a wallet still shows the ones people read (output,
model, job, provider, time). ``requestHash`` is keccak256 of :meth:`UnsignedManifest.request_bytes`
(kind, input CIDs and parameters): the ``prompt`` of an ERC-7007 token minted from this
output, which the ``AINFT`` contract re-hashes on chain.

:meth:`Manifest.leaf` is ``keccak256(digest ‖ signature)``, the 32 bytes that go into the
batch Merkle tree: anchoring the leaf anchors the exact signed manifest.

Signing and recovery use libsecp256k1 (coincurve) over a digest computed here, about ten
times faster than eth-account's EIP-712 encoder; ``tests/unit/provenance`` checks both give
the same signature and signer.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Literal

from coincurve import PrivateKey, PublicKey
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from eth_utils.address import is_address, to_canonical_address, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from deai.errors import InvalidCid, ManifestError, SignatureError, UnsupportedCid
from deai.identity.did import did_pkh
from deai.identity.signing import Eip712Domain
from deai.store import cid_of_bytes, parse_cid
from deai.units import Address, Cid

PROVENANCE_DOMAIN_NAME = "deai-provenance"
PROVENANCE_DOMAIN_VERSION = "1"
MANIFEST_SCHEMA: Literal["deai-manifest/1"] = "deai-manifest/1"
MANIFEST_PRIMARY_TYPE = "DeaiManifest"
MANIFEST_TYPES: dict[str, list[dict[str, str]]] = {
    "DeaiManifest": [
        {"name": "outputCid", "type": "string"},
        {"name": "modelCid", "type": "string"},
        {"name": "requestHash", "type": "bytes32"},
        {"name": "jobRef", "type": "string"},
        {"name": "provider", "type": "address"},
        {"name": "timestamp", "type": "uint64"},
        {"name": "contentHash", "type": "bytes32"},
    ]
}
MAX_MANIFEST_BYTES = 256 * 1024
"""A manifest is metadata; anything larger is refused before parsing."""

DOMAIN_TYPEHASH = keccak(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
MANIFEST_TYPEHASH = keccak(
    b"DeaiManifest(string outputCid,string modelCid,bytes32 requestHash,string jobRef,"
    b"address provider,uint64 timestamp,bytes32 contentHash)"
)
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: one byte string per value, on every machine."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def provenance_domain(chain_id: int, anchors_address: str) -> Eip712Domain:
    """The EIP-712 domain of manifests anchored in the ``Anchors`` contract at ``anchors_address``."""
    return Eip712Domain(
        PROVENANCE_DOMAIN_NAME, PROVENANCE_DOMAIN_VERSION, chain_id, anchors_address
    )


def domain_separator(domain: Eip712Domain) -> bytes:
    """``hashStruct(EIP712Domain)``; ``AINFT.domainSeparator()`` computes the same."""
    return keccak(
        DOMAIN_TYPEHASH
        + keccak(domain.name.encode())
        + keccak(domain.version.encode())
        + domain.chain_id.to_bytes(32, "big")
        + bytes(12)
        + to_canonical_address(domain.verifying_contract)
    )


def _check_cid(value: str, what: str) -> str:
    try:
        parse_cid(value)
    except (InvalidCid, UnsupportedCid) as exc:
        raise ValueError(f"{what} {value!r} is not a CID deai reads: {exc.message}") from None
    return value


class UnsignedManifest(BaseModel):
    """Everything a manifest says about an output, before the provider signs it.

    ``output_cid`` names the bytes the runtime produced. A copy of an image that carries
    this manifest as a C2PA credential is a *derived* file: its CID differs (the
    credential is inside it), and ``deai verify`` checks it by removing the credential and
    hashing what is left (docs/provenance.md).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_: Literal["deai-manifest/1"] = Field(default=MANIFEST_SCHEMA, alias="schema")
    output_cid: str
    output_name: str = Field(default="", max_length=200)
    content_type: str = Field(default="", max_length=200)
    model_cid: str
    model_name: str = Field(default="", max_length=200)
    model_parents: tuple[str, ...] = Field(default=(), max_length=16)
    """Lineage: the CIDs of the models and datasets the model was made from."""
    kind: str = Field(min_length=1, max_length=32)
    inputs: tuple[str, ...] = Field(default=(), max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)
    spec_cid: str | None = None
    job_id: int | None = Field(default=None, ge=0)
    receipt_sequence: int | None = Field(default=None, ge=0)
    result_hash: str | None = Field(default=None, pattern=r"^0x[0-9a-f]{64}$")
    """The result hash the provider commits on chain for the job (cross-checked by verify)."""
    provider: str
    provider_did: str
    chain_id: int = Field(gt=0)
    anchors: str
    """The Anchors contract: the EIP-712 verifying contract and where the batch root lives."""
    runtime: str = Field(min_length=1, max_length=100)
    runtime_version: str = Field(default="", max_length=200)
    created_at: int = Field(ge=0, lt=2**64)
    """Unix seconds when the provider produced the output."""
    verification: str = Field(default="sampled", max_length=64)
    """The verification mode the output was produced under (sampled, redundant(k), none, …)."""

    @field_validator("output_cid", "model_cid")
    @classmethod
    def _cid(cls, value: str) -> str:
        return _check_cid(value, "CID")

    @field_validator("model_parents", "inputs")
    @classmethod
    def _cids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_cid(v, "CID") for v in value)

    @field_validator("spec_cid")
    @classmethod
    def _spec(cls, value: str | None) -> str | None:
        return None if value is None else _check_cid(value, "spec CID")

    @field_validator("provider", "anchors")
    @classmethod
    def _address(cls, value: str) -> str:
        if not is_address(value):
            raise ValueError(f"{value!r} is not an EVM address")
        return to_checksum_address(value)

    @model_validator(mode="after")
    def _consistent(self) -> UnsignedManifest:
        if self.provider_did != did_pkh(self.provider, self.chain_id):
            raise ValueError(
                f"provider_did {self.provider_did!r} does not name {self.provider} on chain {self.chain_id}"
            )
        if self.job_id is not None and self.receipt_sequence is not None:
            raise ValueError("an output comes from a job or a fast-path receipt, not both")
        return self

    # --- derived values ----------------------------------------------------------------

    def body(self) -> dict[str, Any]:
        """The unsigned fields as JSON values (what ``contentHash`` covers)."""
        return self.model_dump(mode="json", by_alias=True, include=set(UnsignedManifest.model_fields))

    @property
    def job_ref(self) -> str:
        """``job:<id>``, ``receipt:<sequence>`` or empty: the one reference wallets show."""
        if self.job_id is not None:
            return f"job:{self.job_id}"
        if self.receipt_sequence is not None:
            return f"receipt:{self.receipt_sequence}"
        return ""

    def request_bytes(self) -> bytes:
        """What was asked: kind, inputs, parameters (the ERC-7007 ``prompt`` of this output)."""
        return canonical_json({"inputs": list(self.inputs), "kind": self.kind, "params": self.params})

    def content_hash(self) -> bytes:
        return keccak(canonical_json(self.body()))

    def struct_hash(self) -> bytes:
        return keccak(
            MANIFEST_TYPEHASH
            + keccak(self.output_cid.encode())
            + keccak(self.model_cid.encode())
            + keccak(self.request_bytes())
            + keccak(self.job_ref.encode())
            + bytes(12) + to_canonical_address(self.provider)
            + self.created_at.to_bytes(32, "big")
            + self.content_hash()
        )

    def domain(self) -> Eip712Domain:
        return provenance_domain(self.chain_id, self.anchors)

    def digest(self) -> bytes:
        """The 32 bytes the provider signs: ``keccak256(0x1901 ‖ domainSeparator ‖ structHash)``."""
        return keccak(b"\x19\x01" + domain_separator(self.domain()) + self.struct_hash())

    def message(self) -> dict[str, Any]:
        """The EIP-712 message, for ``deai.identity.signing`` and wallets."""
        return {
            "outputCid": self.output_cid,
            "modelCid": self.model_cid,
            "requestHash": keccak(self.request_bytes()),
            "jobRef": self.job_ref,
            "provider": self.provider,
            "timestamp": self.created_at,
            "contentHash": self.content_hash(),
        }

    @property
    def created(self) -> datetime:
        return datetime.fromtimestamp(self.created_at, UTC)


class Manifest(UnsignedManifest):
    """A signed manifest: the unsigned fields and the provider's EIP-712 signature (0x hex)."""

    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")

    @cached_property
    def _digest(self) -> bytes:
        # Frozen, so the digest (four keccaks over a JSON dump) is computed once per object.
        return super().digest()

    def digest(self) -> bytes:
        return self._digest

    def __eq__(self, other: object) -> bool:
        # By content: pydantic's own __eq__ would also compare the cached digest above.
        if not isinstance(other, Manifest):
            return NotImplemented
        return self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.to_json())

    @property
    def signature_bytes(self) -> bytes:
        return bytes.fromhex(self.signature[2:])

    def leaf(self) -> bytes:
        """The 32-byte Merkle leaf: ``keccak256(digest ‖ signature)``."""
        return keccak(self._digest + self.signature_bytes)

    def unsigned(self) -> UnsignedManifest:
        return UnsignedManifest.model_validate(self.body())

    @cached_property
    def _json(self) -> bytes:
        return canonical_json(self.model_dump(mode="json", by_alias=True))

    def to_json(self) -> bytes:
        """The canonical JSON bytes; their CID is the manifest's CID."""
        return self._json

    def cid(self) -> Cid:
        return cid_of_bytes(self._json)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return data

    @classmethod
    def from_json(cls, data: bytes | str) -> Manifest:
        """Parse a manifest, refusing anything malformed with a ``ManifestError``."""
        raw = data.encode() if isinstance(data, str) else data
        if len(raw) > MAX_MANIFEST_BYTES:
            raise ManifestError(f"a manifest is at most {MAX_MANIFEST_BYTES} bytes, got {len(raw)}")
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            raise ManifestError(f"not a deai manifest: {_first_error(exc)}") from None

    @classmethod
    def from_dict(cls, data: Any) -> Manifest:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ManifestError(f"not a deai manifest: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "manifest"
    return f"{where}: {error['msg']}"


def sign_manifest(account: LocalAccount, domain: Eip712Domain, unsigned: UnsignedManifest) -> Manifest:
    """The provider's signed manifest; ``domain`` must be the manifest's own (chain, Anchors)."""
    if account.address != unsigned.provider:
        raise SignatureError(
            f"the manifest names provider {unsigned.provider}, but the key is {account.address}",
            hint="sign with the provider's own key",
        )
    if (domain.chain_id, to_checksum_address(domain.verifying_contract)) != (unsigned.chain_id, unsigned.anchors):
        raise SignatureError(
            f"the domain is chain {domain.chain_id} / {domain.verifying_contract}, the manifest says "
            f"chain {unsigned.chain_id} / {unsigned.anchors}",
            hint="build the domain with provenance_domain(chain_id, anchors_address)",
        )
    if (domain.name, domain.version) != (PROVENANCE_DOMAIN_NAME, PROVENANCE_DOMAIN_VERSION):
        raise SignatureError(f"not the provenance domain: {domain.name!r} version {domain.version!r}")
    digest = keccak(b"\x19\x01" + domain_separator(domain) + unsigned.struct_hash())
    # `unsigned` is validated and the signature is ours: build without validating again
    # (a provider signs every output, so this is on its hot path).
    fields = {name: getattr(unsigned, name) for name in UnsignedManifest.model_fields}
    manifest = Manifest.model_construct(**fields, signature="0x" + sign_digest(account.key, digest).hex())
    manifest.__dict__["_digest"] = digest
    return manifest


def sign_digest(private_key: bytes, digest: bytes) -> bytes:
    """An Ethereum signature (r ‖ s ‖ v, v ∈ {27, 28}) of a 32-byte digest; low s, RFC 6979."""
    raw = PrivateKey(bytes(private_key)).sign_recoverable(digest, hasher=None)
    return raw[:64] + bytes([raw[64] + 27])


def recover_digest_signer(digest: bytes, signature: bytes) -> Address:
    """The checksummed address that signed ``digest``; SignatureError when it cannot be recovered."""
    if len(signature) != 65:
        raise SignatureError(f"a signature is 65 bytes, got {len(signature)}")
    v = signature[64]
    if v not in (27, 28):
        raise SignatureError(f"signature v must be 27 or 28, got {v}")
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")
    if not (0 < r < _SECP256K1_N and 0 < s < _SECP256K1_N):
        raise SignatureError("signature r or s is out of range")
    try:
        key = PublicKey.from_signature_and_message(signature[:64] + bytes([v - 27]), digest, hasher=None)
    except Exception as exc:  # libsecp256k1 raises plain Exceptions for unrecoverable input
        raise SignatureError(f"cannot recover a signer: {exc}") from None
    return Address(to_checksum_address(keccak(key.format(compressed=False)[1:])[-20:]))


def recover_manifest_signer(manifest: Manifest) -> Address:
    """The address whose key made ``manifest.signature`` under the manifest's own domain."""
    return recover_digest_signer(manifest.digest(), manifest.signature_bytes)
