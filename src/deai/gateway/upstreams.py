"""The providers behind a gateway: where they answer, what they serve and charge, their lanes.

Providers come from the Registry (every active provider's endpoint) or from a fixed URL
list; each is asked for ``GET /v1/fastpath`` (address, prices) and ``GET /v1/models``.
A provider that does not answer is left out until the next refresh.

``Lanes`` are the gateway's channels to one provider, one request at a time each (see
``deai.client.channels``): a free lane is reused, a new one is opened (funded with the
gateway's deposit) while fewer than ``max_lanes`` exist, otherwise the request waits for
one. A lane that runs low is topped up before it pays; a lane whose channel is closing
is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
from anyio import to_thread

from deai.client.channels import ChannelSession, FastPath
from deai.errors import VoucherError
from deai.gateway.routing import UpstreamStats
from deai.units import Address, TokenAmount

log = logging.getLogger("deai.gateway")


@dataclass(frozen=True)
class ModelInfo:
    name: str
    cid: str
    task: str
    price: int


class Lanes:
    """The channels the gateway holds with one provider."""

    def __init__(self, fast: FastPath, provider: str, url: str, *, max_lanes: int, deposit: int) -> None:
        self.fast = fast
        self.provider = provider
        self.url = url
        self.max_lanes = max_lanes
        self.deposit = deposit
        self.sessions: list[ChannelSession] = []
        self._free: asyncio.Queue[ChannelSession] = asyncio.Queue()
        self._opening = 0

    def adopt(self, session: ChannelSession) -> None:
        """A channel from the wallet (a restarted gateway keeps its channels and amounts)."""
        session.url = self.url
        self.sessions.append(session)
        self._free.put_nowait(session)

    async def acquire(self, timeout: float) -> ChannelSession:
        try:
            return self._free.get_nowait()
        except asyncio.QueueEmpty:
            pass
        if len(self.sessions) + self._opening < self.max_lanes:
            self._opening += 1
            try:
                session = await to_thread.run_sync(
                    lambda: self.fast.open_channel(self.provider, self.deposit, url=self.url))
            finally:
                self._opening -= 1
            self.sessions.append(session)
            return session
        return await asyncio.wait_for(self._free.get(), timeout)

    def release(self, session: ChannelSession) -> None:
        if session.closing:
            if session in self.sessions:
                self.sessions.remove(session)
            return
        self._free.put_nowait(session)

    async def ensure_funds(self, session: ChannelSession, price: int) -> None:
        """Top the lane up when the next voucher would pass its deposit."""
        pending = session.pending
        if pending is not None and int(pending.cumulative_amount) - int(session.confirmed) >= price:
            return
        if int(session.remaining) < price:
            await to_thread.run_sync(lambda: session.top_up(max(self.deposit, price)))


@dataclass
class Upstream:
    """One provider as the gateway sees it."""

    address: Address
    url: str
    prices: dict[str, int]
    models: dict[str, ModelInfo]
    lanes: Lanes
    stats: UpstreamStats = field(default_factory=UpstreamStats)

    def serves(self, model: str, task: str) -> ModelInfo | None:
        info = self.models.get(model)
        return info if info is not None and info.task == task and task in self.prices else None

    def quote(self, task: str, units: int) -> TokenAmount:
        return TokenAmount(self.prices[task] * (units if task == "embed" else 1))

    def describe(self) -> dict[str, Any]:
        return {
            "address": self.address, "url": self.url,
            "prices": {k: str(v) for k, v in self.prices.items()},
            "models": sorted({m.name for m in self.models.values()}),
            "latency_ms": self.stats.latency_ms, "reputation": round(self.stats.reputation, 3),
            "successes": self.stats.successes, "failures": self.stats.failures,
            "running": self.stats.running, "resting": self.stats.resting(),
            "lanes": len(self.lanes.sessions), "paid": str(self.stats.paid),
            "recent_failures": self.stats.history,
        }


async def probe(http: httpx.AsyncClient, url: str) -> tuple[Address, dict[str, int], dict[str, ModelInfo]]:
    """A provider's address, prices and models, from its own API."""
    base = url.rstrip("/")
    info = (await http.get(base + "/v1/fastpath", timeout=5.0)).raise_for_status().json()
    listing = (await http.get(base + "/v1/models", timeout=5.0)).raise_for_status().json()
    prices = {k: int(v["price"]) for k, v in info["prices"].items()}
    models: dict[str, ModelInfo] = {}
    for item in listing["data"]:
        deai = item.get("deai") or {}
        model = ModelInfo(str(item["id"]), str(deai.get("cid", item["id"])), str(deai.get("task", "")),
                          int(deai.get("price", 0)))
        models[model.name] = model
        models[model.cid] = model
    return Address(str(info["provider"])), prices, models


def restore_lanes(fast: FastPath, upstream: Upstream) -> None:
    """Put the wallet's open channels to this provider back into its lanes (chain-checked)."""
    for session in fast.sessions():
        if session.provider != upstream.address:
            continue
        try:
            channel = session.chain_state()
        except Exception as exc:  # the chain may be briefly unreachable; the lane is not lost
            log.warning("cannot check channel 0x%s: %s", bytes(session.channel_id).hex(), exc)
            continue
        if not channel.exists or channel.closing:
            session.mark_closed()
            continue
        session.deposit = TokenAmount(int(channel.deposit))
        if int(channel.paid) > int(session.confirmed):
            session.resync(int(channel.paid))
        if len(upstream.lanes.sessions) < upstream.lanes.max_lanes:
            upstream.lanes.adopt(session)


def no_lane(provider: str) -> VoucherError:
    return VoucherError(f"no free channel to {provider}", reason="busy",
                        hint="raise --lanes or wait; the gateway tried other providers first")
