"""What anchoring writes next to each manifest: the batch listing and the anchored record.

- ``BatchListing`` — one per anchored batch, stored by CID; its CID is the ``uri`` of the
  ``AnchorPosted`` event. It lists every manifest CID, output CID and leaf of the batch in
  tree order, so anyone holding it can find an output's manifest and rebuild its proof
  from the chain and a gateway alone, without the provider's help.
- ``AnchoredRecord`` — one per manifest, stored by CID: the signed manifest, its Merkle
  proof, and where the root is on chain (provider, sequence, transaction, block). With
  it, ``deai verify`` needs one chain read to check an output.

Both are canonical JSON (sorted keys, no spaces), so their CIDs are stable.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from deai.errors import ManifestError, MerkleError
from deai.provenance.manifest import MAX_MANIFEST_BYTES, Manifest, canonical_json
from deai.provenance.merkle import MerkleProof
from deai.store import cid_of_bytes
from deai.units import Cid

RECORD_SCHEMA: Literal["deai-anchored-manifest/1"] = "deai-anchored-manifest/1"
LISTING_SCHEMA: Literal["deai-manifest-batch/1"] = "deai-manifest-batch/1"
MAX_RECORD_BYTES = MAX_MANIFEST_BYTES + 64 * 1024
MAX_LISTING_BYTES = 64 * 2**20

_HEX32 = r"^0x[0-9a-f]{64}$"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AnchorInfo(_Frozen):
    """Where a batch root sits on chain."""

    chain_id: int
    anchors: str
    provider: str
    sequence: int = Field(gt=0)
    root: str = Field(pattern=_HEX32)
    count: int = Field(gt=0)
    tx: str = Field(pattern=_HEX32)
    block: int = Field(ge=0)
    batch: str
    """CID of the batch's ``BatchListing`` (also the event's ``uri``)."""


class DerivedFile(_Frozen):
    """A file made from the output after signing, e.g. the PNG that carries the C2PA credential."""

    cid: str
    relation: Literal["c2pa"] = "c2pa"


class AnchoredRecord(_Frozen):
    """A manifest with its inclusion proof and anchor: all ``deai verify`` needs besides the chain."""

    schema_: Literal["deai-anchored-manifest/1"] = Field(default=RECORD_SCHEMA, alias="schema")
    manifest: Manifest
    manifest_cid: str
    proof: dict[str, Any]
    anchor: AnchorInfo
    derived: tuple[DerivedFile, ...] = ()

    @field_validator("proof")
    @classmethod
    def _proof(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            MerkleProof.from_dict(value)
        except MerkleError as exc:  # not a ValueError, so pydantic would let it escape as is
            raise ValueError(exc.message) from None
        return value

    def merkle_proof(self) -> MerkleProof:
        return MerkleProof.from_dict(self.proof)

    def to_json(self) -> bytes:
        return canonical_json(self.model_dump(mode="json", by_alias=True))

    def cid(self) -> Cid:
        return cid_of_bytes(self.to_json())

    @classmethod
    def from_json(cls, data: bytes | str) -> AnchoredRecord:
        raw = data.encode() if isinstance(data, str) else data
        if len(raw) > MAX_RECORD_BYTES:
            raise ManifestError(f"an anchored record is at most {MAX_RECORD_BYTES} bytes, got {len(raw)}")
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"]) or "record"
            raise ManifestError(f"not an anchored deai record: {where}: {error['msg']}") from None


class BatchListing(_Frozen):
    """The manifests of one anchored batch, in leaf order."""

    schema_: Literal["deai-manifest-batch/1"] = Field(default=LISTING_SCHEMA, alias="schema")
    provider: str
    chain_id: int
    anchors: str
    root: str = Field(pattern=_HEX32)
    manifests: tuple[str, ...]
    outputs: tuple[str, ...]
    """The output CID each manifest names, so an output can be found from the chain alone."""
    leaves: tuple[str, ...]

    def to_json(self) -> bytes:
        return canonical_json(self.model_dump(mode="json", by_alias=True))

    @classmethod
    def from_json(cls, data: bytes) -> BatchListing:
        if len(data) > MAX_LISTING_BYTES:
            raise ManifestError(f"a batch listing is at most {MAX_LISTING_BYTES} bytes, got {len(data)}")
        try:
            listing = cls.model_validate_json(data)
        except ValidationError as exc:
            raise ManifestError(f"not a deai batch listing: {exc.errors()[0]['msg']}") from None
        if not listing.leaves or not len(listing.manifests) == len(listing.outputs) == len(listing.leaves):
            raise ManifestError("a batch listing needs one leaf per manifest, and at least one")
        return listing
