"""Parameters that make cheating a losing bet: the sampling rate p and the slash from a job's value.

A provider paid a price v for a job that costs it c to run (c ≤ v, or it would not bid)
can cheat by skipping the work. Each result is checked with probability p, and a proven
cheat loses the payment and the slashed collateral S. Against honest work, cheating gains

    E[gain] = (1 − p)·v − p·S − (v − c) = c − p·(v + S)

which is negative for every c ≤ v as soon as **p·S ≥ v**. The JobMarket enforces this
on chain: a sampled job locks ``S = max(collateral_bps · v, v / p + 1)`` of the provider's
stake (``JobMarket._collateral``), so p·S > v always holds; ``slash_for`` mirrors it.

The remaining freedom is p itself. A smaller p costs validators less (overhead ≈ p ×
compute) but locks more stake per job (S ≈ v/p). ``parameters_for`` picks the smallest p
that keeps S under a cap on the stake one job may lock, never below a floor that keeps
detection over many jobs high:

    p(v) = min(1, max(p_floor, v / S_max))

Devnet numbers (docs/verification.md): p_floor = 5 % (``DEFAULT_SAMPLE_BPS``), S_max = 100
tokens (the minimum provider stake), collateral 2 × price; so any job up to 5 tokens is
sampled at 5 % and locks 20 × its price, and a 50-token job is sampled at 50 %.
"""

from __future__ import annotations

from dataclasses import dataclass

from deai.chain.market_setup import MarketParams
from deai.chain.types import BPS
from deai.units import TokenAmount, tokens

DEFAULT_SAMPLE_BPS = 500
"""p = 5 %: validator work ≈ 5 % of provider work; a provider cheating on 5 % of 1,000 jobs
is caught with probability 1 − (1 − 0.0025)^1000 ≈ 0.92 (0.993 at p = 10 %)."""
DEFAULT_MAX_SLASH = tokens(100)
"""S_max: the most stake one job should lock (the devnet's minimum provider stake)."""


@dataclass(frozen=True)
class JobParameters:
    """What a job of a given value should use, and what cheating on it is worth."""

    value: TokenAmount
    sample_bps: int
    slash: TokenAmount
    cheating_gain: float
    """E[gain of skipping the work] when the work costs the whole price (the worst case): < 0."""

    @property
    def p(self) -> float:
        return self.sample_bps / BPS


def slash_for(price: int, sample_bps: int, collateral_bps: int = MarketParams().collateral_bps) -> TokenAmount:
    """The collateral a sampled job locks (and a proven cheat loses): JobMarket._collateral."""
    if not 1 <= sample_bps <= BPS:
        raise ValueError("the sampling rate is 1..10000 basis points")
    return TokenAmount(max(price * collateral_bps // BPS, price * BPS // sample_bps + 1))


def cheating_gain(price: int, cost: int, sample_bps: int, slash: int) -> float:
    """Expected gain of skipping a job that costs ``cost`` to run, against running it."""
    p = sample_bps / BPS
    return cost - p * (price + slash)


def parameters_for(
    price: int, *, floor_bps: int = DEFAULT_SAMPLE_BPS, max_slash: int = DEFAULT_MAX_SLASH,
    collateral_bps: int = MarketParams().collateral_bps,
) -> JobParameters:
    """p and the slash for a job worth ``price`` (see the module docstring)."""
    if price <= 0:
        raise ValueError("a job's value is positive")
    needed = -(-price * BPS // max_slash)  # ceil(v / S_max) in basis points
    sample_bps = min(BPS, max(floor_bps, needed))
    slash = slash_for(price, sample_bps, collateral_bps)
    return JobParameters(TokenAmount(price), sample_bps, slash,
                         cheating_gain(price, price, sample_bps, slash))


def break_even_rate(price: int, slash: int) -> float:
    """The smallest p at which cheating stops paying (p·(v + S) = v, the worst case c = v)."""
    return price / (price + slash)
