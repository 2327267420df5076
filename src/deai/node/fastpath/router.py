"""The fast path's HTTP routes, mounted on the provider's FastAPI app.

OpenAI-compatible: ``GET /v1/models``, ``POST /v1/embeddings``, ``POST /v1/completions``,
``POST /v1/chat/completions`` (``stream: true`` → server-sent events). deai's own:
``GET /v1/fastpath`` (prices, domains, limits), ``GET /v1/channels/{id}`` (this provider's
view of a channel), ``GET /v1/receipts?after=N`` (receipts in order, for validators),
``GET /v1/receipts/{sequence}`` (a receipt with its Merkle proof and anchor once
anchored), ``GET /v1/receipts/{sequence}/exchange`` (the request and response bodies a
validator re-runs).

Order per request: size (413) → parse and validate (400) → model (404) → price → voucher
(402) → run → receipt. Nothing runs and nothing is charged before the voucher is accepted,
and a refused voucher changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from deai.errors import DeaiError, InputError, ModelError, SpecError, VoucherError
from deai.market.vouchers import VOUCHER_HEADER, SignedVoucher
from deai.node.fastpath import openai_api as oa
from deai.node.fastpath.ledger import Charge
from deai.node.fastpath.receipts import RECEIPT_HEADER, SSE_RECEIPT_PREFIX, SignedReceipt
from deai.node.fastpath.service import FastPathService, Prepared

PROVIDER_HEADER = "X-Deai-Provider"


def _error(exc: DeaiError, service: FastPathService, price: int | None, voucher: str | None,
           *, paid: bool = False) -> JSONResponse:
    """The error response; ``paid`` (the voucher was taken, then released) is always a 5xx,
    so a client can rely on a 4xx meaning its voucher was never accepted."""
    if isinstance(exc, VoucherError):
        channel = None
        if voucher:
            try:
                channel = bytes(SignedVoucher.decode(voucher).channel_id)
            except VoucherError:
                channel = None
        body = oa.error_body(exc.message, kind="payment_required", code=exc.reason, hint=exc.hint,
                             payment=service.payment_info(price, channel))
        return JSONResponse(body, status_code=402)
    status, kind = 400, "invalid_request_error"
    if isinstance(exc, ModelError):
        status, kind = 404, "model_not_found"
    elif not isinstance(exc, (InputError, SpecError)):
        status, kind = 500, "server_error"
    if paid:
        status, kind = 500, "server_error"
    return JSONResponse(oa.error_body(exc.message, kind=kind, hint=exc.hint), status_code=status)


def _too_large(size: int, limit: int) -> JSONResponse:
    return JSONResponse(oa.error_body(
        f"the request is {size} bytes, over this provider's {limit}-byte limit",
        code="request_too_large", hint="send fewer or shorter inputs per request"), status_code=413)


async def _body(request: Request, limit: int) -> bytes | JSONResponse:
    declared = int(request.headers.get("content-length") or 0)
    if declared > limit:
        return _too_large(declared, limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def fastpath_router(service: FastPathService) -> APIRouter:
    router = APIRouter(tags=["fast path"])
    headers = {PROVIDER_HEADER: service.address}

    async def paid(request: Request, prepare: Callable[[bytes], Prepared],
                   run: Callable[[Prepared, Request, bytes, Charge], Awaitable[Response]]) -> Response:
        body = await _body(request, service.settings.max_body_bytes)
        if isinstance(body, Response):
            return body
        voucher = request.headers.get(VOUCHER_HEADER)
        price: int | None = None
        try:
            prepared = prepare(body)
            price = prepared.price
            charge = service.charge(voucher, prepared.price)
        except DeaiError as exc:
            service.stats.refused += 1
            return _error(exc, service, price, voucher)
        return await run(prepared, request, body, charge)

    async def answer(prepared: Prepared, request: Request, body: bytes, charge: Charge) -> Response:
        # One thread hop does the work and, unless the client has hung up meanwhile (a gateway
        # that timed out and went elsewhere: it must not be charged), signs and stores the
        # receipt: the event loop, shared by every connection, only parses and checks vouchers.
        gone = threading.Event()

        async def watch() -> None:
            message = await request.receive()  # after the body: only a disconnect arrives here
            if message["type"] == "http.disconnect":
                gone.set()

        watcher = asyncio.get_running_loop().create_task(watch())

        def work() -> tuple[bytes, SignedReceipt | None]:
            if prepared.kind == "embed":
                response = service.run_embeddings(prepared)
            else:
                response = b"".join(service.generate(prepared))
            if gone.is_set():
                return response, None
            return response, service.issue(charge, prepared, body, response)

        try:
            response, receipt = await run_in_threadpool(work)
        except DeaiError as exc:
            service.release(charge)
            return _error(exc, service, None, None, paid=True)
        except BaseException:
            service.release(charge)
            raise
        finally:
            watcher.cancel()
        if receipt is None:
            service.release(charge)
            return Response(status_code=499)
        return Response(response, media_type="application/json",
                        headers={**headers, RECEIPT_HEADER: receipt.to_json()})

    async def stream(prepared: Prepared, request: Request, body: bytes, charge: Charge) -> Response:
        events: Iterator[bytes] = service.generate(prepared)

        async def relay() -> AsyncIterator[bytes]:
            sent: list[bytes] = []
            served = False
            try:
                while True:
                    event = await run_in_threadpool(next, events, None)
                    if event is None:
                        break
                    sent.append(event)
                    yield event
                receipt = service.issue(charge, prepared, body, b"".join(sent))
                served = True
                yield SSE_RECEIPT_PREFIX + receipt.to_json().encode() + b"\n\n"
                yield oa.SSE_DONE
            finally:
                if not served:  # cancelled by a disconnect, or the runtime failed mid-stream
                    service.release(charge)

        return StreamingResponse(relay(), media_type="text/event-stream",
                                 headers={**headers, "Cache-Control": "no-cache"})

    async def generation(prepared: Prepared, request: Request, body: bytes, charge: Charge) -> Response:
        if prepared.stream:
            return await stream(prepared, request, body, charge)
        return await answer(prepared, request, body, charge)

    @router.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": service.model_list()}

    @router.get("/v1/fastpath")
    def info() -> dict[str, Any]:
        return service.info()

    @router.post("/v1/embeddings", response_model=None)
    async def embeddings(request: Request) -> Response:
        return await paid(request, service.prepare_embeddings, answer)

    @router.post("/v1/completions", response_model=None)
    async def completions(request: Request) -> Response:
        return await paid(request, lambda b: service.prepare_generation(b, chat=False), generation)

    @router.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> Response:
        return await paid(request, lambda b: service.prepare_generation(b, chat=True), generation)

    @router.get("/v1/channels/{channel_id}", response_model=None)
    def channel(channel_id: str) -> dict[str, Any] | JSONResponse:
        try:
            raw = bytes.fromhex(channel_id.removeprefix("0x"))
        except ValueError:
            raw = b""
        if len(raw) != 32:
            return JSONResponse(oa.error_body("a channel id is 32 bytes of hex"), status_code=400)
        return service.payment_info(None, raw)

    @router.get("/v1/receipts", response_model=None)
    def receipts(after: int = 0, limit: int = 100) -> dict[str, Any]:
        rows = service.store.receipts_after(after, max(1, min(limit, 1000)))
        return {"receipts": [json.loads(r) for r in rows]}

    @router.get("/v1/receipts/{sequence}", response_model=None)
    def receipt(sequence: int) -> dict[str, Any] | JSONResponse:
        found = service.proof(sequence)
        if found is None:
            return JSONResponse(oa.error_body(f"no receipt {sequence} here", code="not_found"), status_code=404)
        return found

    @router.get("/v1/receipts/{sequence}/exchange", response_model=None)
    def exchange(sequence: int) -> dict[str, Any] | JSONResponse:
        found = service.store.exchange(sequence)
        if found is None:
            return JSONResponse(oa.error_body(f"no stored exchange for receipt {sequence}", code="not_found"),
                                status_code=404)
        request, response = found
        return {"request": request.decode("utf-8", "replace"), "response": response.decode("utf-8", "replace")}

    return router
