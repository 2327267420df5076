"""Index every deai contract's events into DuckDB: ranged, resumable, reorg-safe.

``Indexer(db, w3, deployment).run()`` catches up from its cursor to the chain head:

1. **Find where to start.** The cursor (``meta.next_block``) minus ``reorg_depth`` blocks,
   always re-read because the newest blocks may still change. Before that, the newest
   remembered block hash is compared with the chain's; if it differs (a reorg deeper than
   ``reorg_depth``, an ``evm_revert``, a reset devnet), older remembered blocks are checked,
   going back in doubling steps, until one matches — the index restarts just above it
   (or from the deployment block if none does).
2. **Read ranges.** ``deai.chain.follow.EventFollower`` reads logs ``max_range`` blocks
   at a time up to the head minus ``confirmations``.
3. **Write each range in one DuckDB transaction**: delete every fact row at or above the
   range's first block, insert the range's rows, remember its blocks' hashes, move the
   cursor past it, and (for the last range of a run) rebuild the state tables. A process
   killed at any point leaves the previous transaction's tables; the next run re-reads from
   the cursor and writes the same rows again. So an index restarted any number of times
   ends with exactly the tables one uninterrupted run writes.

The index belongs to one deployment: if the chain id, the contract addresses or the
deployment block change (``deai devnet reset``), or the schema version changes, it is
emptied and rebuilt from the chain — an index is a cache of the chain, never a source.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import duckdb
from requests.exceptions import ConnectionError as RequestsConnectionError
from web3 import Web3
from web3.exceptions import BlockNotFound, Web3RPCError
from web3.types import BlockData

from deai.apps.analytics.rows import RowBuilder, StakeState
from deai.apps.analytics.schema import (
    FACT_TABLES,
    META_SQL,
    SCHEMA_VERSION,
    STATE_SQL,
    VIEW_SQL,
    fact_ddl,
)
from deai.chain.deploy import Deployment
from deai.chain.follow import ChainEvent, EventFollower
from deai.errors import ChainUnavailable, IndexerError

log = logging.getLogger(__name__)

INDEXED_CONTRACTS = (
    "Token", "Staking", "Registry", "JobMarket", "Channels", "Anchors", "AINFT", "AIRequests",
    "ReceiptDisputes", "ValidatorPool",
)
"""Contracts whose events the index reads (a new contract is added here once ``rows.py``
knows its events; those missing from a deployment are skipped)."""

SpecKindResolver = Callable[[str], str | None]
"""Spec CID → its workload kind, or None when the spec is not at hand (off-chain data)."""


@dataclass(frozen=True)
class RangeDone:
    """One range written: what a progress callback is told."""

    first_block: int
    last_block: int
    events: int


@dataclass(frozen=True)
class RunResult:
    from_block: int
    next_block: int
    ranges: int
    events: int
    rewound_to: int | None
    """Set when a reorg (or a new chain) made the index go back further than ``reorg_depth``."""


@dataclass(frozen=True)
class IndexStatus:
    chain_id: int | None
    deployment_block: int | None
    next_block: int | None
    """The first block not yet indexed (None: never run)."""
    head: int | None
    """The chain's head, or None if the chain did not answer."""
    events: int
    jobs: int
    providers: int

    @property
    def behind(self) -> int | None:
        if self.head is None or self.next_block is None:
            return None
        return max(0, self.head + 1 - self.next_block)

    def as_dict(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id, "deployment_block": self.deployment_block,
            "next_block": self.next_block, "head": self.head, "behind": self.behind,
            "events": self.events, "jobs": self.jobs, "providers": self.providers,
        }


def ensure_schema(db: duckdb.DuckDBPyConnection) -> None:
    """Create every table and view that does not exist yet."""
    for sql in (*META_SQL, *fact_ddl()):
        db.execute(sql)
    for table, select in STATE_SQL.items():
        exists = db.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
        ).fetchone()
        if not exists or not exists[0]:
            db.execute(f"CREATE TABLE {table} AS {select}")
    for view, select in VIEW_SQL.items():
        db.execute(f"CREATE OR REPLACE VIEW {view} AS {select}")


def refresh_state(db: duckdb.DuckDBPyConnection) -> None:
    """Rebuild the state tables from the facts (call inside the writing transaction)."""
    for table, select in STATE_SQL.items():
        db.execute(f"CREATE OR REPLACE TABLE {table} AS {select}")


def get_meta(db: duckdb.DuckDBPyConnection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return None if row is None else str(row[0])


def _set_meta(db: duckdb.DuckDBPyConnection, key: str, value: object) -> None:
    db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, str(value)])


class Indexer:
    """Index ``deployment``'s contracts from the chain at ``w3`` into the DuckDB ``db``.

    ``db`` is a connection the indexer owns while it runs (the web app hands it a cursor of
    its own connection; DuckDB serialises writers). ``lock`` guards it when one process
    both indexes and reads.
    """

    def __init__(
        self,
        db: duckdb.DuckDBPyConnection,
        w3: Web3,
        deployment: Deployment,
        *,
        max_range: int = 2_000,
        reorg_depth: int = 12,
        confirmations: int = 0,
        spec_kinds: SpecKindResolver | None = None,
        lock: threading.Lock | None = None,
    ) -> None:
        if max_range < 1 or reorg_depth < 0 or confirmations < 0:
            raise IndexerError("max_range must be ≥ 1, reorg_depth and confirmations ≥ 0")
        self.db = db
        self.w3 = w3
        self.deployment = deployment
        self.max_range = max_range
        self.reorg_depth = reorg_depth
        self.spec_kinds = spec_kinds
        self.lock = lock or threading.Lock()
        contracts = {
            name: deployment.contract(w3, name)
            for name in INDEXED_CONTRACTS if name in deployment.contracts
        }
        self.follower = EventFollower(w3, contracts, max_range=max_range, confirmations=confirmations)
        with self.lock:
            ensure_schema(db)
            self._adopt_deployment()

    # --- identity of the index ----------------------------------------------------------------

    def _identity(self) -> str:
        d = self.deployment
        return json.dumps({"schema": SCHEMA_VERSION, "chain_id": d.chain_id, "block": d.block,
                           "contracts": {k: v.lower() for k, v in sorted(d.contracts.items())}},
                          sort_keys=True)

    def _adopt_deployment(self) -> None:
        identity = self._identity()
        if get_meta(self.db, "identity") == identity:
            return
        if get_meta(self.db, "identity") is not None:
            log.info("the index belongs to another deployment or schema; rebuilding it")
        with self._transaction():
            self._truncate_from(0)
            self.db.execute("DELETE FROM spec_kinds")
            _set_meta(self.db, "identity", identity)
            _set_meta(self.db, "chain_id", self.deployment.chain_id)
            _set_meta(self.db, "deployment_block", self.deployment.block)
            _set_meta(self.db, "next_block", self.deployment.block)
            refresh_state(self.db)

    # --- running ------------------------------------------------------------------------------

    def next_block(self) -> int:
        value = get_meta(self.db, "next_block")
        return self.deployment.block if value is None else int(value)

    def run(
        self,
        *,
        to_block: int | None = None,
        max_ranges: int | None = None,
        progress: Callable[[RangeDone], None] | None = None,
    ) -> RunResult:
        """Index from the cursor (less the reorg depth) to the head (or ``to_block``)."""
        with self.lock:
            return self._run(to_block, max_ranges, progress)

    def _run(
        self, to_block: int | None, max_ranges: int | None,
        progress: Callable[[RangeDone], None] | None,
    ) -> RunResult:
        try:
            head = self.follower.head()
            last = head if to_block is None else min(head, to_block)
            cursor = self.next_block()
            fork = self._fork_point(cursor)
            if fork == cursor and head < cursor and get_meta(self.db, "derived_through") == str(cursor):
                # No new block and the newest indexed one is still on the chain: nothing to do
                # (an idle chain polled every second costs one hash comparison, not a rewrite).
                return RunResult(cursor, cursor, 0, 0, None)
            start = max(self.deployment.block, min(cursor - self.reorg_depth, fork))
            rewound = start if fork < cursor - self.reorg_depth else None
            first, ranges, events = start, 0, 0
            while start <= last and (max_ranges is None or ranges < max_ranges):
                end = min(start + self.max_range - 1, last)
                found, _ = self.follower.poll(start, to_block=end)
                final = end >= last or (max_ranges is not None and ranges + 1 >= max_ranges)
                self._write_range(start, end, found, refresh=final)
                ranges += 1
                events += len(found)
                if progress is not None:
                    progress(RangeDone(start, end, len(found)))
                start = end + 1
        except (OSError, RequestsConnectionError, Web3RPCError) as exc:
            raise ChainUnavailable(  # the transport's own words are in the log, not on a page
                f"the chain at {self.deployment.rpc_url} does not answer ({type(exc).__name__})"
            ) from None
        went_back = first > head and first < cursor
        if ranges == 0 and (went_back or get_meta(self.db, "derived_through") != str(cursor)):
            # Nothing to read: the chain went back below the cursor (drop what it undid), or
            # a killed run left the state tables behind the facts.
            with self._transaction():
                if went_back:
                    self._truncate_from(first)
                    _set_meta(self.db, "next_block", first)
                self._resolve_spec_kinds()
                refresh_state(self.db)
                _set_meta(self.db, "derived_through", self.next_block())
        return RunResult(first, self.next_block(), ranges, events, rewound)

    def follow(self, stop: threading.Event, *, interval: float = 1.0,
               on_error: Callable[[Exception], None] | None = None) -> None:
        """Index until ``stop`` is set, polling every ``interval`` seconds."""
        while not stop.is_set():
            try:
                self.run()
            except Exception as exc:  # a down chain must not end the follower; it retries
                if on_error is not None:
                    on_error(exc)
                else:
                    log.warning("indexer: %s", exc)
            stop.wait(interval)

    def status(self) -> IndexStatus:
        try:
            head: int | None = int(self.w3.eth.block_number)
        except Exception:  # the chain may be down; the index still answers
            head = None
        return index_status(self.db, head)

    # --- writing ------------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _truncate_from(self, block: int) -> None:
        for table in (*FACT_TABLES, "blocks"):
            self.db.execute(f"DELETE FROM {table} WHERE block_number >= ?", [block])

    def _write_range(self, start: int, end: int, found: list[ChainEvent], *, refresh: bool) -> None:
        blocks = self._block_headers({e.block_number for e in found} | {end})
        with self._transaction():
            self._truncate_from(start)
            builder = RowBuilder(self._stake_before(start))
            for event in found:
                builder.add(event, blocks[event.block_number][1])
            for table, rows in builder.finish().items():
                if rows:
                    marks = ", ".join("?" * len(rows[0]))
                    self.db.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
            with_events = sorted({e.block_number for e in found})
            if with_events:
                self.db.executemany(
                    "INSERT INTO blocks VALUES (?, ?, ?)",
                    [(number, *blocks[number]) for number in with_events],
                )
            _set_meta(self.db, "next_block", end + 1)
            _set_meta(self.db, "cursor_hash", blocks[end][0])
            if refresh:
                self._resolve_spec_kinds()
                refresh_state(self.db)
                _set_meta(self.db, "derived_through", end + 1)

    def _stake_before(self, block: int) -> Callable[[str], StakeState]:
        def prior(who: str) -> StakeState:
            row = self.db.execute(
                "SELECT staked_after, unbonding_after FROM stake_events "
                "WHERE who = ? AND block_number < ? ORDER BY block_number DESC, log_index DESC LIMIT 1",
                [who, block],
            ).fetchone()
            return (0, 0) if row is None else (int(row[0]), int(row[1]))

        return prior

    def _block_headers(self, numbers: Iterable[int]) -> dict[int, tuple[str, int]]:
        """Block number → (hash, timestamp), read in one JSON-RPC batch."""
        wanted = sorted(numbers)
        with self.w3.batch_requests() as batch:
            for number in wanted:
                batch.add(self.w3.eth.get_block(number))
            answers = batch.execute()
        out: dict[int, tuple[str, int]] = {}
        for number, block in zip(wanted, answers, strict=True):
            header = cast(BlockData, block)
            out[number] = (_hex(header["hash"]), int(header["timestamp"]))
        return out

    def _resolve_spec_kinds(self) -> None:
        if self.spec_kinds is None:
            return
        missing = self.db.execute(
            "SELECT DISTINCT spec_cid FROM job_events WHERE spec_cid IS NOT NULL "
            "AND spec_cid NOT IN (SELECT spec_cid FROM spec_kinds) ORDER BY spec_cid"
        ).fetchall()
        for (spec_cid,) in missing:
            kind = self.spec_kinds(str(spec_cid))
            if kind is not None:
                self.db.execute("INSERT INTO spec_kinds VALUES (?, ?)", [spec_cid, kind])

    # --- reorgs -------------------------------------------------------------------------------

    def _chain_hash(self, number: int) -> str | None:
        try:
            block = self.w3.eth.get_block(number)
        except BlockNotFound:  # beyond the head of a chain that went back (evm_revert, a reorg)
            return None
        return _hex(block["hash"])

    def _fork_point(self, cursor: int) -> int:
        """The first block whose remembered hash may be wrong (``cursor`` if none is)."""
        cursor_hash = get_meta(self.db, "cursor_hash")
        if cursor_hash is None or self._chain_hash(cursor - 1) == cursor_hash:
            return cursor
        known = self.db.execute(
            "SELECT block_number, block_hash FROM blocks WHERE block_number < ? "
            "ORDER BY block_number DESC", [cursor]
        ).fetchall()
        step = 1
        index = 0
        while index < len(known):
            number, block_hash = int(known[index][0]), str(known[index][1])
            if self._chain_hash(number) == block_hash:
                log.info("reorg: blocks above %d changed; re-indexing from there", number)
                return number + 1
            index += step
            step *= 2
        log.info("reorg: no remembered block is on this chain; re-indexing from the deployment")
        return self.deployment.block


def index_status(db: duckdb.DuckDBPyConnection, head: int | None) -> IndexStatus:
    def count(table: str) -> int:
        row = db.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0

    chain_id = get_meta(db, "chain_id")
    deployment_block = get_meta(db, "deployment_block")
    next_block = get_meta(db, "next_block")
    return IndexStatus(
        chain_id=int(chain_id) if chain_id else None,
        deployment_block=int(deployment_block) if deployment_block else None,
        next_block=int(next_block) if next_block else None,
        head=head,
        events=count("events"), jobs=count("jobs"), providers=count("providers"),
    )


def _hex(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return str(value)


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass (tests and the CLI use it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
