"""Many jobs on the real chain with the real runtimes: no honest result is ever judged wrong,
every cheat is caught by the check that samples it.

The benchmark (bench/verify.py) runs 1,000 jobs; this test runs 40 (the same mix: digit
batches in ONNX float32 and int8, rescored generations, images, embeddings), with the
provider alternating between 1 and 2 threads and the validator on 1, then the cheater's
outputs for the same jobs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from deai.chain.staking import Staking
from deai.chain.types import JobStatus
from deai.node.adversary import cheated_result
from deai.runtime.demo_models import demo_model_dirs
from deai.testing.plugin import Chain
from deai.testing.verification import JobRun, VerifyHarness, workload_mix

pytestmark = pytest.mark.integration
JOBS = 40


@pytest.fixture(scope="module")
def harness_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("verify-harness")


@pytest.fixture
def harness(chain: Chain, harness_root: Path) -> VerifyHarness:
    h = VerifyHarness(chain.w3, chain.deployment, chain.accounts, harness_root, provider_threads=(1, 2))
    h.stage()
    return h


def test_honest_results_from_two_thread_counts_pass_every_check_and_are_paid(harness: VerifyHarness) -> None:
    staking = Staking(harness.w3, harness.deployment)
    provider = harness.accounts["provider1"].address
    stake = staking.stake_of(provider)
    specs = workload_mix(harness.provider_store, JOBS, seed=3)
    assert {s.kind for s in specs} == {"classify", "generate", "image", "embed"}
    runs = harness.run_jobs(specs)
    assert {r.threads for r in runs} == {1, 2}
    checks = [harness.check(run) for run in runs]
    wrong = [(r.spec.kind, c.verdict.detail) for r, c in zip(runs, checks, strict=True) if not c.verdict.match]
    assert wrong == []
    assert {c.verdict.method for c in checks} == {"reexecute", "rescore"}
    statuses = harness.finalize_all(runs)
    assert set(statuses.values()) == {JobStatus.FINALIZED}
    assert staking.stake_of(provider) == stake


def test_every_cheat_is_caught_by_the_check_that_samples_it(harness: VerifyHarness) -> None:
    specs = workload_mix(harness.provider_store, 16, seed=4)
    runs: list[JobRun] = harness.run_jobs(specs)
    served = tuple(str(harness.provider_store.add_path(p)) for p in demo_model_dirs().values())
    rng = np.random.default_rng(0)
    provider = harness.providers[1]
    for run in runs:
        verdict = harness.check(run, cheated_result(provider, run.spec, served, rng)).verdict
        assert not verdict.match, (run.spec.kind, verdict)
        assert verdict.method in ("reexecute", "rescore", "structure")
