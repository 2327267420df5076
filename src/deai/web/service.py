"""The explorer's engine: one index, a follower thread that keeps it current, chain health.

``Explorer(settings)`` opens the DuckDB index, loads the deployment (retrying until it
exists, so the explorer may start before ``deai devnet up``), and — once ``start()`` is
called — indexes in a background thread every ``poll_s`` seconds. Pages read through
``read(fn)``, which serialises access to the one DuckDB connection with the indexer.
When the chain stops answering the follower keeps retrying; pages go on showing what was
indexed, with a banner saying since when the chain has been unreachable.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import duckdb
from web3 import Web3

from deai.apps.analytics import Indexer, IndexStatus, ensure_schema, index_status, open_index
from deai.apps.analytics.indexer import SpecKindResolver
from deai.chain.deploy import Deployment
from deai.errors import ChainError, DeaiError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class ExplorerSettings:
    """What an explorer needs; ``deai explorer`` builds it from the ``Config``."""

    deployment_file: Path
    index_file: Path | None
    """The DuckDB file; None keeps the index in memory (tests)."""
    rpc_url: str | None = None
    """Overrides the deployment file's RPC URL."""
    poll_s: float = 1.0
    refresh_s: int = 5
    """How often pages reload themselves in the browser (0: never)."""
    reorg_depth: int = 12
    max_range: int = 2_000
    spec_kinds: SpecKindResolver | None = field(default=None, compare=False)
    store_dir: Path | None = None
    """The local store, for job spec kinds and provenance checks (None: not used)."""


@dataclass(frozen=True)
class Health:
    """What the pages say about the chain and the index."""

    deployment: Deployment | None
    chain_ok: bool
    chain_error: str | None
    down_since: float | None
    last_indexed: float | None
    """Wall-clock time of the last successful indexing pass."""
    status: IndexStatus


class Explorer:
    def __init__(self, settings: ExplorerSettings) -> None:
        self.settings = settings
        self.db: duckdb.DuckDBPyConnection = open_index(settings.index_file)
        ensure_schema(self.db)
        self.lock = threading.Lock()
        self._indexer: Indexer | None = None
        self._deployment: Deployment | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: str | None = None
        self._down_since: float | None = None
        self._last_ok: float | None = None
        self._head: int | None = None
        self._stamp: int | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._follow, name="deai-explorer-indexer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        with self.lock:
            self.db.close()

    def _follow(self) -> None:
        while not self._stop.is_set():
            self.index_once()
            self._stop.wait(self.settings.poll_s)

    def index_once(self) -> bool:
        """One indexing pass; records the chain's health instead of raising."""
        try:
            indexer = self._ensure_indexer()
            indexer.run()
            self._head = indexer.follower.head()
        except (DeaiError, OSError) as exc:
            return self._failed(exc)
        except Exception as exc:  # a transport error web3 did not wrap: the chain is down
            return self._failed(exc)
        self._error, self._down_since, self._last_ok = None, None, time.time()
        return True

    def _failed(self, exc: Exception) -> bool:
        message = exc.message if isinstance(exc, DeaiError) else (
            f"indexing failed ({type(exc).__name__}); the explorer's log has the details")
        if self._error is None:
            log.warning("explorer: %s (%s)", message, exc)
            self._down_since = time.time()
        self._error = message
        return False

    def _ensure_indexer(self) -> Indexer:
        # A new deployment file (a reset devnet) means a new chain: start a new indexer,
        # which empties the index if the deployment differs.
        try:
            stamp = self.settings.deployment_file.stat().st_mtime_ns
        except FileNotFoundError:
            stamp = None
        if self._indexer is not None and stamp == self._stamp:
            return self._indexer
        self._indexer = None
        self._stamp = stamp
        deployment = Deployment.load(self.settings.deployment_file)
        if self.settings.rpc_url:
            deployment = deployment.with_rpc_url(self.settings.rpc_url)
        self._deployment = deployment
        w3 = Web3(Web3.HTTPProvider(deployment.rpc_url, request_kwargs={"timeout": 5}))
        try:
            chain_id = int(w3.eth.chain_id)
        except Exception as exc:  # any transport failure means the same: no chain there
            raise ChainError(f"the chain at {deployment.rpc_url} does not answer ({type(exc).__name__})",
                             hint="start it with `deai devnet up`") from None
        if chain_id != deployment.chain_id:
            raise ChainError(f"the chain at {deployment.rpc_url} has id {chain_id}, the deployment "
                             f"names {deployment.chain_id}", hint="point the explorer at the right chain")
        self._indexer = Indexer(
            self.db, w3, deployment, max_range=self.settings.max_range,
            reorg_depth=self.settings.reorg_depth, spec_kinds=self.settings.spec_kinds, lock=self.lock,
        )
        return self._indexer

    # --- reading --------------------------------------------------------------------------------

    def read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        with self.lock:
            return fn(self.db)

    @property
    def deployment(self) -> Deployment | None:
        return self._deployment

    @property
    def w3(self) -> Web3 | None:
        return self._indexer.w3 if self._indexer is not None else None

    def health(self) -> Health:
        status = self.read(lambda db: index_status(db, self._head))
        return Health(self._deployment, self._error is None and self._last_ok is not None,
                      self._error, self._down_since, self._last_ok, status)
