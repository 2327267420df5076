"""Evidence documents, redundancy groups, the validator's state file, the adversaries' modes."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from deai.chain.cids import cid_from_digest
from deai.chain.events import JobPosted, ResultCommitted
from deai.chain.types import Job, JobReason, JobStatus, Verification, VerificationMode
from deai.errors import ConfigError, EvidenceError
from deai.node.adversary import cheats_on, parse_cheat
from deai.units import Address, Cid, JobId, TokenAmount
from deai.verify.evidence import Evidence, check_evidence, parse_evidence
from deai.verify.redundancy import group_jobs
from deai.verify.state import CheckStage, JobCheck, ValidatorState, VoteRecord, VoteStage

MARKET = "0x" + "11" * 20
PROVIDER = "0x" + "22" * 20
VALIDATOR = "0x" + "33" * 20
CLIENT = "0x" + "44" * 20


def _cid(label: str) -> str:
    return str(cid_from_digest(hashlib.sha256(label.encode()).digest()))


def _evidence(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "chain_id": 31337, "market": MARKET, "job_id": 4, "provider": PROVIDER, "validator": VALIDATOR,
        "spec_cid": _cid("spec"), "output_cid": _cid("out"), "result_hash": "0x" + "ab" * 32,
        "method": "reexecute", "detail": "logits.npy: max |a-b| = 0.09 (atol 0.001)",
    }
    return doc | changes


def _job(status: JobStatus = JobStatus.COMMITTED) -> Job:
    return Job(JobId(4), Address(CLIENT), Address(PROVIDER), TokenAmount(10), TokenAmount(5), status,
               Verification(), 1_000, 2_000)


def _committed(**changes: Any) -> ResultCommitted:
    fields: dict[str, Any] = dict(block_number=1, transaction_hash="0x", log_index=0, job_id=JobId(4),
                                  reason=JobReason.RESULT_COMMITTED, provider=Address(PROVIDER),
                                  output_cid=Cid(_cid("out")), result_hash=bytes.fromhex("ab" * 32), challenge_end=1_000)
    return ResultCommitted(**(fields | changes))


def test_evidence_round_trips_through_its_canonical_bytes() -> None:
    evidence = parse_evidence(_evidence())
    assert parse_evidence(evidence.canonical_bytes()) == evidence


@pytest.mark.parametrize(("doc", "reason"), [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b"x" * 20_000, "limit"),
    (_evidence(job_id=0), "job_id"),
    (_evidence(output_cid="not-a-cid"), "output_cid"),
    (_evidence(result_hash="0x1234"), "result_hash"),
    (_evidence(method="vibes"), "method"),
    (_evidence(detail=""), "detail"),
    (_evidence(provider="alice"), "provider"),
    (_evidence(extra="field"), "extra"),
])
def test_malformed_evidence_is_refused_with_the_field_named(doc: Any, reason: str) -> None:
    with pytest.raises(EvidenceError, match=reason):
        parse_evidence(doc)


def test_evidence_must_fit_the_job_on_chain_and_come_in_time() -> None:
    good = Evidence.model_validate(_evidence())
    check_evidence(good, job=_job(), committed=_committed(), chain_id=31337, market=MARKET, now=999)
    cases: list[tuple[dict[str, Any], str]] = [
        (dict(now=1_000), "closed"),
        (dict(job=_job(JobStatus.DISPUTED)), "no result open"),
        (dict(committed=None), "no result open"),
        (dict(chain_id=1), "another chain"),
        (dict(committed=_committed(output_cid=Cid(_cid("other")))), "another output"),
        (dict(committed=_committed(result_hash=b"\x01" * 32)), "another result hash"),
        (dict(committed=_committed(provider=Address(CLIENT))), "another provider"),
    ]
    for changes, reason in cases:
        args: dict[str, Any] = dict(job=_job(), committed=_committed(), chain_id=31337, market=MARKET, now=999)
        with pytest.raises(EvidenceError, match=reason):
            check_evidence(good, **(args | changes))
    reproduced = Evidence.model_validate(_evidence(recomputed_hash="0x" + "ab" * 32))
    with pytest.raises(EvidenceError, match="nothing to challenge"):
        check_evidence(reproduced, job=_job(), committed=_committed(), chain_id=31337, market=MARKET, now=999)


def _posted(job_id: int, spec: str, k: int, client: str = CLIENT, mode: VerificationMode = VerificationMode.REDUNDANT) -> JobPosted:
    return JobPosted(block_number=job_id, transaction_hash="0x", log_index=0, job_id=JobId(job_id),
                     reason=JobReason.POSTED, client=Address(client), spec_cid=Cid(_cid(spec)),
                     max_price=TokenAmount(1), bid_window_end=0, deadline=0, mode=mode, param=k)


def test_redundant_jobs_group_by_client_spec_and_k_in_posting_order() -> None:
    posted = [_posted(1, "a", 2), _posted(2, "b", 2), _posted(3, "a", 2), _posted(4, "a", 2),
              _posted(5, "a", 2), _posted(6, "a", 0, mode=VerificationMode.SAMPLED), _posted(7, "a", 2, client=PROVIDER)]
    groups = group_jobs(reversed(posted))
    assert groups[1] == groups[3] != groups[4] and groups[4] == groups[5]
    assert groups[2].spec_cid == _cid("b") and 6 not in groups
    assert groups[7] != groups[1]


def test_the_validator_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "validator.sqlite"
    state = ValidatorState(path)
    state.put(JobCheck(5, CheckStage.QUEUED, provider=PROVIDER, ticket="ff" * 32, cpu_s=0.25))
    state.update(5, stage=CheckStage.CHALLENGING, verdict="mismatch", evidence_cid=_cid("e"))
    state.put(JobCheck(6, CheckStage.CHECKED, provider=PROVIDER, verdict="match"))
    state.put_vote(VoteRecord(5, VoteStage.VOTING, vote_end=99, fraud=1))
    state.set_cursor("jobmarket", 1234)
    state.record_post(7, "deai-scores/v1:1=5000", "0xabc")
    state.close()
    again = ValidatorState(path)
    record = again.get(5)
    assert record is not None and record.stage is CheckStage.CHALLENGING and record.job_id == 5
    assert record.cpu_s == 0.25 and record.evidence_cid == _cid("e")
    assert [r.job_id for r in again.jobs([CheckStage.CHALLENGING, CheckStage.QUEUED])] == [5]
    assert again.votes([VoteStage.VOTING])[0].fraud == 1
    assert again.get_cursor("jobmarket") == 1234 and again.last_post() == 7
    assert again.tallies() == {PROVIDER: (1, 1)}
    again.close()


def test_cheat_modes_parse_and_partial_cheats_on_about_q() -> None:
    assert parse_cheat("lazy") == ("lazy", 1.0)
    assert parse_cheat("partial:0.2") == ("partial", 0.2)
    for bad in ("honest", "partial", "partial:2", "partial:x", "lazy:0.5"):
        with pytest.raises(ConfigError):
            parse_cheat(bad)
    share = sum(cheats_on(f"spec {i}".encode(), 0.2) for i in range(5_000)) / 5_000
    assert 0.18 < share < 0.22
