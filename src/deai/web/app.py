"""The explorer's pages: FastAPI routes rendered on the server with Jinja2 templates.

Routes: ``/`` (network overview with charts), ``/provider/{address}``, ``/address/{address}``,
``/job/{id}`` (timeline with reasons, bids, output, provenance link),
``/job/{id}/provenance`` (``deai.provenance.verify`` on the job's output),
``/model/{cid}`` (a model or dataset and its lineage graph), ``/ai-requests`` (on-chain AI
requests: per status and consumer, newest first, ``?status=`` / ``?consumer=`` filters),
``/ai-request/{id}`` (its job, delivery, callbacks, why it failed), ``/search?q=``,
``/api/stats`` and ``/api/health`` (JSON), ``/static/…``.

Nothing a visitor types can produce a stack trace: unknown or malformed ids and CIDs give
a 404 page that says what was not found and what to try; a chain that does not answer gives
a banner over the last indexed data, or a 503 page when nothing was ever indexed; any other
failure gives a 500 page (the traceback goes to the server log only). Pages reload
themselves every ``refresh_s`` seconds.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from eth_utils.address import is_address, to_checksum_address
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException

from deai.apps.analytics import queries
from deai.apps.analytics.queries import JOB_STATES
from deai.chain.types import JobStatus
from deai.units import format_tokens
from deai.web import charts
from deai.web.service import Explorer, Health

log = logging.getLogger(__name__)
HERE = Path(__file__).parent


class PageError(Exception):
    """A friendly page instead of the one asked for (404 unknown id, 503 chain down)."""

    def __init__(self, status: int, title: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.status, self.title, self.message, self.hint = status, title, message, hint


# --- formatting for templates ----------------------------------------------------------------


def tok(value: Any) -> str:
    return "—" if value is None else format_tokens(int(value))


def short(value: Any, keep: int = 6) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= 2 * keep + 2 else f"{text[:keep + 2]}…{text[-keep:]}"


def when(ts: Any) -> str:
    if ts is None:
        return "—"
    return dt.datetime.fromtimestamp(int(ts), dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: Any) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    return f"{s}s" if s < 120 else (f"{s // 60}m {s % 60}s" if s < 7200 else f"{s // 3600}h {s % 3600 // 60}m")


def sentence(text: Any) -> str:
    value = str(text)
    return value[:1].upper() + value[1:]


def status_text(name: Any) -> str:
    try:
        return JobStatus[str(name)].description
    except KeyError:
        return ""


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters.update(tok=tok, short=short, when=when, duration=duration, status_text=status_text,
                                sentence=sentence)
    return templates


# --- the app ---------------------------------------------------------------------------------


def create_app(explorer: Explorer, *, follow: bool = True) -> FastAPI:
    """The explorer web app over ``explorer``; ``follow`` runs its indexer while serving."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if follow:
            explorer.start()
        try:
            yield
        finally:
            explorer.stop()

    app = FastAPI(title="deai explorer", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    templates = _templates()
    refresh = explorer.settings.refresh_s

    def page(request: Request, name: str, health: Health, status: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(
            request, name, {"health": health, "refresh": refresh, "now": time.time(), **context},
            status_code=status,
        )

    def checked_health() -> Health:
        health = explorer.health()
        if not health.chain_ok and health.last_indexed is None and health.status.events == 0:
            raise PageError(
                503, "The chain is not reachable",
                f"The explorer cannot read the chain: {health.chain_error or 'starting up'}.",
                "Start the devnet with `deai devnet up` (or check the RPC URL); this page "
                "reloads itself and shows the network as soon as the chain answers.",
            )
        return health

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        return page(request, "message.html", explorer.health(), exc.status,
                    title=exc.title, message=exc.message, hint=exc.hint)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)
        return page(request, "message.html", explorer.health(), exc.status_code,
                    title="Page not found" if exc.status_code == 404 else "Request refused",
                    message=f"There is no page at {request.url.path}.",
                    hint="Search for an address, a job id or a CID above, or go to the overview.")

    @app.exception_handler(RequestValidationError)
    async def bad_input(request: Request, exc: RequestValidationError) -> Response:
        return page(request, "message.html", explorer.health(), 404, title="Not found",
                    message=f"{request.url.path} does not name anything the explorer knows.",
                    hint="A job id is a number, an address is 0x and 40 hex digits, a CID starts with bafy… or Qm….")

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        log.exception("explorer: %s failed", request.url.path)
        return page(request, "message.html", explorer.health(), 500, title="Something went wrong",
                    message="The explorer could not build this page.",
                    hint="The error is in the explorer's log; reload the page in a moment.")

    # --- pages ---------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def overview_page(request: Request) -> Response:
        health = checked_health()

        def load(db: Any) -> dict[str, Any]:
            o = queries.overview(db)
            span = (o.indexed_at or 0) - (queries.scalar(db, "SELECT min(ts) FROM events") or 0)
            bucket = max(60, int(span / 20) // 60 * 60)
            return {
                "o": o,
                "providers": queries.providers(db),
                "jobs": queries.recent_jobs(db, 15),
                "balances": queries.balances(db, 12),
                "anomalies": queries.find_anomalies(db),
                "reliability": queries.provider_reliability(db),
                "revenue": queries.revenue_per_provider(db),
                "latency": queries.latency(db),
                "outcomes": queries.verification_outcomes(db),
                "ai_requests": queries.ai_requests(db, limit=5),
                "validators": queries.validators(db),
                "pool_epochs": queries.pool_epochs(db)[:5],
                "receipt_disputes": queries.receipt_disputes(db)[:10],
                "prices": queries.price_per_kind(db, bucket_s=bucket),
                "offered": queries.price_per_kind(db, bucket_s=bucket, offered=True),
            }

        d = explorer.read(load)
        fmt_tokens = lambda v: tok(int(v))  # noqa: E731 - a chart label formatter
        series: dict[str, list[tuple[float, float]]] = {}
        for p in d["prices"]:
            series.setdefault(p.kind, []).append((p.bucket_start, p.mean))
        offered: dict[str, list[tuple[float, float]]] = {}
        for p in d["offered"]:
            offered.setdefault(p.kind, []).append((p.bucket_start, p.mean))
        svg = {
            "states": charts.bar_chart([(s.lower(), d["o"].jobs_by_state[s]) for s in JOB_STATES],
                                       title="jobs per state", fmt=lambda v: f"{v:g}"),
            "prices": charts.line_chart(series, title="job price per workload kind", fmt=fmt_tokens),
            "offered": charts.line_chart(offered, title="offered price per unit of work", fmt=fmt_tokens),
            "revenue": charts.bar_chart([(short(r.provider, 4), r.revenue) for r in d["revenue"]],
                                        title="revenue per provider", fmt=fmt_tokens,
                                        links=[f"/provider/{r.provider}" for r in d["revenue"]]),
            "latency": charts.column_chart([(label, n) for label, n in d["latency"].histogram],
                                           title="time from posting to settlement"),
            "outcomes": charts.bar_chart([(f"{o.mode}: {o.outcome}", o.jobs) for o in d["outcomes"]],
                                         title="verification outcomes", fmt=lambda v: f"{v:g}"),
        }
        return page(request, "overview.html", health, svg={k: Markup(v) for k, v in svg.items()},
                    states=JOB_STATES, **d)

    @app.get("/provider/{address}", response_class=HTMLResponse)
    def provider_page(request: Request, address: str) -> Response:
        health = checked_health()
        checksum = _address(address)
        row = explorer.read(lambda db: queries.provider(db, checksum))
        if row is None:
            raise PageError(404, "Not a provider",
                            f"No provider {checksum} is registered on this chain.",
                            f"See what the index knows about this address at /address/{checksum}.")

        def load(db: Any) -> dict[str, Any]:
            return {"jobs": queries.provider_jobs(db, checksum),
                    "slashes": queries.provider_slashes(db, checksum),
                    "receipt_disputes": queries.receipt_disputes(db, checksum),
                    "anchors": queries.provider_anchors(db, checksum),
                    "account": queries.account(db, checksum),
                    "prices": queries.rows(db, "SELECT workload_kind, price, ts FROM provider_prices "
                                           "WHERE provider = ? ORDER BY block_number, log_index", [checksum])}

        d = explorer.read(load)
        latest: dict[str, Any] = {}
        for p in d["prices"]:
            latest[p["workload_kind"]] = p["price"]
        states = {s: sum(1 for j in d["jobs"] if j["status"] == s) for s in JOB_STATES}
        svg = charts.bar_chart([(s.lower(), n) for s, n in states.items() if n], title="this provider's jobs",
                               fmt=lambda v: f"{v:g}")
        return page(request, "provider.html", health, p=row, latest_prices=latest, svg=Markup(svg), **d)

    @app.get("/address/{address}", response_class=HTMLResponse)
    def address_page(request: Request, address: str) -> Response:
        health = checked_health()
        checksum = _address(address)
        account = explorer.read(lambda db: queries.account(db, checksum))
        return page(request, "address.html", health, a=account)

    @app.get("/job/{job_id}", response_class=HTMLResponse)
    def job_page(request: Request, job_id: int) -> Response:
        health = checked_health()
        row = explorer.read(lambda db: queries.job(db, job_id))
        if row is None:
            raise PageError(404, "Job not found", f"There is no job #{job_id} on this chain"
                            + (f" up to block {health.status.next_block - 1}." if health.status.next_block else "."),
                            "Job ids count up from 1; a job posted moments ago appears within seconds.")
        timeline = explorer.read(lambda db: queries.job_timeline(db, job_id))
        bids = explorer.read(lambda db: queries.job_bids(db, job_id))
        ai = explorer.read(lambda db: queries.ai_request(db, job_id))
        return page(request, "job.html", health, j=row, timeline=timeline, bids=bids, ai=ai,
                    why=timeline[-1]["reason"] if timeline else "")

    @app.get("/ai-requests", response_class=HTMLResponse)
    def ai_requests_page(request: Request, status: str = "", consumer: str = "") -> Response:
        health = checked_health()
        if status and status not in queries.AI_STATUSES:
            raise PageError(404, "No such status", f"{status[:60]!r} is not a request status.",
                            "Statuses: " + ", ".join(queries.AI_STATUSES) + ".")
        who = _address(consumer) if consumer else None

        def load(db: Any) -> dict[str, Any]:
            return {"requests": queries.ai_requests(db, status=status or None, consumer=who),
                    "counts": queries.ai_request_counts(db),
                    "subscriptions": queries.ai_subscriptions(db)}

        d = explorer.read(load)
        by_status = d["counts"]["by_status"]
        svg = charts.bar_chart([(s, n) for s, n in by_status.items() if n], title="requests per status",
                               fmt=lambda v: f"{v:g}",
                               links=[f"/ai-requests?status={s.replace(' ', '+')}" for s, n in by_status.items() if n])
        return page(request, "ai_requests.html", health, svg=Markup(svg), total=sum(by_status.values()),
                    meanings=queries.AI_STATUSES, filter_status=status, consumer=who, **d)

    @app.get("/ai-request/{request_id}", response_class=HTMLResponse)
    def ai_request_page(request: Request, request_id: int) -> Response:
        health = checked_health()
        row = explorer.read(lambda db: queries.ai_request(db, request_id))
        if row is None:
            raise PageError(404, "AI request not found",
                            f"There is no on-chain AI request #{request_id} on this chain.",
                            "A request's id is its JobMarket job's id; see them all at /ai-requests.")
        timeline = explorer.read(lambda db: queries.ai_request_timeline(db, request_id))
        return page(request, "ai_request.html", health, r=row, timeline=timeline)

    @app.get("/job/{job_id}/provenance", response_class=HTMLResponse)
    def provenance_page(request: Request, job_id: int) -> Response:
        health = checked_health()
        row = explorer.read(lambda db: queries.job(db, job_id))
        if row is None or not row["output_cid"]:
            raise PageError(404, "No output to check",
                            f"Job #{job_id} has no committed output on this chain.",
                            "A job's provenance can be checked once its provider committed a result.")
        verdict, problem = _verify(explorer, str(row["output_cid"]))
        return page(request, "provenance.html", health, j=row, verdict=verdict, problem=problem)

    @app.get("/model/{cid}", response_class=HTMLResponse)
    def model_page(request: Request, cid: str) -> Response:
        health = checked_health()
        row = explorer.read(lambda db: queries.asset(db, cid))
        if row is None:
            raise PageError(404, "Model or dataset not found",
                            f"No model or dataset with CID {cid} is registered on this chain.",
                            "Register one with the Registry (deai model register), or search for a job's CID.")
        nodes, edges = explorer.read(lambda db: queries.lineage(db, cid))
        graph = charts.lineage_graph(
            [(str(n["cid"]), short(n["cid"], 6), str(n["asset_kind"])) for n in nodes], edges,
            focus=cid, link=lambda c: f"/model/{c}")
        parents = [p for p, c in edges if c == cid]
        children = [c for p, c in edges if p == cid]
        return page(request, "model.html", health, m=row, graph=Markup(graph), parents=parents,
                    children=children, nodes=nodes)

    @app.get("/search", response_class=HTMLResponse)
    def search_page(request: Request, q: str = "") -> Response:
        checked_health()
        target = explorer.read(lambda db: queries.search(db, q)) if q.strip() else None
        if target is None:
            raise PageError(404, "Nothing found",
                            f"Nothing on this chain matches {q.strip()[:100]!r}." if q.strip() else "Type something to search for.",
                            "Search by provider or account address (0x…), job id (a number), "
                            "on-chain AI request (ai 12), model, dataset, spec or output CID "
                            "(bafy…), or transaction hash.")
        return RedirectResponse(target, status_code=303)

    # --- JSON --------------------------------------------------------------------------

    @app.get("/api/health")
    def api_health() -> dict[str, Any]:
        h = explorer.health()
        return {"chain_ok": h.chain_ok, "chain_error": h.chain_error, "last_indexed": h.last_indexed,
                "index": h.status.as_dict()}

    @app.get("/api/stats")
    def api_stats() -> dict[str, Any]:
        h = explorer.health()
        return {**explorer.read(queries.report), "index": h.status.as_dict(), "chain_ok": h.chain_ok}

    return app


def _address(text: str) -> str:
    if not is_address(text):
        raise PageError(404, "Not an address", f"{text[:100]!r} is not an address.",
                        "An address is 0x followed by 40 hex digits.")
    return to_checksum_address(text)


def _verify(explorer: Explorer, cid: str) -> tuple[Any, str | None]:
    """The provenance verdict of ``cid``, or why there is none."""
    if explorer.w3 is None or explorer.deployment is None:
        return None, "the chain is not reachable, so the output cannot be checked now"
    try:
        from deai.provenance.verifier import verify
        from deai.store import LocalStore
    except ImportError:
        return None, "provenance checking is not available in this installation"
    store_dir = explorer.settings.store_dir
    store = LocalStore(store_dir) if store_dir is not None and store_dir.exists() else None
    try:
        return verify(cid, store=store, w3=explorer.w3, deployment=explorer.deployment), None
    except Exception as exc:  # a verdict page must never fail on a bad output
        log.warning("explorer: verifying %s: %s", cid, exc)
        return None, f"the check could not run: {getattr(exc, 'message', exc)}"
