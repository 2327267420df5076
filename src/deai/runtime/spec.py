"""The workload spec: what a job asks a provider to run, as a versioned pydantic model.

A spec is stored by CID, so its bytes must be stable: :func:`canonical_json` writes sorted
keys, no whitespace, UTF-8, and leaves out unset optional fields (``None``), and parsing
those bytes back and writing them again gives the same bytes. Anything malformed or too
large raises :class:`~deai.errors.SpecError` with the field and what to change.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from deai.errors import SpecError

SPEC_VERSION = 1

WorkloadKind = Literal["classify", "embed", "generate", "image", "finetune", "train", "evaluate"]
WORKLOAD_KINDS: tuple[str, ...] = (
    "classify", "embed", "generate", "image", "finetune", "train", "evaluate"
)
#: Kinds that run a model forward only; the others run PyTorch training or evaluation.
INFERENCE_KINDS = frozenset({"classify", "embed", "generate", "image"})
TRAINING_KINDS = frozenset({"finetune", "train"})

VerificationModeName = Literal["sampled", "redundant", "rescore", "zk", "none"]

# Limits: a spec is a small document that travels in HTTP bodies and is hashed on chain;
# the data lives behind input CIDs.
MAX_SPEC_BYTES = 64 * 1024
MAX_INPUTS = 16
MAX_TOKENS = 4096
MAX_EPOCHS = 1000
MAX_IMAGES = 64

# CIDv1 in base32 (``b`` + lowercase base32) or CIDv0 (``Qm`` + 44 base58 characters).
# A shape check only: the store decides whether the CID is valid and known.
_CID_RE = re.compile(r"^(b[a-z2-7]{20,200}|Qm[1-9A-HJ-NP-Za-km-z]{44})$")


def check_cid(value: str) -> str:
    if not _CID_RE.match(value):
        raise ValueError(f"{value[:80]!r} is not a CID (expected bafy…/bafk… or Qm…)")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Params(_Strict):
    """Run parameters. Every kind reads the ones it needs and ignores the rest."""

    seed: int = Field(default=0, ge=0, lt=2**63, description="Seed for sampling, noise and data order.")
    temperature: float = Field(default=1.0, ge=0.0, le=10.0, description="0 means greedy decoding.")
    top_k: int | None = Field(default=None, ge=1, le=100_000, description="Sample among the k most likely tokens.")
    max_tokens: int = Field(default=64, ge=1, le=MAX_TOKENS, description="Tokens to generate.")
    label: int | None = Field(default=None, ge=0, le=1_000_000, description="Class to draw (image).")
    count: int = Field(default=1, ge=1, le=MAX_IMAGES, description="Images to draw (image).")
    epochs: int = Field(default=1, ge=1, le=MAX_EPOCHS)
    learning_rate: float = Field(default=1e-3, gt=0.0, le=10.0)
    batch_size: int = Field(default=32, ge=1, le=65_536)
    checkpoint_every: int = Field(default=50, ge=1, le=10_000_000, description="Checkpoint every K steps.")
    max_steps: int | None = Field(default=None, ge=1, le=100_000_000, description="Stop training after this many steps.")

    @field_validator("temperature", "learning_rate")
    @classmethod
    def _finite(cls, value: float) -> float:
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("must be a finite number")
        return value


class Resources(_Strict):
    """What the job needs from a provider; the market matches bids on it."""

    cpus: int = Field(default=1, ge=1, le=1024)
    gpus: int = Field(default=0, ge=0, le=64)
    memory_mb: int = Field(default=1024, ge=64, le=4 * 1024 * 1024)
    max_seconds: int = Field(default=600, ge=1, le=7 * 24 * 3600, description="Wall-clock limit of the run.")


class Verification(_Strict):
    """How the result will be checked (see docs/runtime.md and deai.verify)."""

    mode: VerificationModeName = "sampled"
    sample_rate: float | None = Field(
        default=None, gt=0.0, le=1.0, description="The fraction checked, for `sampled` and `rescore`."
    )
    replicas: int | None = Field(default=None, ge=2, le=64, description="k for `redundant`.")

    @model_validator(mode="after")
    def _fits_mode(self) -> Verification:
        if self.replicas is not None and self.mode != "redundant":
            raise ValueError("replicas applies to mode 'redundant' only")
        if self.sample_rate is not None and self.mode not in ("sampled", "rescore"):
            raise ValueError("sample_rate applies to modes 'sampled' and 'rescore' only")
        return self


class WorkloadSpec(_Strict):
    """One unit of AI work: a model, its inputs, parameters, resources and verification."""

    spec_version: Literal[1] = 1
    kind: WorkloadKind
    model: str = Field(description="CID of the model artifact (a UnixFS directory).")
    inputs: tuple[str, ...] = Field(
        default=(), max_length=MAX_INPUTS,
        description="Input CIDs: a file for inference; a dataset directory for training and evaluation.",
    )
    params: Params = Field(default_factory=Params)
    resources: Resources = Field(default_factory=Resources)
    verification: Verification = Field(default_factory=Verification)

    @field_validator("model")
    @classmethod
    def _model_cid(cls, value: str) -> str:
        return check_cid(value)

    @field_validator("inputs")
    @classmethod
    def _input_cids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(check_cid(v) for v in value)

    @model_validator(mode="after")
    def _inputs_fit_kind(self) -> WorkloadSpec:
        # `image` draws from a label and a seed, so it may have no input file.
        if self.kind != "image" and not self.inputs:
            raise ValueError(f"a {self.kind!r} workload needs at least one input CID")
        if self.kind in TRAINING_KINDS | {"evaluate"} and len(self.inputs) != 1:
            raise ValueError(f"a {self.kind!r} workload takes exactly one dataset CID as input")
        if self.verification.mode == "rescore" and self.kind != "generate":
            raise ValueError("verification mode 'rescore' applies to 'generate' workloads only")
        return self

    # --- bytes ---------------------------------------------------------------------------

    def canonical_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json", exclude_none=True))

    @classmethod
    def parse(cls, data: bytes | str | dict[str, Any]) -> WorkloadSpec:
        """Parse and validate a spec from JSON bytes, a JSON string or a dict."""
        if isinstance(data, (bytes, str)):
            size = len(data.encode() if isinstance(data, str) else data)
            if size > MAX_SPEC_BYTES:
                raise SpecError(
                    f"workload spec is {size} bytes, over the {MAX_SPEC_BYTES}-byte limit",
                    hint="put data behind input CIDs; the spec holds only CIDs and parameters",
                )
            try:
                data = json.loads(data)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise SpecError(f"workload spec is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise SpecError("workload spec must be a JSON object")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise spec_error_from(exc) from None


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the byte form that is hashed and stored."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def spec_error_from(exc: ValidationError) -> SpecError:
    """One SpecError naming every bad field, e.g. ``params.temperature: must be ≤ 10``."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "spec"
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {msg}")
    more = f" (and {len(exc.errors()) - 5} more)" if len(exc.errors()) > 5 else ""
    return SpecError("invalid workload spec: " + "; ".join(parts) + more)
