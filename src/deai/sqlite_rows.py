"""Frozen dataclasses as SQLite rows, and the one write transaction the node's stores use.

Several stores keep one table per frozen dataclass (a column per field, in field order, a
``stage`` column holding a ``StrEnum``): the provider's jobs (``deai.node.state``) and the
validator's checks, votes and receipt checks (``deai.verify.state``). ``RowTable`` holds
what they shared line for line: the column list, the ``CREATE TABLE`` text, the
record ↔ row conversion and the get / insert-or-replace / select-by-stage queries. Callers
hold their own lock around each call; nothing here locks but ``transaction``. ``connect``
and ``transaction`` are how every SQLite file of the project is opened and written (those
two stores, the receipt store, the provenance log, the client's wallet).

Amounts that may pass 2**63 (a uint256) do not fit SQLite's INTEGER, so a table names such
fields in ``decimal_ints``: they are stored as decimal text and read back as ``int``.

It sits with ``errors`` and ``units`` as shared ground because ``verify/`` and ``node/``
both use it and ``verify/`` may not import ``node/``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")

_TYPES = {"int": "INTEGER", "float": "REAL"}  # annotations are strings (PEP 563)


class RowTable(Generic[R]):
    """One SQLite table that stores records of the frozen dataclass ``cls``."""

    def __init__(self, name: str, cls: type[R], *, key: str, stage: type[StrEnum],
                 decimal_ints: Iterable[str] = ()) -> None:
        self.name = name
        self.cls = cls
        self.key = key
        self.stage = stage
        self.decimal_ints = frozenset(decimal_ints)
        self.columns = [f.name for f in fields(cls)]
        self._select = f"SELECT {', '.join(self.columns)} FROM {name}"
        self._insert = (f"INSERT OR REPLACE INTO {name} ({', '.join(self.columns)}) "
                        f"VALUES ({', '.join('?' * len(self.columns))})")

    def create_sql(self) -> str:
        """``CREATE TABLE IF NOT EXISTS``: int → INTEGER, float → REAL, the rest (and decimal ints) TEXT."""
        columns = []
        for f in fields(self.cls):
            kind = "TEXT" if f.name in self.decimal_ints else _TYPES.get(str(f.type), "TEXT")
            columns.append(f"{f.name} {kind} NOT NULL" + (" PRIMARY KEY" if f.name == self.key else ""))
        return f"CREATE TABLE IF NOT EXISTS {self.name} ({', '.join(columns)});"

    def values(self, record: R) -> list[Any]:
        """The row of ``record``, in column order."""
        out: list[Any] = []
        for column in self.columns:
            value = getattr(record, column)
            if isinstance(value, StrEnum):
                value = value.value
            elif column in self.decimal_ints:
                value = str(value)
            out.append(value)
        return out

    def record(self, row: tuple[Any, ...]) -> R:
        """The record a row (in column order) holds."""
        data = dict(zip(self.columns, row, strict=True))
        data["stage"] = self.stage(data["stage"])
        for column in self.decimal_ints:
            data[column] = int(data[column])
        return self.cls(**data)

    def get(self, db: sqlite3.Connection, key: object) -> R | None:
        row = db.execute(f"{self._select} WHERE {self.key} = ?", (key,)).fetchone()
        return self.record(row) if row else None

    def put(self, db: sqlite3.Connection, record: R) -> None:
        """Insert ``record``, replacing the row with its key."""
        db.execute(self._insert, self.values(record))

    def select(self, db: sqlite3.Connection, stages: Iterable[StrEnum] | None, order: str) -> list[R]:
        """Every record (those in ``stages`` when given), sorted by the SQL ``order``."""
        query = self._select
        params: list[str] = []
        if stages is not None:
            params = [s.value for s in stages]
            query += f" WHERE stage IN ({', '.join('?' * len(params))})"
        return [self.record(r) for r in db.execute(f"{query} ORDER BY {order}", params).fetchall()]


def get_cursor(db: sqlite3.Connection, name: str) -> int:
    """A named block cursor from a ``cursors (name TEXT PRIMARY KEY, value INTEGER)`` table; 0 if unset."""
    row = db.execute("SELECT value FROM cursors WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0


def set_cursor(db: sqlite3.Connection, name: str, value: int) -> None:
    db.execute(
        "INSERT INTO cursors (name, value) VALUES (?, ?) "
        "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        (name, value),
    )


def connect(path: Path | str, schema: str, *, synchronous: str) -> sqlite3.Connection:
    """Open (creating the folder of a ``Path``) in autocommit mode, WAL journal, ``schema`` applied.

    Autocommit because every store opens its write transactions itself (``transaction``);
    ``synchronous`` is ``FULL`` where a recorded stage must survive power loss, else ``NORMAL``.
    """
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.executescript(schema)
    return db


@contextmanager
def transaction(db: sqlite3.Connection, lock: threading.Lock | threading.RLock) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` under ``lock``; COMMIT when the block ends, ROLLBACK if it (or the COMMIT) raises."""
    with lock:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
