"""Reputation: scores, their on-chain encoding, and the stake-weighted median with clipping."""

from __future__ import annotations

from fractions import Fraction

import pytest

from deai.verify.reputation import (
    PREFIX,
    Ballot,
    consensus,
    decode_scores,
    encode_scores,
    score_provider,
    weighted_median,
)


def test_scores_rise_with_verified_results_and_halve_per_failure() -> None:
    assert score_provider(0, 0) == 10_000
    assert score_provider(10, 0) == 11_000
    assert score_provider(500, 0) == 15_000  # capped at +50 %
    assert score_provider(10, 1) == 5_500
    assert score_provider(0, 30) == 1  # never 0: the market reads 0 as "neutral"
    with pytest.raises(ValueError):
        score_provider(-1, 0)


def test_score_posts_round_trip_and_malformed_ones_are_not_scores() -> None:
    uri = encode_scores({3: 9_000, 1: 12_000})
    assert uri == PREFIX + "1=12000,3=9000"
    assert decode_scores(uri) == {1: 12_000, 3: 9_000}
    for bad in ("other:1=2", PREFIX, PREFIX + "1=2,1=3", PREFIX + "0=5", PREFIX + "1=70000", PREFIX + "x=1"):
        assert decode_scores(bad) is None
    many = encode_scores({pid: 10_000 for pid in range(1, 100)})
    assert len(many.encode()) <= 256 and decode_scores(many) is not None  # the rest is left out


def test_weighted_median_is_the_score_half_the_stake_stands_behind() -> None:
    assert weighted_median([(10, 1), (20, 1), (30, 1)]) == 20
    assert weighted_median([(10, 5), (20, 1), (30, 1)]) == 10
    assert weighted_median([(10, 1), (90, 3)]) == 90
    assert weighted_median([(10, 1), (90, 3)], Fraction(9, 10)) == 10


def test_a_minority_cannot_inflate_a_provider_and_honest_majority_rules() -> None:
    honest = [Ballot("0xa", 100, {1: 5_000, 2: 11_000}), Ballot("0xb", 100, {1: 5_000, 2: 11_000})]
    friend = Ballot("0xc", 90, {1: 65_535, 2: 11_000})
    result = consensus([*honest, friend])
    assert result[1].median == 5_000
    assert result[1].score == 5_000  # the friend's 65535 is clipped to the median
    assert result[2].score == 11_000
    slanderer = Ballot("0xd", 90, {2: 1})
    lowered = consensus([*honest, slanderer])[2]
    assert lowered.median == 11_000 and 7_000 < lowered.score < 11_000  # bounded by its stake share


def test_consensus_does_not_depend_on_the_order_of_ballots() -> None:
    ballots = [Ballot(f"0x{i}", 10 + i, {1: 9_000 + 100 * i, 2: 12_000 - 300 * i}) for i in range(5)]
    assert consensus(ballots) == consensus(list(reversed(ballots)))
    assert consensus([Ballot("0x1", 0, {1: 5})]) == {}
