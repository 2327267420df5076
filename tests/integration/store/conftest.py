"""Fixtures for deai.store integration tests: stores and real gateway servers on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deai.store import GatewayServer, LocalStore


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


@pytest.fixture
def gateway(store: LocalStore) -> Iterator[GatewayServer]:
    """An honest gateway over ``store``: uvicorn in a thread, a free loopback port."""
    with GatewayServer(store) as server:
        yield server
