"""Shared test settings. Chain fixtures come from the deai pytest plugin (deai.testing.plugin)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deai.config import Config


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Config]:
    """A Config whose data directory is private to the test."""
    yield Config(data_dir=tmp_path / "deai")
