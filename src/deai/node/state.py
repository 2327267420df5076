"""Persistent node state: the jobs a provider has seen, bid on, run, committed and been paid for.

``NodeState`` is the interface; ``SqliteNodeState`` keeps it in one SQLite file under the
node's data directory (WAL mode, one transaction per change) so a node killed with
``kill -9`` restarts exactly where it was; ``MemoryNodeState`` is the same contract in
memory for unit tests of the layers above. Both run the same contract tests
(``tests/unit/node/test_state.py``).

A job only moves forward along ``JobStage``; a transition the table does not allow raises
``NodeStateError`` and changes nothing, which is what keeps a restarted node from
committing a result twice.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from deai.errors import NodeStateError
from deai.sqlite_rows import RowTable, connect, get_cursor, set_cursor, transaction


class JobStage(StrEnum):
    SEEN = "seen"  # posted on chain, not yet decided
    SKIPPED = "skipped"  # decided not to bid (reason kept)
    BID = "bid"  # bid sent
    ASSIGNED = "assigned"  # this node won the job
    RUNNING = "running"  # handed to a worker
    RESULT_READY = "result_ready"  # output stored and pinned, not yet committed
    COMMITTING = "committing"  # commit transaction sent, not yet confirmed
    COMMITTED = "committed"  # commitment on chain; waiting out the challenge window
    FINALIZED = "finalized"  # paid
    LOST = "lost"  # another provider won, or the job was cancelled
    EXPIRED = "expired"  # deadline passed
    FAILED = "failed"  # the workload failed (reason kept)
    SLASHED = "slashed"  # a challenge against this node succeeded


TERMINAL = frozenset(
    {JobStage.SKIPPED, JobStage.FINALIZED, JobStage.LOST, JobStage.EXPIRED, JobStage.SLASHED}
)

_NEXT: dict[JobStage, frozenset[JobStage]] = {
    JobStage.SEEN: frozenset({JobStage.SKIPPED, JobStage.BID, JobStage.LOST, JobStage.EXPIRED}),
    JobStage.BID: frozenset({JobStage.ASSIGNED, JobStage.LOST, JobStage.EXPIRED}),
    JobStage.ASSIGNED: frozenset({JobStage.RUNNING, JobStage.EXPIRED, JobStage.FAILED}),
    JobStage.RUNNING: frozenset(
        {JobStage.RUNNING, JobStage.RESULT_READY, JobStage.FAILED, JobStage.EXPIRED}
    ),
    JobStage.RESULT_READY: frozenset({JobStage.COMMITTING, JobStage.EXPIRED}),
    JobStage.COMMITTING: frozenset({JobStage.COMMITTED, JobStage.RESULT_READY, JobStage.EXPIRED}),
    JobStage.COMMITTED: frozenset({JobStage.FINALIZED, JobStage.SLASHED}),
    JobStage.FAILED: frozenset({JobStage.EXPIRED}),
}


def allowed_next(stage: JobStage) -> frozenset[JobStage]:
    """The stages a job in ``stage`` may move to."""
    return _NEXT.get(stage, frozenset())


@dataclass(frozen=True)
class JobRecord:
    """What the node knows of one on-chain job."""

    job_id: int
    stage: JobStage
    spec_cid: str = ""
    client: str = ""
    max_price: int = 0
    bid_price: int = 0
    output_cid: str = ""
    result_hash: str = ""
    tx_hash: str = ""
    reason: str = ""
    attempts: int = 0
    updated_at: float = 0.0


class NodeState(ABC):
    """Everything a node must remember across restarts."""

    @abstractmethod
    def get_job(self, job_id: int) -> JobRecord | None: ...

    @abstractmethod
    def _put_job(self, record: JobRecord, expected: JobStage | None) -> None:
        """Write ``record`` if the stored stage is still ``expected`` (None: no row yet)."""

    @abstractmethod
    def jobs(self, stages: frozenset[JobStage] | None = None) -> list[JobRecord]: ...

    @abstractmethod
    def get_cursor(self, name: str) -> int: ...

    @abstractmethod
    def set_cursor(self, name: str, value: int) -> None: ...

    @abstractmethod
    def use_nonce(self, signer: str, nonce: int) -> bool:
        """Record a request nonce; False if this signer already used it (a replay)."""

    # --- transitions, shared by every implementation ---------------------------------------

    def add_job(self, job_id: int, *, spec_cid: str, client: str, max_price: int) -> JobRecord:
        """Record a newly seen job; seeing it again returns the stored record unchanged."""
        existing = self.get_job(job_id)
        if existing is not None:
            return existing
        record = JobRecord(
            job_id,
            JobStage.SEEN,
            spec_cid=spec_cid,
            client=client,
            max_price=max_price,
            updated_at=time.time(),
        )
        self._put_job(record, None)
        return record

    def advance(self, job_id: int, stage: JobStage, **changes: Any) -> JobRecord:
        """Move a job to ``stage`` (setting ``changes``) if the stage table allows it."""
        current = self.get_job(job_id)
        if current is None:
            raise NodeStateError(f"job {job_id} is not known to this node")
        if stage not in allowed_next(current.stage):
            raise NodeStateError(
                f"job {job_id} cannot go from {current.stage.value} to {stage.value}"
            )
        allowed = {f.name for f in fields(JobRecord)} - {"job_id", "stage", "updated_at"}
        unknown = set(changes) - allowed
        if unknown:
            raise NodeStateError(f"unknown job fields: {sorted(unknown)}")
        record = replace(current, stage=stage, updated_at=time.time(), **changes)
        self._put_job(record, current.stage)
        return record


class MemoryNodeState(NodeState):
    """NodeState in a dict, for unit tests of the layers above."""

    def __init__(self) -> None:
        self._jobs: dict[int, JobRecord] = {}
        self._cursors: dict[str, int] = {}
        self._nonces: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def get_job(self, job_id: int) -> JobRecord | None:
        return self._jobs.get(job_id)

    def _put_job(self, record: JobRecord, expected: JobStage | None) -> None:
        with self._lock:
            stored = self._jobs.get(record.job_id)
            if (stored.stage if stored else None) != expected:
                raise NodeStateError(f"job {record.job_id} changed underneath this update")
            self._jobs[record.job_id] = record

    def jobs(self, stages: frozenset[JobStage] | None = None) -> list[JobRecord]:
        return sorted(
            (r for r in self._jobs.values() if stages is None or r.stage in stages),
            key=lambda r: r.job_id,
        )

    def get_cursor(self, name: str) -> int:
        return self._cursors.get(name, 0)

    def set_cursor(self, name: str, value: int) -> None:
        self._cursors[name] = value

    def use_nonce(self, signer: str, nonce: int) -> bool:
        with self._lock:
            key = (signer.lower(), nonce)
            if key in self._nonces:
                return False
            self._nonces.add(key)
            return True


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id INTEGER PRIMARY KEY, stage TEXT NOT NULL, spec_cid TEXT NOT NULL, client TEXT NOT NULL,
    max_price TEXT NOT NULL, bid_price TEXT NOT NULL, output_cid TEXT NOT NULL,
    result_hash TEXT NOT NULL, tx_hash TEXT NOT NULL, reason TEXT NOT NULL,
    attempts INTEGER NOT NULL, updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_stage ON jobs(stage);
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS nonces (signer TEXT NOT NULL, nonce TEXT NOT NULL,
    PRIMARY KEY (signer, nonce));
"""
# max_price and bid_price are uint256: decimal text, as SQLite's INTEGER stops at 2**63
_JOBS = RowTable("jobs", JobRecord, key="job_id", stage=JobStage, decimal_ints=("max_price", "bid_price"))


class SqliteNodeState(NodeState):
    """NodeState in one SQLite file; safe across threads of one process and across restarts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        # synchronous=FULL: a confirmed stage survives power loss
        self._db = connect(path, _SCHEMA, synchronous="FULL")

    def close(self) -> None:
        self._db.close()

    def get_job(self, job_id: int) -> JobRecord | None:
        with self._lock:
            return _JOBS.get(self._db, job_id)

    def _put_job(self, record: JobRecord, expected: JobStage | None) -> None:
        with transaction(self._db, self._lock) as db:
            row = db.execute("SELECT stage FROM jobs WHERE job_id = ?", (record.job_id,)).fetchone()
            if (JobStage(row[0]) if row else None) != expected:
                raise NodeStateError(f"job {record.job_id} changed underneath this update")
            _JOBS.put(db, record)

    def jobs(self, stages: frozenset[JobStage] | None = None) -> list[JobRecord]:
        with self._lock:
            return _JOBS.select(self._db, stages, "job_id")

    def get_cursor(self, name: str) -> int:
        with self._lock:
            return get_cursor(self._db, name)

    def set_cursor(self, name: str, value: int) -> None:
        with self._lock:
            set_cursor(self._db, name, value)

    def use_nonce(self, signer: str, nonce: int) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO nonces (signer, nonce) VALUES (?, ?)",
                (signer.lower(), str(nonce)),  # 128-bit nonces do not fit SQLite INTEGER
            )
            return cursor.rowcount == 1
