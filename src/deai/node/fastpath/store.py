"""The provider's receipt database (SQLite, WAL): receipts, served vouchers, anchored batches.

One transaction per answered request writes the receipt (with the request and response
bodies, which a validator re-runs), and raises the channel's served voucher, so after a
crash the node redeems exactly what its receipts add up to. Batches move ``prepared`` →
``sent`` → ``anchored`` (see ``anchoring.py``); a receipt belongs to at most one batch.
Amounts are stored as 32-byte big-endian blobs: SQLite integers stop at 2**63.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deai.market.vouchers import SignedVoucher
from deai.node.fastpath.receipts import Receipt, SignedReceipt
from deai.sqlite_rows import connect, transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS receipts (
    seq INTEGER PRIMARY KEY,
    channel BLOB NOT NULL,
    receipt TEXT NOT NULL,
    leaf BLOB NOT NULL,
    request BLOB,
    response BLOB,
    batch INTEGER
);
CREATE INDEX IF NOT EXISTS receipts_batch ON receipts(batch);
CREATE TABLE IF NOT EXISTS served (
    channel BLOB PRIMARY KEY,
    amount BLOB NOT NULL,
    voucher TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    first INTEGER NOT NULL,
    last INTEGER NOT NULL,
    root BLOB NOT NULL,
    listing_cid TEXT NOT NULL,
    state TEXT NOT NULL,             -- prepared | sent | anchored
    from_block INTEGER NOT NULL,
    anchor_seq INTEGER,
    tx TEXT,
    block INTEGER,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class BatchRow:
    id: int
    first: int
    last: int
    root: bytes
    listing_cid: str
    state: str
    from_block: int
    anchor_seq: int | None
    tx: str | None
    block: int | None


def _amount(value: int) -> bytes:
    return int(value).to_bytes(32, "big")


class ReceiptStore:
    """Receipts of one provider; ``issue`` numbers, signs and stores one in a transaction."""

    def __init__(self, path: Path, *, keep_bodies: bool = True) -> None:
        self.path = Path(path)
        self.keep_bodies = keep_bodies
        self._db = connect(self.path, _SCHEMA, synchronous="NORMAL")
        self._lock = threading.RLock()
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM receipts").fetchone()
        self._next = int(row[0]) + 1

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self._db, self._lock)

    # --- writing ---------------------------------------------------------------------------

    def issue(self, make: Callable[[int], Receipt], sign: Callable[[Receipt], SignedReceipt],
              voucher: SignedVoucher, request: bytes, response: bytes) -> SignedReceipt:
        """Number a receipt (``make(sequence)``), sign it and store it with the served voucher."""
        with self._tx() as db:
            signed = sign(make(self._next))
            db.execute(
                "INSERT INTO receipts (seq, channel, receipt, leaf, request, response) VALUES (?, ?, ?, ?, ?, ?)",
                (signed.sequence, bytes(signed.channel_id), signed.to_json(), signed.leaf,
                 request if self.keep_bodies else None, response if self.keep_bodies else None),
            )
            db.execute(
                "INSERT INTO served (channel, amount, voucher) VALUES (?, ?, ?) "
                "ON CONFLICT(channel) DO UPDATE SET amount = excluded.amount, voucher = excluded.voucher "
                "WHERE excluded.amount > served.amount",
                (bytes(voucher.channel_id), _amount(voucher.cumulative_amount), voucher.encode()),
            )
            self._next += 1
        return signed

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    # --- reading ---------------------------------------------------------------------------

    def served_vouchers(self) -> list[SignedVoucher]:
        with self._lock:
            rows = self._db.execute("SELECT voucher FROM served").fetchall()
        return [SignedVoucher.decode(str(r[0])) for r in rows]

    def receipt(self, sequence: int) -> tuple[str, int | None] | None:
        """The receipt JSON and its batch id (None while unbatched)."""
        with self._lock:
            row = self._db.execute("SELECT receipt, batch FROM receipts WHERE seq = ?", (sequence,)).fetchone()
        return None if row is None else (str(row[0]), None if row[1] is None else int(row[1]))

    def exchange(self, sequence: int) -> tuple[bytes, bytes] | None:
        """The request and response bodies of a receipt (what a validator re-runs)."""
        with self._lock:
            row = self._db.execute("SELECT request, response FROM receipts WHERE seq = ?", (sequence,)).fetchone()
        if row is None or row[0] is None:
            return None
        return bytes(row[0]), bytes(row[1])

    def receipts_after(self, after: int, limit: int) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT receipt FROM receipts WHERE seq > ? ORDER BY seq LIMIT ?",
                                    (after, limit)).fetchall()
        return [str(r[0]) for r in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM receipts").fetchone()[0])

    def unbatched(self, limit: int) -> list[tuple[int, bytes]]:
        """(sequence, leaf) of receipts in no batch yet, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, leaf FROM receipts WHERE batch IS NULL ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [(int(r[0]), bytes(r[1])) for r in rows]

    def unbatched_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM receipts WHERE batch IS NULL").fetchone()[0])

    def oldest_unbatched_age(self) -> float | None:
        with self._lock:
            row = self._db.execute("SELECT MIN(seq) FROM receipts WHERE batch IS NULL").fetchone()
        if row is None or row[0] is None:
            return None
        receipt = self.receipt(int(row[0]))
        assert receipt is not None
        issued = SignedReceipt.from_json(receipt[0]).receipt.issued_at
        return max(0.0, time.time() - issued)

    def leaves(self, batch_id: int) -> list[bytes]:
        with self._lock:
            rows = self._db.execute("SELECT leaf FROM receipts WHERE batch = ? ORDER BY seq", (batch_id,)).fetchall()
        return [bytes(r[0]) for r in rows]

    # --- batches ---------------------------------------------------------------------------

    def prepare_batch(self, first: int, last: int, root: bytes, listing_cid: str, from_block: int) -> int:
        with self._tx() as db:
            cursor = db.execute(
                "INSERT INTO batches (first, last, root, listing_cid, state, from_block, created) "
                "VALUES (?, ?, ?, ?, 'prepared', ?, ?)", (first, last, root, listing_cid, from_block, time.time()),
            )
            batch_id = int(cursor.lastrowid or 0)
            db.execute("UPDATE receipts SET batch = ? WHERE batch IS NULL AND seq BETWEEN ? AND ?",
                       (batch_id, first, last))
        return batch_id

    def mark_batch(self, batch_id: int, state: str, *, anchor_seq: int | None = None,
                   tx: str | None = None, block: int | None = None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE batches SET state = ?, anchor_seq = COALESCE(?, anchor_seq), tx = COALESCE(?, tx), "
                "block = COALESCE(?, block) WHERE id = ?", (state, anchor_seq, tx, block, batch_id),
            )

    def batch(self, batch_id: int) -> BatchRow | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, first, last, root, listing_cid, state, from_block, anchor_seq, tx, block "
                "FROM batches WHERE id = ?", (batch_id,)).fetchone()
        return None if row is None else _batch(row)

    def batches(self, *, unfinished: bool = False) -> list[BatchRow]:
        where = "WHERE state != 'anchored'" if unfinished else ""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, first, last, root, listing_cid, state, from_block, anchor_seq, tx, block "
                f"FROM batches {where} ORDER BY id").fetchall()
        return [_batch(r) for r in rows]


def _batch(row: Any) -> BatchRow:
    return BatchRow(int(row[0]), int(row[1]), int(row[2]), bytes(row[3]), str(row[4]), str(row[5]),
                    int(row[6]), None if row[7] is None else int(row[7]),
                    None if row[8] is None else str(row[8]), None if row[9] is None else int(row[9]))
