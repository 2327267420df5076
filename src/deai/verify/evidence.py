"""The evidence behind a challenge: what was checked, how, and what failed.

``JobMarket.challenge`` takes only the job id and a bond — the committee decides by its own
re-execution, so the contract has no use for the evidence and never stores it (a stored
document would cost every dispute a storage write). The challenger still writes its
evidence down: a canonical JSON document, added to its store (so its CID names it) and
served from its gateway, that ties the challenge to what the chain committed (job, provider,
output CID, result hash), says which check failed and why, and carries the sampling beacon
and ticket that selected the job.

``check_evidence`` refuses evidence that is malformed or does not fit the job on chain,
*before* any transaction is sent: a validator never posts a bond on a challenge it cannot
justify. Its reasons are ``EvidenceError`` messages a person can act on.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from deai.chain.events import ResultCommitted
from deai.chain.types import Job, JobStatus
from deai.errors import EvidenceError
from deai.runtime.spec import canonical_json, check_cid

Method = Literal["structure", "reexecute", "rescore", "segment", "redundant", "unreadable"]
_HEX32 = re.compile(r"^0x[0-9a-f]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
MAX_EVIDENCE_BYTES = 16 * 1024


class Evidence(BaseModel):
    """Why a validator says a committed result is wrong (one per challenge)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    chain_id: int = Field(ge=1)
    market: str
    job_id: int = Field(ge=1)
    provider: str
    validator: str
    spec_cid: str
    output_cid: str
    result_hash: str
    method: Method
    detail: str = Field(min_length=1, max_length=2000)
    recomputed_hash: str = ""
    facts: dict[str, Any] = Field(default_factory=dict)
    beacon: str = ""
    ticket: str = ""

    @field_validator("market", "provider", "validator")
    @classmethod
    def _address(cls, value: str) -> str:
        if not _ADDRESS.match(value):
            raise ValueError(f"{value[:50]!r} is not an address")
        return value

    @field_validator("spec_cid", "output_cid")
    @classmethod
    def _cid(cls, value: str) -> str:
        return check_cid(value)

    @field_validator("result_hash")
    @classmethod
    def _hash(cls, value: str) -> str:
        if not _HEX32.match(value):
            raise ValueError("a result hash is 0x and 64 lowercase hex digits")
        return value

    @field_validator("recomputed_hash", "beacon")
    @classmethod
    def _optional_hash(cls, value: str) -> str:
        if value and not _HEX32.match(value):
            raise ValueError("expected 0x and 64 lowercase hex digits")
        return value

    def canonical_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))


def parse_evidence(data: bytes | str | dict[str, Any]) -> Evidence:
    """Read evidence from JSON bytes, a string or a dict; anything malformed → EvidenceError."""
    return parse_document(data, Evidence, what="evidence", limit=MAX_EVIDENCE_BYTES)


_Doc = TypeVar("_Doc", bound=BaseModel)


def parse_document(data: bytes | str | dict[str, Any], model: type[_Doc], *, what: str, limit: int) -> _Doc:
    """An evidence document of type ``model`` from JSON bytes, a string or a dict (at most
    ``limit`` bytes); anything malformed → EvidenceError naming ``what`` and the first bad field."""
    if isinstance(data, (bytes, str)):
        raw = data.encode() if isinstance(data, str) else data
        if len(raw) > limit:
            raise EvidenceError(f"{what} is {len(raw)} bytes, over the {limit}-byte limit")
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise EvidenceError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise EvidenceError(f"{what} must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "evidence"
        raise EvidenceError(f"malformed {what}: {where}: {first['msg']}") from None


def check_evidence(
    evidence: Evidence, *, job: Job, committed: ResultCommitted | None, chain_id: int, market: str, now: int,
) -> None:
    """Raise EvidenceError unless the evidence fits the job as the chain has it, right now."""
    if evidence.chain_id != chain_id or evidence.market.lower() != market.lower():
        raise EvidenceError("the evidence is for another chain or market contract")
    if evidence.job_id != job.job_id:
        raise EvidenceError(f"the evidence names job {evidence.job_id}, not job {job.job_id}")
    if not job.exists:
        raise EvidenceError(f"there is no job {job.job_id} on chain", hint="check the id with `deai job status`")
    if committed is None or job.status is not JobStatus.COMMITTED:
        raise EvidenceError(f"job {job.job_id} has no result open to challenge (it is {job.status.description})")
    if now >= committed.challenge_end:
        raise EvidenceError(
            f"the challenge window of job {job.job_id} closed at {committed.challenge_end}",
            hint="challenges are accepted only while the window is open; the result stands",
        )
    if evidence.provider.lower() != str(committed.provider).lower():
        raise EvidenceError("the evidence accuses another provider than the one that committed")
    if evidence.output_cid != str(committed.output_cid):
        raise EvidenceError("the evidence is about another output than the one committed on chain")
    if evidence.result_hash != "0x" + committed.result_hash.hex():
        raise EvidenceError("the evidence quotes another result hash than the one committed on chain")
    if evidence.recomputed_hash and evidence.recomputed_hash == evidence.result_hash and evidence.method == "reexecute":
        raise EvidenceError("the re-execution reproduced the committed hash: there is nothing to challenge")
