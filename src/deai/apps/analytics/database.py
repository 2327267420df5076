"""Where the chain index lives and how it is opened.

The index is one DuckDB file, ``<data_dir>/analytics/index.duckdb``. DuckDB lets one
process hold a file for writing, so a running explorer (which indexes as it serves) owns
it; other commands ask the explorer over HTTP (``<data_dir>/analytics/explorer.json`` says
where it listens) or get ``IndexInUse`` with that hint.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from deai.config import Config
from deai.errors import IndexerError, IndexInUse


def index_dir(config: Config) -> Path:
    return config.data_dir / "analytics"


def index_path(config: Config) -> Path:
    return index_dir(config) / "index.duckdb"


def explorer_run_file(config: Config) -> Path:
    """Written by a running explorer: its pid and URL."""
    return index_dir(config) / "explorer.json"


def open_index(path: Path | None, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (or create) the index at ``path``; ``None`` gives an in-memory index."""
    if path is None:
        return duckdb.connect(":memory:")
    if read_only and not path.exists():
        raise IndexerError(f"no index at {path}", hint="build it with `deai index run`")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise IndexInUse(f"the index {path} is open in another process") from None
        raise IndexerError(f"cannot open the index {path}: {exc}") from None
    except duckdb.Error as exc:
        raise IndexerError(f"the index {path} is damaged: {exc}") from None
