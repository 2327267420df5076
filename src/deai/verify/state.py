"""What a validator remembers across restarts: jobs it follows, checks, challenges, votes, score reports, fee claims.

One SQLite file under the validator's data directory (WAL, one transaction per write), so
a validator killed at any point restarts where it was. Each job moves along ``CheckStage``;
a stage is written *before* the side effect it leads to (``CHALLENGING`` before the
challenge transaction, ``VOTING`` before the vote), and on restart those stages are
settled by asking the chain, so no bond is posted twice.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any


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


_JOB_COLUMNS = [f.name for f in fields(JobCheck)]
_VOTE_COLUMNS = [f.name for f in fields(VoteRecord)]
_RECEIPT_COLUMNS = [f.name for f in fields(ReceiptCheck)]
_RECEIPT_VOTE_COLUMNS = [f.name for f in fields(ReceiptVote)]
_TYPES = {"int": "INTEGER", "float": "REAL"}  # annotations are strings here (PEP 563)


def _table(name: str, cls: type[Any], key: str = "job_id") -> str:
    columns = []
    for f in fields(cls):
        kind = _TYPES.get(str(f.type), "TEXT")
        columns.append(f"{f.name} {kind} NOT NULL" + (" PRIMARY KEY" if f.name == key else ""))
    return f"CREATE TABLE IF NOT EXISTS {name} ({', '.join(columns)});"


_SCHEMA = "\n".join([
    _table("jobs", JobCheck),
    "CREATE INDEX IF NOT EXISTS jobs_stage ON jobs(stage);",
    _table("votes", VoteRecord),
    "CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, value INTEGER NOT NULL);",
    "CREATE TABLE IF NOT EXISTS posts (epoch INTEGER PRIMARY KEY, uri TEXT NOT NULL, tx TEXT NOT NULL);",
    # fast-path receipts: sampled leaves and the receipt disputes this validator votes on
    _table("receipt_checks", ReceiptCheck, "key"),
    "CREATE INDEX IF NOT EXISTS receipt_checks_stage ON receipt_checks(stage);",
    _table("receipt_votes", ReceiptVote, "digest"),
    # fee shares claimed from the ValidatorPool (amounts as decimal text: they may pass 2**63)
    "CREATE TABLE IF NOT EXISTS claims (epoch INTEGER PRIMARY KEY, amount TEXT NOT NULL, tx TEXT NOT NULL);",
])


class ValidatorState:
    """The validator's SQLite file (``":memory:"`` for tests of the layers above)."""

    def __init__(self, path: Path | str) -> None:
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a recorded challenge survives power loss
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # --- jobs ------------------------------------------------------------------------------

    def get(self, job_id: int) -> JobCheck | None:
        with self._lock:
            row = self._db.execute(f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs WHERE job_id = ?",
                                   (job_id,)).fetchone()
        return _job(row) if row else None

    def put(self, record: JobCheck) -> JobCheck:
        record = replace(record, updated_at=time.time())
        values = [v.value if isinstance(v, StrEnum) else v for v in (getattr(record, c) for c in _JOB_COLUMNS)]
        with self._lock:
            self._db.execute(
                f"INSERT OR REPLACE INTO jobs ({', '.join(_JOB_COLUMNS)}) VALUES ({', '.join('?' * len(_JOB_COLUMNS))})",
                values,
            )
        return record

    def update(self, job_id: int, **changes: Any) -> JobCheck:
        current = self.get(job_id) or JobCheck(job_id)
        return self.put(replace(current, **changes))

    def jobs(self, stages: Iterable[CheckStage] | None = None) -> list[JobCheck]:
        query = f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs"
        params: list[str] = []
        if stages is not None:
            wanted = [s.value for s in stages]
            query += f" WHERE stage IN ({', '.join('?' * len(wanted))})"
            params = wanted
        with self._lock:
            rows = self._db.execute(query + " ORDER BY job_id", params).fetchall()
        return [_job(r) for r in rows]

    # --- votes -----------------------------------------------------------------------------

    def vote(self, job_id: int) -> VoteRecord | None:
        with self._lock:
            row = self._db.execute(f"SELECT {', '.join(_VOTE_COLUMNS)} FROM votes WHERE job_id = ?",
                                   (job_id,)).fetchone()
        return _vote(row) if row else None

    def put_vote(self, record: VoteRecord) -> VoteRecord:
        record = replace(record, updated_at=time.time())
        values = [v.value if isinstance(v, StrEnum) else v for v in (getattr(record, c) for c in _VOTE_COLUMNS)]
        with self._lock:
            self._db.execute(
                f"INSERT OR REPLACE INTO votes ({', '.join(_VOTE_COLUMNS)}) VALUES ({', '.join('?' * len(_VOTE_COLUMNS))})",
                values,
            )
        return record

    def votes(self, stages: Iterable[VoteStage] | None = None) -> list[VoteRecord]:
        query = f"SELECT {', '.join(_VOTE_COLUMNS)} FROM votes"
        params: list[str] = []
        if stages is not None:
            wanted = [s.value for s in stages]
            query += f" WHERE stage IN ({', '.join('?' * len(wanted))})"
            params = wanted
        with self._lock:
            rows = self._db.execute(query + " ORDER BY job_id", params).fetchall()
        return [_vote(r) for r in rows]

    # --- cursors and score posts -----------------------------------------------------------

    def get_cursor(self, name: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM cursors WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def set_cursor(self, name: str, value: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO cursors (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

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
        with self._lock:
            row = self._db.execute(f"SELECT {', '.join(_RECEIPT_COLUMNS)} FROM receipt_checks WHERE key = ?",
                                   (key,)).fetchone()
        return _receipt_check(row) if row else None

    def put_receipt_check(self, record: ReceiptCheck) -> ReceiptCheck:
        record = replace(record, updated_at=time.time())
        self._insert("receipt_checks", _RECEIPT_COLUMNS, record)
        return record

    def update_receipt_check(self, key: str, **changes: Any) -> ReceiptCheck:
        current = self.receipt_check(key) or ReceiptCheck(key)
        return self.put_receipt_check(replace(current, **changes))

    def receipt_checks(self, stages: Iterable[ReceiptStage] | None = None) -> list[ReceiptCheck]:
        rows = self._select("receipt_checks", _RECEIPT_COLUMNS, stages, "anchor_block, key")
        return [_receipt_check(r) for r in rows]

    def receipt_vote(self, digest: str) -> ReceiptVote | None:
        with self._lock:
            row = self._db.execute(f"SELECT {', '.join(_RECEIPT_VOTE_COLUMNS)} FROM receipt_votes WHERE digest = ?",
                                   (digest,)).fetchone()
        return _receipt_vote(row) if row else None

    def put_receipt_vote(self, record: ReceiptVote) -> ReceiptVote:
        record = replace(record, updated_at=time.time())
        self._insert("receipt_votes", _RECEIPT_VOTE_COLUMNS, record)
        return record

    def update_receipt_vote(self, digest: str, **changes: Any) -> ReceiptVote:
        current = self.receipt_vote(digest) or ReceiptVote(digest)
        return self.put_receipt_vote(replace(current, **changes))

    def receipt_votes(self, stages: Iterable[VoteStage] | None = None) -> list[ReceiptVote]:
        rows = self._select("receipt_votes", _RECEIPT_VOTE_COLUMNS, stages, "vote_end, digest")
        return [_receipt_vote(r) for r in rows]

    def _insert(self, table: str, columns: list[str], record: Any) -> None:
        values = [v.value if isinstance(v, StrEnum) else v for v in (getattr(record, c) for c in columns)]
        with self._lock:
            self._db.execute(
                f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                values,
            )

    def _select(self, table: str, columns: list[str], stages: Iterable[StrEnum] | None, order: str) -> list[Any]:
        query = f"SELECT {', '.join(columns)} FROM {table}"
        params: list[str] = []
        if stages is not None:
            params = [s.value for s in stages]
            query += f" WHERE stage IN ({', '.join('?' * len(params))})"
        with self._lock:
            return list(self._db.execute(query + f" ORDER BY {order}", params).fetchall())

    def tallies(self) -> dict[str, tuple[int, int]]:
        """Provider → (results verified, results found wrong) from this validator's own checks."""
        with self._lock:
            rows = self._db.execute(
                "SELECT provider, SUM(verdict = 'match'), SUM(verdict = 'mismatch') FROM jobs "
                "WHERE provider != '' AND verdict IN ('match', 'mismatch') GROUP BY provider"
            ).fetchall()
        return {str(p): (int(ok), int(bad)) for p, ok, bad in rows}


def _job(row: tuple[Any, ...]) -> JobCheck:
    data = dict(zip(_JOB_COLUMNS, row, strict=True))
    data["stage"] = CheckStage(data["stage"])
    return JobCheck(**data)


def _vote(row: tuple[Any, ...]) -> VoteRecord:
    data = dict(zip(_VOTE_COLUMNS, row, strict=True))
    data["stage"] = VoteStage(data["stage"])
    return VoteRecord(**data)


def _receipt_check(row: tuple[Any, ...]) -> ReceiptCheck:
    data = dict(zip(_RECEIPT_COLUMNS, row, strict=True))
    data["stage"] = ReceiptStage(data["stage"])
    return ReceiptCheck(**data)


def _receipt_vote(row: tuple[Any, ...]) -> ReceiptVote:
    data = dict(zip(_RECEIPT_VOTE_COLUMNS, row, strict=True))
    data["stage"] = VoteStage(data["stage"])
    return ReceiptVote(**data)
