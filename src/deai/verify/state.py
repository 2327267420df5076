"""What a validator remembers across restarts: jobs it follows, checks, challenges, votes, score reports, fee claims.

One SQLite file under the validator's data directory (WAL, one transaction per write), so
a validator killed at any point restarts where it was. Each job moves along ``CheckStage``;
a stage is written *before* the side effect it leads to (``CHALLENGING`` before the
challenge transaction, ``VOTING`` before the vote), and on restart those stages are
settled by asking the chain, so no bond is posted twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from deai.sqlite_rows import RowTable, connect, get_cursor, set_cursor


class CheckStage(StrEnum):
    POSTED = "posted"  # JobPosted seen; no result yet
    SKIPPED = "skipped"  # result committed, not selected (or a mode validators do not check)
    QUEUED = "queued"  # selected: to be checked within the challenge window
    GROUPED = "grouped"  # a redundant job: judged with its group
    CHECKED = "checked"  # verdict recorded, nothing to challenge (or window gone)
    CHALLENGING = "challenging"  # challenge decided, transaction about to be sent
    CHALLENGED = "challenged"  # our challenge is on chain
    MISSED = "missed"  # could not finish the check inside the window


class VoteStage(StrEnum):
    PENDING = "pending"
    VOTING = "voting"
    VOTED = "voted"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class JobCheck:
    """One job as this validator follows it."""

    job_id: int
    stage: CheckStage = CheckStage.POSTED
    client: str = ""
    spec_cid: str = ""
    mode: int = 0
    param: int = 0
    provider: str = ""
    output_cid: str = ""
    result_hash: str = ""
    commit_block: int = 0
    beacon: str = ""
    challenge_end: int = 0
    sampled: int = 0
    ticket: str = ""
    verdict: str = ""
    """"", "match", "mismatch" or "error"."""
    method: str = ""
    detail: str = ""
    cpu_s: float = 0.0
    evidence_cid: str = ""
    challenge_tx: str = ""
    final_status: int = 0
    final_reason: int = 0
    attempts: int = 0
    updated_at: float = 0.0


@dataclass(frozen=True)
class VoteRecord:
    job_id: int
    stage: VoteStage = VoteStage.PENDING
    vote_end: int = 0
    fraud: int = 0
    detail: str = ""
    tx: str = ""
    updated_at: float = 0.0


class ReceiptStage(StrEnum):
    """One sampled fast-path receipt, as this validator checks it (``deai.verify.receipts``)."""

    QUEUED = "queued"  # selected from an anchored batch: to be fetched and re-run
    CHECKED = "checked"  # re-run: the response matched (or a mismatch not challenged)
    UNVERIFIABLE = "unverifiable"  # cannot be re-run faithfully here (detail says why)
    FAULT = "fault"  # the provider did not serve it, or served data its signature contradicts
    CHALLENGING = "challenging"  # a wrong response: challenge transaction about to be sent
    CHALLENGED = "challenged"  # our challenge is on chain
    MISSED = "missed"  # the challenge window closed before the check ended
    OTHER = "other"  # the anchored batch is not receipts (the provider's provenance manifests)


@dataclass(frozen=True)
class ReceiptCheck:
    """One sampled leaf of a provider's anchored receipt batch."""

    key: str
    """``provider:anchor sequence:leaf index`` (lowercase provider)."""
    stage: ReceiptStage = ReceiptStage.QUEUED
    provider: str = ""
    anchor_sequence: int = 0
    leaf_index: int = 0
    anchor_block: int = 0
    uri: str = ""
    beacon: str = ""
    ticket: str = ""
    receipt_sequence: int = 0
    digest: str = ""
    issued_at: int = 0
    verdict: str = ""
    """"", "match", "mismatch", "unverifiable" or "fault"."""
    method: str = ""
    detail: str = ""
    cpu_s: float = 0.0
    evidence_cid: str = ""
    challenge_tx: str = ""
    final_status: int = 0
    attempts: int = 0
    updated_at: float = 0.0


@dataclass(frozen=True)
class ReceiptVote:
    """A receipt dispute this validator sits on the committee of (keyed by the receipt's digest)."""

    digest: str
    stage: VoteStage = VoteStage.PENDING
    provider: str = ""
    challenger: str = ""
    evidence_cid: str = ""
    vote_end: int = 0
    fraud: int = 0
    detail: str = ""
    tx: str = ""
    attempts: int = 0
    updated_at: float = 0.0


_JOBS = RowTable("jobs", JobCheck, key="job_id", stage=CheckStage)
_VOTES = RowTable("votes", VoteRecord, key="job_id", stage=VoteStage)
_RECEIPT_CHECKS = RowTable("receipt_checks", ReceiptCheck, key="key", stage=ReceiptStage)
_RECEIPT_VOTES = RowTable("receipt_votes", ReceiptVote, key="digest", stage=VoteStage)

_SCHEMA = "\n".join([
    _JOBS.create_sql(),
    "CREATE INDEX IF NOT EXISTS jobs_stage ON jobs(stage);",
    _VOTES.create_sql(),
    "CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, value INTEGER NOT NULL);",
    "CREATE TABLE IF NOT EXISTS posts (epoch INTEGER PRIMARY KEY, uri TEXT NOT NULL, tx TEXT NOT NULL);",
    # fast-path receipts: sampled leaves and the receipt disputes this validator votes on
    _RECEIPT_CHECKS.create_sql(),
    "CREATE INDEX IF NOT EXISTS receipt_checks_stage ON receipt_checks(stage);",
    _RECEIPT_VOTES.create_sql(),
    # fee shares claimed from the ValidatorPool (amounts as decimal text: they may pass 2**63)
    "CREATE TABLE IF NOT EXISTS claims (epoch INTEGER PRIMARY KEY, amount TEXT NOT NULL, tx TEXT NOT NULL);",
])

_R = TypeVar("_R", JobCheck, VoteRecord, ReceiptCheck, ReceiptVote)


class ValidatorState:
    """The validator's SQLite file (``":memory:"`` for tests of the layers above)."""

    def __init__(self, path: Path | str) -> None:
        self._lock = threading.Lock()
        # synchronous=FULL: a recorded challenge survives power loss
        self._db = connect(path, _SCHEMA, synchronous="FULL")

    def close(self) -> None:
        self._db.close()

    def _get(self, table: RowTable[_R], key: object) -> _R | None:
        with self._lock:
            return table.get(self._db, key)

    def _put(self, table: RowTable[_R], record: _R) -> _R:
        record = replace(record, updated_at=time.time())
        with self._lock:
            table.put(self._db, record)
        return record

    def _update(self, table: RowTable[_R], key: Any, changes: dict[str, Any]) -> _R:
        """Set ``changes`` on the stored record (a fresh one with this key if none yet)."""
        current = self._get(table, key) or table.cls(key)
        return self._put(table, replace(current, **changes))

    def _select(self, table: RowTable[_R], stages: Iterable[StrEnum] | None, order: str) -> list[_R]:
        with self._lock:
            return table.select(self._db, stages, order)

    # --- jobs ------------------------------------------------------------------------------

    def get(self, job_id: int) -> JobCheck | None:
        return self._get(_JOBS, job_id)

    def put(self, record: JobCheck) -> JobCheck:
        return self._put(_JOBS, record)

    def update(self, job_id: int, **changes: Any) -> JobCheck:
        return self._update(_JOBS, job_id, changes)

    def jobs(self, stages: Iterable[CheckStage] | None = None) -> list[JobCheck]:
        return self._select(_JOBS, stages, "job_id")

    # --- votes -----------------------------------------------------------------------------

    def vote(self, job_id: int) -> VoteRecord | None:
        return self._get(_VOTES, job_id)

    def put_vote(self, record: VoteRecord) -> VoteRecord:
        return self._put(_VOTES, record)

    def votes(self, stages: Iterable[VoteStage] | None = None) -> list[VoteRecord]:
        return self._select(_VOTES, stages, "job_id")

    # --- cursors and score posts -----------------------------------------------------------

    def get_cursor(self, name: str) -> int:
        with self._lock:
            return get_cursor(self._db, name)

    def set_cursor(self, name: str, value: int) -> None:
        with self._lock:
            set_cursor(self._db, name, value)

    def record_post(self, epoch: int, uri: str, tx: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO posts (epoch, uri, tx) VALUES (?, ?, ?)", (epoch, uri, tx))

    def last_post(self) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT MAX(epoch) FROM posts").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    # --- validator fees (ValidatorPool claims; score reports are the posts above) -----------

    def record_claim(self, epoch: int, amount: int, tx: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO claims (epoch, amount, tx) VALUES (?, ?, ?)",
                             (epoch, str(int(amount)), tx))

    def claims(self) -> dict[int, int]:
        """Epoch → fee share claimed for it."""
        with self._lock:
            rows = self._db.execute("SELECT epoch, amount FROM claims ORDER BY epoch").fetchall()
        return {int(e): int(a) for e, a in rows}

    def posted_epochs(self) -> list[int]:
        """Epochs this validator reported scores for (a report sent, not one refused)."""
        with self._lock:
            rows = self._db.execute("SELECT epoch FROM posts WHERE tx != '' ORDER BY epoch").fetchall()
        return [int(r[0]) for r in rows]

    # --- fast-path receipts ----------------------------------------------------------------

    def receipt_check(self, key: str) -> ReceiptCheck | None:
        return self._get(_RECEIPT_CHECKS, key)

    def put_receipt_check(self, record: ReceiptCheck) -> ReceiptCheck:
        return self._put(_RECEIPT_CHECKS, record)

    def update_receipt_check(self, key: str, **changes: Any) -> ReceiptCheck:
        return self._update(_RECEIPT_CHECKS, key, changes)

    def receipt_checks(self, stages: Iterable[ReceiptStage] | None = None) -> list[ReceiptCheck]:
        return self._select(_RECEIPT_CHECKS, stages, "anchor_block, key")

    def receipt_vote(self, digest: str) -> ReceiptVote | None:
        return self._get(_RECEIPT_VOTES, digest)

    def put_receipt_vote(self, record: ReceiptVote) -> ReceiptVote:
        return self._put(_RECEIPT_VOTES, record)

    def update_receipt_vote(self, digest: str, **changes: Any) -> ReceiptVote:
        return self._update(_RECEIPT_VOTES, digest, changes)

    def receipt_votes(self, stages: Iterable[VoteStage] | None = None) -> list[ReceiptVote]:
        return self._select(_RECEIPT_VOTES, stages, "vote_end, digest")

    def tallies(self) -> dict[str, tuple[int, int]]:
        """Provider → (results verified, results found wrong) from this validator's own checks."""
        with self._lock:
            rows = self._db.execute(
                "SELECT provider, SUM(verdict = 'match'), SUM(verdict = 'mismatch') FROM jobs "
                "WHERE provider != '' AND verdict IN ('match', 'mismatch') GROUP BY provider"
            ).fetchall()
        return {str(p): (int(ok), int(bad)) for p, ok, bad in rows}

