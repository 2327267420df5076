"""Whether a provider bids on a job, and at what price: a pure function of what it knows.

A provider bids its floor price for the job's kind (truthful bidding: the reverse auction
picks the lowest reputation-weighted price, so shading buys nothing but risk) when it
serves the model, runs the kind, has the hardware and a free slot, and the floor fits
under the job's maximum price. Otherwise it skips, with the reason a client is shown
("no provider serves model X").
"""

from __future__ import annotations

from dataclasses import dataclass

from deai.runtime.spec import WorkloadSpec


@dataclass(frozen=True)
class ProviderOffer:
    """What the bidding decision needs to know about the provider."""

    models: frozenset[str]
    prices: dict[str, int]
    cpus: int
    memory_mb: int
    gpus: int
    free_slots: int


@dataclass(frozen=True)
class BidDecision:
    bid: bool
    price: int = 0
    reason: str = ""
    retry_later: bool = False
    """True when only a passing condition (no free slot) ruled the job out."""


def decide_bid(spec: WorkloadSpec, max_price: int, offer: ProviderOffer) -> BidDecision:
    """Bid at the floor price, or skip with the first reason that rules the job out."""
    if spec.model not in offer.models:
        return BidDecision(False, reason=f"does not serve model {spec.model}")
    if spec.kind not in offer.prices:
        return BidDecision(False, reason=f"does not run {spec.kind!r} workloads")
    need = spec.resources
    if need.gpus > offer.gpus:
        return BidDecision(False, reason=f"needs {need.gpus} GPU(s), has {offer.gpus}")
    if need.cpus > offer.cpus or need.memory_mb > offer.memory_mb:
        return BidDecision(False, reason="needs more CPUs or memory than this provider has")
    if offer.free_slots < 1:
        return BidDecision(False, reason="no free slot (all workers busy)", retry_later=True)
    price = offer.prices[spec.kind]
    if price > max_price:
        return BidDecision(
            False, reason=f"floor price {price} is above the job's max price {max_price}"
        )
    return BidDecision(True, price=price)
