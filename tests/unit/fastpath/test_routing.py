"""Routing: unmeasured providers first, then the better of two by price, latency and reputation."""

from __future__ import annotations

import random

from deai.gateway.routing import Candidate, UpstreamStats, choose, score


def _candidate(key: str, price: int, latency: float | None, failures: int = 0) -> Candidate:
    stats = UpstreamStats(latency_ms=latency, successes=10, failures=failures)
    return Candidate(key, price, stats)


def test_an_unmeasured_provider_is_tried_first() -> None:
    picked = choose([_candidate("a", 1, 5.0), _candidate("b", 2, None)])
    assert picked is not None and picked.key == "b"


def test_cheaper_faster_and_reliable_providers_score_better() -> None:
    cheap, dear = _candidate("a", 1, 10.0), _candidate("b", 2, 10.0)
    slow, flaky = _candidate("c", 1, 500.0), _candidate("d", 1, 10.0, failures=10)
    assert score(cheap, 1) < score(dear, 1)
    assert score(cheap, 1) < score(slow, 1)
    assert score(cheap, 1) < score(flaky, 1)
    rng = random.Random(1)
    wins = [choose([cheap, slow], rng) for _ in range(20)]
    assert all(w is cheap for w in wins)


def test_a_failing_provider_rests_and_its_reputation_falls() -> None:
    stats = UpstreamStats()
    stats.failure("boom")
    stats.failure("boom")
    assert stats.resting() and stats.reputation < 0.5
    resting = Candidate("a", 1, stats)
    awake = _candidate("b", 5, 50.0)
    assert choose([resting, awake]) is awake
    stats.success(20.0, 1)
    assert stats.consecutive_failures == 0 and stats.latency_ms == 20.0
