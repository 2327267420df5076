"""Fixtures every integration test module may use: ``m``, the staged market of one test."""

from __future__ import annotations

import pytest

from deai.testing.market import Market
from deai.testing.plugin import Chain


@pytest.fixture
def m(staged_market: Market, chain: Chain) -> Market:
    """Providers and validators staked and registered; ``chain`` reverts this test's changes."""
    return staged_market
