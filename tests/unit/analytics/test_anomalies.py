"""Anomaly rules on hand-made numbers: each flag fires exactly where its stated rule says."""

from __future__ import annotations

from deai.apps.analytics.anomalies import (
    JUMP,
    MIN_SAMPLES,
    WINDOW,
    SettledJob,
    price_outliers,
    rate_jumps,
)


def jobs(provider: str, pattern: str) -> list[SettledJob]:
    """``pattern``: one letter a job: ``f`` failed, ``d`` disputed, ``.`` fine."""
    return [SettledJob(provider, c == "f", c == "d") for c in pattern]


def test_a_provider_that_starts_failing_is_flagged_against_its_own_past() -> None:
    history = jobs("0xA", "." * 10 + "..fff") + jobs("0xB", "." * 15)
    flags = rate_jumps(history)
    assert [(f.kind, f.subject) for f in flags] == [("failure_rate_jump", "0xA")]
    assert "60%" in flags[0].detail and "its earlier rate" in flags[0].rule
    assert f"last {WINDOW} settled jobs" in flags[0].rule


def test_one_failure_or_a_steady_rate_is_not_a_jump() -> None:
    assert rate_jumps(jobs("0xA", "." * 10 + "....f")) == []  # one failure: under MIN_EVENTS
    assert rate_jumps(jobs("0xA", "f.f.f.f.f." + "f.f.f")) == []  # 60% before, 60% now


def test_a_new_provider_is_compared_with_the_rest_of_the_network() -> None:
    history = jobs("0xOld", "." * 20) + jobs("0xNew", "dd.d.")
    flags = rate_jumps(history)
    assert [(f.kind, f.subject) for f in flags] == [("dispute_rate_jump", "0xNew")]
    assert "the rest of the network" in flags[0].rule
    assert JUMP == 0.40


def test_price_outliers_use_the_modified_z_score_per_kind() -> None:
    prices = [(f"job {i}", "classify", p) for i, p in enumerate([100, 102, 98, 101, 99, 100, 500])]
    prices += [(f"job e{i}", "embed", p) for i, p in enumerate([10, 11, 9, 10, 12, 10])]
    flags = price_outliers(prices)
    assert [(f.subject, f.kind) for f in flags] == [("job 6", "job_price_outlier")]
    assert "classify" in flags[0].rule and "5.00×" in flags[0].detail


def test_equal_prices_flag_only_a_far_one_and_few_prices_flag_nothing() -> None:
    flat = [(f"p{i}", "inference", 10) for i in range(6)] + [("cheap", "inference", 4), ("close", "inference", 14)]
    assert [f.subject for f in price_outliers(flat, kind="offered_price_outlier")] == ["cheap"]
    few = [(f"p{i}", "inference", p) for i, p in enumerate([1, 1, 1, 100])]
    assert len(few) < MIN_SAMPLES and price_outliers(few) == []
