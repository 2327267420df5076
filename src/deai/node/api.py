"""The HTTP API of a provider node (FastAPI; the OpenAPI spec is at ``/openapi.json``).

Reading is open: ``/health``, ``/v1/capabilities``, ``/v1/jobs``, ``/v1/jobs/{id}``,
``/v1/stats`` and the IPFS trustless gateway (``/ipfs/{cid}``) that serves outputs.
Writing is signed: ``POST /v1/store/car`` (a client uploads a job's spec and inputs as a
CAR) needs an EIP-712 request signature (auth.py) and is refused, with nothing stored,
when the signature is missing, forged, expired or replayed, or the body is too large.
Every deai error becomes a JSON body ``{"error": …, "hint": …}`` with a 4xx status.
"""

from __future__ import annotations

import io
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from deai.errors import DeaiError, SignatureError, StoreError
from deai.node.auth import request_domain, verify_request
from deai.node.fastpath.router import fastpath_router
from deai.node.state import JobRecord
from deai.store import gateway_router

if TYPE_CHECKING:
    from deai.node.provider import ProviderNode


def _status_of(exc: DeaiError) -> int:
    if isinstance(exc, SignatureError):
        return 401
    if isinstance(exc, StoreError) and type(exc).__name__ == "BlockNotFound":
        return 404
    return 400


def create_app(node: ProviderNode) -> FastAPI:
    app = FastAPI(title="deai provider", version="1", summary="A deai provider node")
    domain = request_domain(node.deployment.chain_id, node.deployment.address("Registry"))

    @app.exception_handler(DeaiError)
    async def deai_error(_request: Request, exc: DeaiError) -> JSONResponse:
        return JSONResponse({"error": exc.message, "hint": exc.hint}, status_code=_status_of(exc))

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "address": node.address,
            "endpoint": node.endpoint,
            "chain_id": node.deployment.chain_id,
            "cursor": node.state.get_cursor("jobmarket"),
        }

    @app.get("/v1/capabilities")
    def capabilities() -> dict[str, Any]:
        caps = node.capabilities.model_dump(mode="json") if node.capabilities else {}
        return {"cid": node.capability_cid, "capabilities": caps}

    @app.get("/v1/jobs")
    def jobs() -> dict[str, Any]:
        return {"jobs": [_record(r) for r in node.state.jobs()]}

    @app.get("/v1/jobs/{job_id}")
    def job(job_id: int) -> JSONResponse:
        record = node.state.get_job(job_id)
        if record is None:
            return JSONResponse(
                {
                    "error": f"this provider has not seen job {job_id}",
                    "hint": "ask the chain with `deai job status ID`",
                },
                status_code=404,
            )
        return JSONResponse(_record(record))

    @app.get("/v1/stats")
    def stats() -> dict[str, Any]:
        return {
            "jobs_run": node.stats.jobs_run,
            "runtime_cpu_s": node.stats.runtime_cpu_s,
            "bids": node.stats.bids,
            "skipped": node.stats.skipped,
        }

    @app.post("/v1/store/car", response_model=None)
    async def upload_car(request: Request) -> dict[str, Any] | JSONResponse:
        declared = int(request.headers.get("content-length") or 0)
        limit = node.settings.max_upload_bytes
        if declared > limit:
            return _too_large(declared, limit)
        body = await request.body()
        if len(body) > limit:
            return _too_large(len(body), limit)
        signer = verify_request(domain, node.state, "POST", request.url.path, body, request.headers)
        result = node.store.import_car(io.BytesIO(body))
        return {"signer": signer, "roots": [str(r) for r in result.roots], "blocks": result.blocks}

    app.include_router(gateway_router(node.store))
    if node.fastpath is not None:
        app.include_router(fastpath_router(node.fastpath))
    return app


def _too_large(size: int, limit: int) -> JSONResponse:
    return JSONResponse(
        {
            "error": f"upload of {size} bytes is over this provider's {limit}-byte limit",
            "hint": "split the data, or use a provider with a larger limit",
        },
        status_code=413,
    )


def _record(record: JobRecord) -> dict[str, Any]:
    data = asdict(record)
    data["stage"] = record.stage.value
    data["max_price"] = str(record.max_price)
    data["bid_price"] = str(record.bid_price)
    return data
