"""Anomaly flags, each with the rule that raised it written out.

Two kinds of rule, both plain statistics a reader can check by hand:

- **Rate jumps** (``rate_jumps``): a provider's failure rate (settled jobs that expired
  without its result or were rejected as fraud) or dispute rate (jobs challenged) over its
  last ``WINDOW`` settled jobs, against its own earlier rate — or the rest of the network's
  when it has fewer than ``WINDOW`` earlier jobs. Flagged when the recent rate is at least
  ``JUMP`` (40 percentage points) higher and at least ``MIN_EVENTS`` (2) of the recent jobs
  failed (or were disputed), so one bad job never raises a flag.
- **Price outliers** (``price_outliers``): within one workload kind, a price whose modified
  z-score |0.6745·(x − median) / MAD| exceeds 3.5 (Iglewicz and Hoaglin's rule, robust to the
  outliers themselves), given at least ``MIN_SAMPLES`` (5) prices. When more than half the
  prices are equal the MAD is 0; then a price more than 50% away from the median is flagged.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

WINDOW = 5
JUMP = 0.40
MIN_EVENTS = 2
MIN_SAMPLES = 5
Z_LIMIT = 3.5
FLAT_LIMIT = 0.5

RATE_RULE = (
    f"{{what}} rate over the provider's last {WINDOW} settled jobs is at least "
    f"{JUMP:.0%} above {{baseline}}, with at least {MIN_EVENTS} such jobs in that window"
)
PRICE_RULE = (
    f"modified z-score |0.6745·(price − median)/MAD| > {Z_LIMIT} among the "
    f"{{kind}} prices (at least {MIN_SAMPLES}); with MAD = 0, more than {FLAT_LIMIT:.0%} "
    "away from the median"
)


@dataclass(frozen=True)
class Anomaly:
    kind: str
    """``failure_rate_jump``, ``dispute_rate_jump``, ``job_price_outlier`` or ``offered_price_outlier``."""
    subject: str
    """What is flagged: a provider address, or ``job 12``."""
    rule: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "subject": self.subject, "rule": self.rule, "detail": self.detail}


@dataclass(frozen=True)
class SettledJob:
    """One settled job of a provider, oldest first, as the rate rules see it."""

    provider: str
    failed: bool
    disputed: bool


def rate_jumps(jobs: Sequence[SettledJob]) -> list[Anomaly]:
    """Providers whose failure or dispute rate jumped (``jobs`` in settlement order)."""
    by_provider: dict[str, list[SettledJob]] = {}
    for job in jobs:
        by_provider.setdefault(job.provider, []).append(job)
    flags: list[Anomaly] = []
    for what, kind, attr in (("failure", "failure_rate_jump", "failed"),
                             ("dispute", "dispute_rate_jump", "disputed")):
        for provider, own in sorted(by_provider.items()):
            recent, earlier = own[-WINDOW:], own[:-WINDOW]
            hits = sum(getattr(j, attr) for j in recent)
            if len(recent) < WINDOW or hits < MIN_EVENTS:
                continue
            if len(earlier) >= WINDOW:
                baseline_jobs, baseline = earlier, "its earlier rate"
            else:
                baseline_jobs = [j for j in jobs if j.provider != provider]
                baseline = "the rest of the network's rate"
            base_rate = (sum(getattr(j, attr) for j in baseline_jobs) / len(baseline_jobs)
                         if baseline_jobs else 0.0)
            rate = hits / len(recent)
            if rate - base_rate >= JUMP:
                flags.append(Anomaly(
                    kind, provider, RATE_RULE.format(what=what.capitalize(), baseline=baseline),
                    f"{what} rate {rate:.0%} over the last {len(recent)} settled jobs "
                    f"against {base_rate:.0%} ({baseline.removeprefix('the ')})",
                ))
    return flags


def price_outliers(
    prices: Sequence[tuple[str, str, int]], *, kind: str = "job_price_outlier"
) -> list[Anomaly]:
    """Outlying prices among ``(subject, workload kind, price)`` triples, per workload kind."""
    groups: dict[str, list[tuple[str, int]]] = {}
    for subject, workload, price in prices:
        groups.setdefault(workload, []).append((subject, price))
    flags: list[Anomaly] = []
    for workload, items in sorted(groups.items()):
        if len(items) < MIN_SAMPLES:
            continue
        values = [float(p) for _, p in items]
        median = statistics.median(values)
        mad = statistics.median(abs(v - median) for v in values)
        for subject, price in items:
            if mad > 0:
                score = 0.6745 * (price - median) / mad
                outlying = abs(score) > Z_LIMIT
                how = f"modified z-score {score:+.1f}"
            else:
                outlying = median > 0 and abs(price - median) > FLAT_LIMIT * median
                how = "MAD is 0"
            if outlying:
                ratio = price / median if median else float("inf")
                flags.append(Anomaly(
                    kind, subject, PRICE_RULE.format(kind=workload),
                    f"{workload} price {ratio:.2f}× the median ({how})",
                ))
    return flags
