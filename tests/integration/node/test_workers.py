"""Worker processes: results, budgets enforced by killing, crashes contained, errors passed through."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from deai.errors import InputError, JobOutOfMemory, JobTimedOut, WorkerCrashed
from deai.node.workers import Limits, WorkerPool
from deai.testing import workloads


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(1) as workers:
        yield workers


def test_runs_a_function_in_another_process(pool: WorkerPool) -> None:
    assert pool.run(workloads.square, 12) == 144
    assert pool.run(workloads.worker_pid) != os.getpid()


def test_a_job_over_time_is_killed_and_the_pool_recovers(pool: WorkerPool) -> None:
    started = time.monotonic()
    with pytest.raises(JobTimedOut, match=r"0\.5 s"):
        pool.run(workloads.sleep_forever, limits=Limits(timeout_s=0.5))
    assert time.monotonic() - started < 5
    assert pool.run(workloads.square, 3) == 9


def test_a_job_over_memory_is_killed(pool: WorkerPool) -> None:
    with pytest.raises(JobOutOfMemory, match="over its 150 MiB budget"):
        pool.run(workloads.hog_memory, 400, limits=Limits(timeout_s=30, memory_mib=150))
    assert pool.run(workloads.square, 4) == 16


def test_user_errors_pass_through_and_crashes_are_contained(pool: WorkerPool) -> None:
    pid = pool.run(workloads.worker_pid)
    with pytest.raises(InputError, match="64 pixels"):
        pool.run(workloads.bad_input)
    with pytest.raises(WorkerCrashed, match="ZeroDivisionError"):
        pool.run(workloads.divide_by_zero)
    assert pool.run(workloads.worker_pid) == pid  # errors do not cost the worker
    with pytest.raises(WorkerCrashed, match="died"):
        pool.run(workloads.die)
    assert pool.run(workloads.square, 5) == 25


def square_here(x: int) -> int:
    return x


def test_a_function_the_worker_cannot_import_is_reported(pool: WorkerPool) -> None:
    with pytest.raises(WorkerCrashed, match="raised"):
        pool.run(square_here, 2)
    assert pool.run(workloads.square, 6) == 36
