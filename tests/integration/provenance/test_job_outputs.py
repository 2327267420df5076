"""Job-path outputs: verified against the job's on-chain fate (committed, challenged, slashed)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from deai.chain.types import JobStatus
from deai.provenance.log import ProvenanceLog
from deai.provenance.outputs import describe_outputs, record_output
from deai.provenance.verifier import verify
from deai.store import LocalStore
from deai.testing.market import Market
from deai.units import tokens

from .conftest import DemoRun, index_of

pytestmark = pytest.mark.integration


def _job_output(m: Market, log: ProvenanceLog, run: DemoRun, *, commit: bool = True) -> tuple[int, str]:
    """A real job: posted, bid, accepted, run (the demo run), signed, anchored, committed."""
    job_id = m.assigned("provider1", price=tokens(5))
    unsigned = describe_outputs(run.result, run.spec, run.model, provider=m["provider1"].address,
                                chain_id=m.deployment.chain_id, anchors=m.deployment.address("Anchors"),
                                job_id=job_id)[0]
    record_output(log, m["provider1"], unsigned)
    log.flush()
    if commit:
        m.market.commit_result(m["provider1"], job_id, unsigned.output_cid,
                               bytes.fromhex(run.result.result_hash[2:]))
    return job_id, unsigned.output_cid


def test_an_output_from_a_provider_later_slashed_for_that_job_is_reported_disputed(
    m: Market, make_log: Callable[..., ProvenanceLog], prov_store: LocalStore, demo_runs: dict[str, DemoRun],
) -> None:
    log = make_log()
    job_id, output = _job_output(m, log, demo_runs["image"])

    def check() -> tuple[bool, str]:
        verdict = verify(output, store=prov_store, w3=m.w3, deployment=m.deployment, index=index_of(log))
        dispute = verdict.check("dispute")
        assert dispute is not None
        return verdict.ok, dispute.detail

    ok, detail = check()
    assert ok and f"not disputed (job {job_id}" in detail

    challenged = m.market.challenge(m["validator1"], job_id)
    ok, detail = check()
    assert not ok and detail.startswith("disputed: ") and "committee is voting" in detail

    for member in challenged.committee:
        role = next(r for r in ("validator2", "validator3") if m.addr(r) == member)
        m.market.vote(m[role], job_id, fraud=True)
    assert m.market.resolve(m["client2"], job_id).status is JobStatus.REJECTED
    ok, detail = check()
    assert not ok and detail.startswith("disputed: ") and "the provider was slashed" in detail


def test_a_job_output_is_checked_against_what_the_provider_committed(
    m: Market, make_log: Callable[..., ProvenanceLog], prov_store: LocalStore, demo_runs: dict[str, DemoRun],
) -> None:
    log = make_log()
    job_id, output = _job_output(m, log, demo_runs["classify"], commit=False)
    verdict = verify(output, store=prov_store, w3=m.w3, deployment=m.deployment, index=index_of(log))
    assert not verdict.ok and "no result is committed on chain yet" in verdict.summary
    # the provider commits another result than the one it signed a manifest for
    m.market.commit_result(m["provider1"], job_id, output, b"\x11" * 32)
    verdict = verify(output, store=prov_store, w3=m.w3, deployment=m.deployment, index=index_of(log))
    assert [c.name for c in verdict.failed] == ["dispute"]
    assert "not this manifest's" in verdict.summary
