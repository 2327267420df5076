"""A sample job history on the session's chain, written once per module and undone after."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pytest
from web3 import Web3

from deai.apps.analytics.sample import SampleHistory, make_sample_history
from deai.apps.analytics.schema import ALL_TABLES
from deai.chain.deploy import Deployment


@dataclass(frozen=True)
class Sampled:
    w3: Web3
    deployment: Deployment
    history: SampleHistory


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    return w3.provider.make_request(method, list(params))["result"]  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def sampled(w3: Web3, deployment: Deployment) -> Iterator[Sampled]:
    snapshot = rpc(w3, "evm_snapshot")
    try:
        yield Sampled(w3, deployment, make_sample_history(w3, deployment))
    finally:
        rpc(w3, "evm_revert", snapshot)


def dump(db: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    """Every compared table's rows, sorted, for equality checks between two indexes."""
    out = {}
    for table in ALL_TABLES:
        rows = db.execute(f"SELECT * FROM {table}").fetchall()
        out[table] = sorted(rows, key=repr)
    return out
