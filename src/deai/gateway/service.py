"""``Gateway``: one OpenAI-compatible endpoint in front of many providers, paying through channels.

For each request the gateway picks a provider that serves the model (``routing.py``),
takes one of its lanes (a channel, ``upstreams.py``), pays with a voucher and forwards the
body unchanged. The answer comes back with the provider's receipt, which the lane checks
against the bytes sent and received before the answer is passed on (the receipt rides
along in ``X-Deai-Receipt``; the wallet keeps it).

When a provider fails — refuses the connection, times out, answers 5xx, or dies in the
middle of a stream — the gateway tries another. It never pays twice for one request: an
attempt without a receipt is not served, so its voucher stays pending on that lane and is
sent again by the lane's next request (the provider accepts an unserved voucher once
more); only the attempt that answers is charged. A stream that breaks is resumed on
another provider: generation is seeded (seed 0 unless the request names one), so the new
provider produces the same text, and the gateway passes on only what the client has not
seen yet — the client reads one uninterrupted answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from anyio import to_thread
from eth_account.signers.local import LocalAccount
from web3 import Web3

from deai.chain.deploy import Deployment
from deai.chain.registry import Registry
from deai.client.channels import NO_DELAY, ChannelSession, FastPath, stream_receipt
from deai.errors import DeaiError, SignatureError, VoucherError
from deai.gateway.routing import Candidate, choose
from deai.gateway.upstreams import Lanes, Upstream, probe, restore_lanes
from deai.market.discovery import list_providers
from deai.market.vouchers import VOUCHER_HEADER
from deai.node.fastpath import openai_api as oa
from deai.node.fastpath.receipts import RECEIPT_HEADER, SSE_RECEIPT_PREFIX
from deai.units import TokenAmount

log = logging.getLogger("deai.gateway")

PROVIDER_HEADER = "X-Deai-Provider"
ATTEMPTS_HEADER = "X-Deai-Attempts"
ROUTE_HEADER = "X-Deai-Route"
"""A client may name the provider address to try first (the others remain the fallback)."""


@dataclass(frozen=True)
class GatewaySettings:
    deposit: int
    """Tokens each new channel is funded with (and each top-up adds)."""
    lanes: int = 4
    """Channels (concurrent requests) per provider."""
    timeout_s: float = 30.0
    """Longest wait for an answer, or between two pieces of a stream."""
    connect_timeout_s: float = 2.0
    max_attempts: int = 3
    provider_urls: tuple[str, ...] = ()
    """Use these providers; empty: every active provider in the Registry."""
    refresh_s: float = 30.0


class Failure(Exception):
    """An attempt that got no paid answer; the gateway moves on to another provider."""


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]


class Gateway:
    """The gateway's state: providers, lanes, wallet; ``answer`` and ``stream`` serve requests."""

    def __init__(self, account: LocalAccount, deployment: Deployment, settings: GatewaySettings, *,
                 data_dir: Any = None, w3: Web3 | None = None) -> None:
        self.account = account
        self.deployment = deployment
        self.settings = settings
        self.fast = FastPath(account, deployment, data_dir=data_dir, w3=w3)
        self.registry = Registry(self.fast.w3, deployment)
        self.upstreams: dict[str, Upstream] = {}
        self.http: httpx.AsyncClient | None = None
        self._refresher: asyncio.Task[None] | None = None
        self.requests = 0
        self.failovers = 0
        self._started = False
        self._start_lock = asyncio.Lock()

    # --- lifecycle (inside the server's event loop) --------------------------------------------

    async def ensure_started(self) -> None:
        """Start on first use, inside the server's event loop (one caller starts, others wait)."""
        if self._started:
            return
        async with self._start_lock:
            if not self._started:
                await self.start()
                self._started = True

    async def start(self) -> None:
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        self.http = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(limits=limits, socket_options=NO_DELAY),
            timeout=httpx.Timeout(self.settings.timeout_s, connect=self.settings.connect_timeout_s))
        await self.refresh()
        self._refresher = asyncio.create_task(self._refresh_forever())

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
        if self.http is not None:
            await self.http.aclose()
        self.fast.close()

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.refresh_s)
            try:
                await self.refresh()
            except Exception:
                log.exception("refreshing the provider list failed")

    async def refresh(self) -> None:
        """Find providers (Registry or fixed URLs) and learn their prices and models."""
        assert self.http is not None
        urls = list(self.settings.provider_urls)
        if not urls:
            listings = await to_thread.run_sync(
                lambda: list_providers(self.registry, from_block=self.deployment.block))
            urls = [p.endpoint for p in listings if p.endpoint.startswith("http")]
        for url in urls:
            try:
                address, prices, models = await probe(self.http, url)
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                log.info("provider at %s left out for now: %s", url, exc)
                continue
            known = self.upstreams.get(address)
            if known is not None:
                known.url, known.prices, known.models = url.rstrip("/"), prices, models
                known.lanes.url = known.url
                continue
            upstream = Upstream(address, url.rstrip("/"), prices, models,
                                Lanes(self.fast, address, url.rstrip("/"), max_lanes=self.settings.lanes,
                                      deposit=self.settings.deposit))
            await to_thread.run_sync(restore_lanes, self.fast, upstream)
            self.upstreams[address] = upstream

    # --- choosing --------------------------------------------------------------------------------

    def candidates(self, model: str, task: str, units: int, tried: set[str]) -> list[Candidate]:
        return [Candidate(u.address, int(u.quote(task, units)), u.stats)
                for u in self.upstreams.values() if u.address not in tried and u.serves(model, task)]

    def pick(self, model: str, task: str, units: int, tried: set[str], prefer: str | None) -> Upstream | None:
        if prefer and prefer not in tried:
            for upstream in self.upstreams.values():
                if upstream.address.lower() == prefer.lower() and upstream.serves(model, task):
                    return upstream
        chosen = choose(self.candidates(model, task, units, tried))
        return None if chosen is None else self.upstreams[chosen.key]

    def models(self) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for upstream in self.upstreams.values():
            for info in upstream.models.values():
                entry = seen.setdefault(info.name, {
                    "id": info.name, "object": "model", "created": 0, "owned_by": "deai-gateway",
                    "deai": {"task": info.task, "cids": [], "providers": 0, "lowest_price": None}})
                meta = entry["deai"]
                if info.cid not in meta["cids"]:
                    meta["cids"].append(info.cid)
                if info.name == info.cid or upstream.address in meta.setdefault("_seen", []):
                    continue
                meta["_seen"].append(upstream.address)
                meta["providers"] += 1
                price = upstream.quote(info.task, 1) if info.task in upstream.prices else None
                if price is not None and (meta["lowest_price"] is None or price < int(meta["lowest_price"])):
                    meta["lowest_price"] = str(price)
        for entry in seen.values():
            entry["deai"].pop("_seen", None)
        return list(seen.values())

    # --- one attempt -----------------------------------------------------------------------------

    async def _lane(self, upstream: Upstream, price: int) -> ChannelSession:
        try:
            lane = await upstream.lanes.acquire(self.settings.timeout_s)
        except (TimeoutError, DeaiError) as exc:
            raise Failure(f"no lane to {upstream.address}: {exc}") from None
        try:
            await upstream.lanes.ensure_funds(lane, price)
        except DeaiError as exc:
            upstream.lanes.release(lane)
            raise Failure(f"cannot fund a lane to {upstream.address}: {exc}") from None
        return lane

    def _refused(self, upstream: Upstream, lane: ChannelSession, status: int, body: bytes) -> Failure | Answer:
        """A non-200 answer: the client's fault (passed on), or the provider's (try another)."""
        if 400 <= status < 500 and status != 499:
            lane.refused()  # refused before the voucher was taken: nothing is pending
        else:
            lane.failed()
        try:
            data = json.loads(body)
        except ValueError:
            data = {}
        error = data.get("error") if isinstance(data, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        if status == 402:
            payment = data.get("payment") or {}
            channel = payment.get("channel") or {}
            if code in ("stale", "underpaid") and channel.get("served") is not None:
                lane.resync(int(channel["served"]))  # an answer was lost on the way: carry on from there
            elif code in ("closing", "unknown_channel"):
                lane.mark_closed()
            if code == "underpaid":
                price = payment.get("price")
                log.info("provider %s asks %s now; refreshing its prices", upstream.address, price)
            return Failure(f"{upstream.address} refused payment: {code}")
        if status >= 500 or status in (408, 429, 499):
            return Failure(f"{upstream.address} answered {status}")
        return Answer(status, body, {PROVIDER_HEADER: upstream.address})

    async def answer(self, path: str, body: bytes, model: str, task: str, units: int,
                     prefer: str | None = None) -> Answer:
        """A non-streamed request: the first provider that answers with a valid receipt."""
        assert self.http is not None
        self.requests += 1
        tried: set[str] = set()
        reasons: list[str] = []
        for attempt in range(1, self.settings.max_attempts + 1):
            upstream = self.pick(model, task, units, tried, prefer)
            if upstream is None:
                break
            tried.add(upstream.address)
            price = upstream.quote(task, units)
            try:
                result = await self._attempt(upstream, path, body, price)
            except Failure as exc:
                reasons.append(str(exc))
                upstream.stats.failure(str(exc))
                self.failovers += 1
                continue
            result.headers[ATTEMPTS_HEADER] = str(attempt)
            return result
        return self._exhausted(model, task, reasons)

    async def _attempt(self, upstream: Upstream, path: str, body: bytes, price: TokenAmount) -> Answer:
        assert self.http is not None
        lane = await self._lane(upstream, price)
        upstream.stats.running += 1
        started = time.perf_counter()
        try:
            try:
                voucher = lane.pay(price)
            except VoucherError as exc:
                raise Failure(f"cannot pay {upstream.address}: {exc.message}") from None
            try:
                response = await self.http.post(
                    upstream.url + path, content=body,
                    headers={VOUCHER_HEADER: voucher.encode(), "content-type": "application/json"})
            except httpx.HTTPError as exc:
                lane.failed()
                raise Failure(f"{upstream.address}: {type(exc).__name__}: {exc}") from None
            if response.status_code != 200:
                outcome = self._refused(upstream, lane, response.status_code, response.content)
                if isinstance(outcome, Failure):
                    raise outcome
                return outcome
            header = response.headers.get(RECEIPT_HEADER)
            if header is None:
                lane.failed()
                raise Failure(f"{upstream.address} answered without a receipt")
            try:
                receipt = lane.confirm(header, request=body, response=response.content)
            except SignatureError as exc:
                raise Failure(f"{upstream.address} sent a bad receipt: {exc.message}") from None
            upstream.stats.success((time.perf_counter() - started) * 1000, int(receipt.receipt.price))
            return Answer(200, response.content, {PROVIDER_HEADER: upstream.address, RECEIPT_HEADER: header})
        finally:
            upstream.stats.running -= 1
            upstream.lanes.release(lane)

    def _exhausted(self, model: str, task: str, reasons: list[str]) -> Answer:
        if not any(u.serves(model, task) for u in self.upstreams.values()):
            names = sorted({m.name for u in self.upstreams.values() for m in u.models.values()
                            if m.task == task and m.name != m.cid})
            body = oa.error_body(f"no provider behind this gateway serves {task} model {model!r}",
                                 kind="model_not_found", hint=f"models: {', '.join(names) or 'none'}")
            return Answer(404, oa.dumps(body), {})
        body = oa.error_body("every provider tried failed: " + "; ".join(reasons or ["none was reachable"]),
                             kind="server_error", code="upstream_failed",
                             hint="try again shortly; GET /v1/gateway shows each provider's state")
        return Answer(502, oa.dumps(body), {ATTEMPTS_HEADER: str(len(reasons))})

    # --- streams ---------------------------------------------------------------------------------

    async def stream(self, path: str, body: bytes, model: str, chat: bool,
                     prefer: str | None = None, include_usage: bool = False) -> AsyncIterator[bytes]:
        """A streamed answer, resumed on another provider if one breaks off (see the module docstring)."""
        self.requests += 1
        ident = ("chatcmpl-" if chat else "cmpl-") + "gw" + uuid.uuid4().hex[:22]
        created = int(time.time())
        delivered = ""
        started = False
        tried: set[str] = set()
        reasons: list[str] = []
        for _attempt in range(self.settings.max_attempts):
            upstream = self.pick(model, "generate", 1, tried, prefer)
            if upstream is None:
                break
            tried.add(upstream.address)
            relay = _Relay(delivered)
            try:
                async for piece in self._stream_attempt(upstream, path, body, relay):
                    if not started:
                        started = True
                        yield oa.chunk_event(chat, ident, created, model, "" if chat else None, None, first=True)
                    yield oa.chunk_event(chat, ident, created, model, piece, None)
                    delivered += piece
            except Failure as exc:
                reasons.append(str(exc))
                upstream.stats.failure(str(exc))
                self.failovers += 1
                continue
            if not started:
                yield oa.chunk_event(chat, ident, created, model, "" if chat else None, None, first=True)
            yield oa.chunk_event(chat, ident, created, model, None if chat else "", relay.finish or "stop")
            if include_usage and relay.usage is not None:
                yield oa.sse(oa.dumps({"id": ident, "object": "chat.completion.chunk" if chat else "text_completion",
                                       "created": created, "model": model, "choices": [], "usage": relay.usage}))
            if relay.receipt is not None:
                yield SSE_RECEIPT_PREFIX + relay.receipt.encode() + b"\n\n"
            yield oa.SSE_DONE
            return
        error = oa.error_body("every provider tried failed: " + "; ".join(reasons or ["none serves this model"]),
                              kind="server_error", code="upstream_failed")
        yield oa.sse(oa.dumps(error))
        yield oa.SSE_DONE

    async def _stream_attempt(self, upstream: Upstream, path: str, body: bytes,
                              relay: _Relay) -> AsyncIterator[str]:
        assert self.http is not None
        price = upstream.quote("generate", 1)
        lane = await self._lane(upstream, price)
        upstream.stats.running += 1
        started = time.perf_counter()
        try:
            try:
                voucher = lane.pay(price)
            except VoucherError as exc:
                raise Failure(f"cannot pay {upstream.address}: {exc.message}") from None
            raw = bytearray()
            try:
                async with self.http.stream(
                    "POST", upstream.url + path, content=body,
                    headers={VOUCHER_HEADER: voucher.encode(), "content-type": "application/json"},
                ) as response:
                    if response.status_code != 200:
                        outcome = self._refused(upstream, lane, response.status_code, await response.aread())
                        raise outcome if isinstance(outcome, Failure) else Failure(
                            f"{upstream.address} answered {outcome.status}")
                    async for chunk in response.aiter_bytes():
                        raw += chunk
                        for piece in relay.feed(chunk):
                            yield piece
            except httpx.HTTPError as exc:
                lane.failed()
                raise Failure(f"{upstream.address} broke off: {type(exc).__name__}") from None
            if relay.mismatch:
                lane.failed()
                raise Failure(f"{upstream.address} generated a different text than the first provider")
            hashed, receipt = stream_receipt(bytes(raw))
            if not relay.done or receipt is None:
                lane.failed()
                raise Failure(f"{upstream.address} ended the stream without finishing it")
            try:
                signed = lane.confirm(receipt, request=body, response=hashed)
            except SignatureError as exc:
                raise Failure(f"{upstream.address} sent a bad receipt: {exc.message}") from None
            relay.receipt = receipt
            upstream.stats.success((time.perf_counter() - started) * 1000, int(signed.receipt.price))
        finally:
            upstream.stats.running -= 1
            upstream.lanes.release(lane)

    # --- channels --------------------------------------------------------------------------------

    def close_channels(self) -> list[str]:
        """Start closing every channel this gateway holds (the providers then close them)."""
        closed = []
        for session in self.fast.sessions():
            try:
                session.start_close()
                closed.append("0x" + bytes(session.channel_id).hex())
            except DeaiError as exc:
                log.warning("channel 0x%s: %s", bytes(session.channel_id).hex(), exc)
        return closed

    def status(self) -> dict[str, Any]:
        return {"address": self.fast.address, "requests": self.requests, "failovers": self.failovers,
                "providers": [u.describe() for u in self.upstreams.values()]}


class _Relay:
    """Parses a provider's SSE stream; yields only text the client has not seen yet."""

    def __init__(self, delivered: str) -> None:
        self.delivered = delivered
        self.text = ""
        self.buffer = b""
        self.finish: str | None = None
        self.usage: dict[str, Any] | None = None
        self.receipt: str | None = None
        self.done = False
        self.mismatch = False

    def feed(self, chunk: bytes) -> list[str]:
        self.buffer += chunk
        out: list[str] = []
        while b"\n\n" in self.buffer:
            event, self.buffer = self.buffer.split(b"\n\n", 1)
            out.extend(self._event(event))
        return out

    def _event(self, event: bytes) -> list[str]:
        if event.startswith(b":"):
            return []  # the receipt comment (read from the raw bytes afterwards) or a keep-alive
        data = b"".join(line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:"))
        if data == b"[DONE]":
            self.done = True
            return []
        try:
            chunk = json.loads(data)
        except ValueError:
            return []
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        piece, finish = oa.stream_text(chunk)
        if finish:
            self.finish = finish
        if not piece:
            return []
        self.text += piece
        known = len(self.delivered)
        if len(self.text) <= known:
            if not self.delivered.startswith(self.text):
                self.mismatch = True
            return []
        if not self.text.startswith(self.delivered):
            self.mismatch = True
            return []
        new = self.text[max(known, len(self.text) - len(piece)):]
        self.delivered = self.text
        return [new] if new else []
