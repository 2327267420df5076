"""The gateway's HTTP API: the OpenAI routes, plus its own status and receipts.

``GET /v1/models`` (every model some provider serves), ``POST /v1/embeddings``,
``POST /v1/completions``, ``POST /v1/chat/completions`` (``stream: true`` too) — no
voucher needed: the gateway pays from its channels. Answers carry ``X-Deai-Provider``,
``X-Deai-Receipt`` and ``X-Deai-Attempts``; ``X-Deai-Route: <provider address>`` asks for
a provider first. ``GET /v1/gateway`` shows each provider's price, latency, reputation
and lanes; ``GET /v1/receipts`` lists the receipts the gateway keeps. With an API key
set, every route but ``/health`` wants ``Authorization: Bearer <key>``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from deai.errors import DeaiError
from deai.gateway.service import ROUTE_HEADER, Gateway
from deai.node.fastpath import openai_api as oa

MAX_BODY_BYTES = 4 * 2**20


def create_gateway_app(gateway: Gateway, *, api_key: str | None = None) -> FastAPI:
    # deai.http_server runs uvicorn without lifespan events: the gateway starts on the
    # first request (the CLI sends one before it says it is ready).
    app = FastAPI(title="deai gateway", version="1",
                  summary="One OpenAI-compatible endpoint in front of many deai providers")

    @app.middleware("http")
    async def authorize(request: Request, call_next: Any) -> Response:
        wrong = request.headers.get("authorization", "") != f"Bearer {api_key}"
        if api_key and request.url.path != "/health" and wrong:
            return JSONResponse(oa.error_body("missing or wrong API key", kind="authentication_error",
                                              hint="send Authorization: Bearer <the gateway's key>"),
                                status_code=401)
        await gateway.ensure_started()
        response: Response = await call_next(request)
        return response

    async def read(request: Request) -> bytes | JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse(oa.error_body(f"the request is {len(body)} bytes, over {MAX_BODY_BYTES}",
                                              code="request_too_large"), status_code=413)
        return body

    def invalid(exc: DeaiError) -> JSONResponse:
        return JSONResponse(oa.error_body(exc.message, hint=exc.hint), status_code=400)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "address": gateway.fast.address, "providers": len(gateway.upstreams)}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": gateway.models()}

    @app.get("/v1/gateway")
    def status() -> dict[str, Any]:
        return gateway.status()

    @app.get("/v1/receipts")
    def receipts() -> dict[str, Any]:
        return {"receipts": [{"receipt": r.as_dict(), "provider_url": url}
                             for r, url in gateway.fast.wallet.receipts()]}

    @app.post("/v1/embeddings", response_model=None)
    async def embeddings(request: Request) -> Response:
        body = await read(request)
        if isinstance(body, Response):
            return body
        try:
            parsed = oa.parse_request(oa.EmbeddingsRequest, body)
            assert isinstance(parsed, oa.EmbeddingsRequest)
            units = len(parsed.texts())
        except DeaiError as exc:
            return invalid(exc)
        answer = await gateway.answer("/v1/embeddings", body, parsed.model, "embed", units,
                                      request.headers.get(ROUTE_HEADER))
        return Response(answer.body, status_code=answer.status, media_type="application/json",
                        headers=answer.headers)

    async def generation(request: Request, chat: bool) -> Response:
        body = await read(request)
        if isinstance(body, Response):
            return body
        try:
            parsed = oa.parse_request(oa.ChatRequest if chat else oa.CompletionRequest, body)
            assert isinstance(parsed, (oa.ChatRequest, oa.CompletionRequest))
        except DeaiError as exc:
            return invalid(exc)
        path = "/v1/chat/completions" if chat else "/v1/completions"
        prefer = request.headers.get(ROUTE_HEADER)
        if parsed.stream:
            return StreamingResponse(
                gateway.stream(path, body, parsed.model, chat, prefer, parsed.include_usage),
                media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        answer = await gateway.answer(path, body, parsed.model, "generate", 1, prefer)
        return Response(answer.body, status_code=answer.status, media_type="application/json",
                        headers=answer.headers)

    @app.post("/v1/completions", response_model=None)
    async def completions(request: Request) -> Response:
        return await generation(request, chat=False)

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> Response:
        return await generation(request, chat=True)

    return app
