"""Redundant execution: k providers run the same spec; disagreement sends a validator in.

The JobMarket assigns one provider per job, so ``redundant(k)`` is k jobs: the client posts
the same spec k times with mode ``REDUNDANT`` and parameter k, and takes bids from k
different providers (``accept_distinct``). Anyone can rebuild the groups from the chain:
a client's ``REDUNDANT`` jobs with the same spec CID and k, in posting order, form groups
of k (``group_jobs``).

A validator compares the members' committed results with the comparison policy of the
model (``clusters``):

- they **disagree** → it re-executes once in the canonical mode and challenges every
  member whose result differs from its own. That is "the minority is challenged" when the
  majority is honest, and it is still right when it is not: two colluding providers that
  outvote an honest third lose, because the validator's own run is the reference, never
  the vote count;
- they **agree** (and come from at least two providers) → the result stands, but the group
  is still audited with a small probability (a ticket, as for sampling), because k
  colluders who agree on the same wrong output would pass any comparison. A colluding pair
  is therefore caught with the audit probability per group, and with certainty as soon as
  one honest provider lands in its group.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount

from deai.chain.events import BidPlaced, JobPosted
from deai.chain.jobmarket import JobMarket
from deai.chain.types import JobStatus, VerificationMode
from deai.errors import ContractRevert, MarketError
from deai.runtime.compare import Policy, compare_results
from deai.runtime.execute import WorkloadResult


@dataclass(frozen=True)
class GroupKey:
    client: str
    spec_cid: str
    k: int
    ordinal: int
    """Which group of k among this client's redundant jobs with this spec (0, 1, …)."""


def group_jobs(posted: Iterable[JobPosted]) -> dict[int, GroupKey]:
    """Job id → its redundancy group, for every ``REDUNDANT`` job among ``posted`` (oldest first)."""
    seen: dict[tuple[str, str, int], int] = {}
    groups: dict[int, GroupKey] = {}
    for event in sorted(posted, key=lambda e: int(e.job_id)):
        if event.mode is not VerificationMode.REDUNDANT:
            continue
        base = (str(event.client), str(event.spec_cid), int(event.param))
        count = seen.get(base, 0)
        seen[base] = count + 1
        groups[int(event.job_id)] = GroupKey(*base, count // int(event.param))
    return groups


def clusters(results: Sequence[tuple[int, WorkloadResult]], read: object, policy: Policy) -> list[list[int]]:
    """Partition job ids into classes of results that match each other under ``policy``.

    Each result joins the first class whose first member it matches (matching is a
    tolerance, so this is the greedy reading of "agree"; honest results sit orders of
    magnitude inside it, so the order never matters for them).
    """
    classes: list[tuple[WorkloadResult, list[int]]] = []
    for job_id, result in results:
        for representative, members in classes:
            if compare_results(representative, result, read, policy).match:  # type: ignore[arg-type]
                members.append(job_id)
                break
        else:
            classes.append((result, [job_id]))
    return [members for _, members in classes]


def accept_distinct(
    market: JobMarket, client: LocalAccount, job_ids: Sequence[int], *, timeout: float = 30.0,
    poll_s: float = 0.2, settle_s: float = 1.0,
) -> dict[int, str]:
    """Give each of a group's jobs to a different provider: job id → provider.

    Waits (up to the earliest bid-window end or ``timeout``) until the jobs have bids from
    at least as many providers as there are jobs, then, job by job, accepts the cheapest
    bid from a provider not yet chosen for the group. ``settle_s`` gives late bidders a
    moment once enough providers have shown up.
    """
    ids = [int(j) for j in job_ids]
    posted = {j: e for j in ids for e in market.job_events(j) if isinstance(e, JobPosted)}
    if len(posted) != len(ids):
        raise MarketError("some of these jobs were never posted", hint="pass the ids submit returned")
    window_end = min(e.bid_window_end for e in posted.values())
    deadline = time.monotonic() + timeout
    enough_since: float | None = None
    while True:
        bids = _bids(market, ids)
        providers = {p for per_job in bids.values() for p in per_job}
        now = max(market.chain_time(), int(time.time()))
        if len(providers) >= len(ids):
            enough_since = enough_since or time.monotonic()
            if time.monotonic() - enough_since >= settle_s:
                break
        if now >= window_end - 1 or time.monotonic() > deadline:
            break
        time.sleep(poll_s)
    chosen: dict[int, str] = {}
    for job_id in ids:
        if market.job(job_id).status is not JobStatus.OPEN:
            continue
        offers = sorted((price, p) for p, price in bids.get(job_id, {}).items() if p not in chosen.values())
        for _, provider in offers:
            try:
                market.accept_bid(client, job_id, provider)
            except ContractRevert:
                continue
            chosen[job_id] = provider
            break
    return chosen


def _bids(market: JobMarket, ids: list[int]) -> dict[int, dict[str, int]]:
    bids: dict[int, dict[str, int]] = {j: {} for j in ids}
    for job_id in ids:
        for event in market.job_events(job_id):
            if isinstance(event, BidPlaced):
                bids[job_id][str(event.provider)] = int(event.price)
    return bids
