"""Which provider gets a request: price, measured latency and reputation.

Each upstream keeps an exponentially weighted latency (ms), its successes and failures,
and how many requests it has running. A candidate's score is::

    price / cheapest price  ×  (1 + latency / 100 ms)  ×  (1 + running)  /  reputation

with reputation ``(successes + 1) / (successes + failures + 2)`` (a new provider starts at
½, a failing one sinks). The router picks the better of two random candidates ("power of
two choices"): close to the best, while load still spreads and every provider keeps being
measured. A provider never measured goes first, once. After a failure a provider rests
for 1 s, doubling per consecutive failure up to 30 s.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

LATENCY_ALPHA = 0.2
LATENCY_SCALE_MS = 100.0
MAX_COOLDOWN_S = 30.0


@dataclass
class UpstreamStats:
    """What the gateway has measured of one provider."""

    latency_ms: float | None = None
    successes: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    running: int = 0
    resting_until: float = 0.0
    paid: int = 0
    history: list[str] = field(default_factory=list)

    @property
    def reputation(self) -> float:
        return (self.successes + 1) / (self.successes + self.failures + 2)

    def resting(self, now: float | None = None) -> bool:
        return (now if now is not None else time.monotonic()) < self.resting_until

    def success(self, latency_ms: float, paid: int) -> None:
        self.successes += 1
        self.consecutive_failures = 0
        self.paid += paid
        self.latency_ms = latency_ms if self.latency_ms is None else (
            (1 - LATENCY_ALPHA) * self.latency_ms + LATENCY_ALPHA * latency_ms)

    def failure(self, why: str) -> None:
        self.failures += 1
        self.consecutive_failures += 1
        self.resting_until = time.monotonic() + min(MAX_COOLDOWN_S, 2.0 ** (self.consecutive_failures - 1))
        self.history = [*self.history[-9:], why]


@dataclass(frozen=True)
class Candidate:
    key: str
    price: int
    stats: UpstreamStats


def score(candidate: Candidate, cheapest: int) -> float:
    stats = candidate.stats
    latency = stats.latency_ms if stats.latency_ms is not None else 0.0
    relative_price = candidate.price / cheapest if cheapest > 0 else 1.0
    return relative_price * (1 + latency / LATENCY_SCALE_MS) * (1 + stats.running) / stats.reputation


def choose(candidates: Sequence[Candidate], rng: random.Random | None = None) -> Candidate | None:
    """The provider for the next attempt (None when no candidate is left)."""
    if not candidates:
        return None
    now = time.monotonic()
    awake = [c for c in candidates if not c.stats.resting(now)] or list(candidates)
    fresh = [c for c in awake if c.stats.latency_ms is None and c.stats.running == 0]
    if fresh:
        return min(fresh, key=lambda c: c.price)
    if len(awake) == 1:
        return awake[0]
    cheapest = min(c.price for c in awake)
    a, b = (rng or random).sample(list(awake), 2)
    return a if score(a, cheapest) <= score(b, cheapest) else b
