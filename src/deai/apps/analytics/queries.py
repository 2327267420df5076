"""The questions people ask of the network, answered from the index.

Figures (frozen dataclasses):

- ``overview`` — providers (live = registered, active and staked), validators, jobs per
  state, volume paid, fees, refunds, slashed stake, channels, anchors, models, datasets.
- ``price_per_kind`` — job clearing prices (by the workload kind of the job's spec) or
  providers' offered prices (by Registry kind), per time bucket: count, mean, min, max.
- ``provider_reliability`` — per provider: assigned, finalized, expired, rejected,
  disputed, slashed, and finalized / (finalized + expired + rejected).
- ``latency`` — seconds from posting to settlement (and to the result) of settled jobs:
  percentiles and a histogram.
- ``revenue_per_provider`` — paid job prices plus payment-channel payouts.
- ``verification_outcomes`` — settled jobs by verification mode and outcome.
- ``find_anomalies`` — the flags of ``anomalies.py`` over the index.
- ``report`` — all of the above as one JSON-ready dict (``deai stats``, ``/api/stats``).

Pages (plain rows for the explorer): ``job``, ``job_timeline``, ``job_bids``,
``provider``, ``provider_jobs``, ``asset``, ``lineage``, ``account``, ``search``.

On-chain AI requests (AIRequests): ``ai_requests`` (newest first, by status or consumer),
``ai_request`` (one, with its delivered output decoded and the sentence for its status),
``ai_request_timeline``, ``ai_request_counts`` (per status and per consumer),
``ai_subscriptions``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
from eth_utils.address import is_address, to_checksum_address

from deai.apps.analytics.anomalies import Anomaly, SettledJob, price_outliers, rate_jumps
from deai.chain.cids import bytes_to_cid
from deai.chain.types import JobStatus
from deai.errors import DeaiError

Row = dict[str, Any]
JOB_STATES = tuple(s.name for s in JobStatus if s is not JobStatus.NONE)


def rows(db: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[Row]:
    cursor = db.execute(sql, params or [])
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def one(db: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Row | None:
    found = rows(db, sql, params)
    return found[0] if found else None


def scalar(db: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    row = db.execute(sql, params or []).fetchone()
    return None if row is None else row[0]


def _int(value: Any) -> int:
    return 0 if value is None else int(value)


# --- figures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    providers: int
    live_providers: int
    validators: int
    jobs: int
    jobs_by_state: dict[str, int]
    volume_paid: int
    """Job prices paid to providers (token units)."""
    fees_paid: int
    refunded: int
    slashed: int
    channels_open: int
    channel_paid: int
    anchors: int
    anchored_leaves: int
    models: int
    datasets: int
    nfts: int
    """AI-generated NFTs minted (AINFT)."""
    ai_requests: int
    """On-chain AI requests (AIRequests)."""
    ai_callbacks_failed: int
    """Requests whose latest consumer callback failed (retriable)."""
    receipt_disputes: int
    """Fast-path receipts challenged on ReceiptDisputes."""
    validator_fees_claimed: int
    """Validator fee shares claimed from the ValidatorPool (token units)."""
    indexed_block: int | None
    indexed_at: int | None
    """Timestamp of the newest indexed event's block."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def overview(db: duckdb.DuckDBPyConnection) -> Overview:
    states = {name: 0 for name in JOB_STATES}
    for row in rows(db, "SELECT status, count(*) AS n FROM jobs GROUP BY status"):
        if row["status"] is not None:
            states[str(row["status"])] = int(row["n"])
    money = one(db, "SELECT sum(paid) AS paid, sum(fee) AS fee, sum(refunded) AS refunded FROM payments") or {}
    next_block = scalar(db, "SELECT value FROM meta WHERE key = 'next_block'")
    return Overview(
        providers=_int(scalar(db, "SELECT count(*) FROM providers")),
        live_providers=_int(scalar(db, "SELECT count(*) FROM providers WHERE active AND staked > 0")),
        validators=_int(scalar(db, "SELECT count(*) FROM validators WHERE active")),
        jobs=sum(states.values()),
        jobs_by_state=states,
        volume_paid=_int(money.get("paid")),
        fees_paid=_int(money.get("fee")),
        refunded=_int(money.get("refunded")),
        slashed=_int(scalar(db, "SELECT sum(amount) FROM slashes")),
        channels_open=_int(scalar(db, "SELECT count(*) FROM channels WHERE state IN ('open', 'closing')")),
        channel_paid=_int(scalar(db, "SELECT sum(paid_to_provider) FROM channels")),
        anchors=_int(scalar(db, "SELECT count(*) FROM anchors")),
        anchored_leaves=_int(scalar(db, "SELECT sum(leaf_count) FROM anchors")),
        models=_int(scalar(db, "SELECT count(*) FROM models")),
        datasets=_int(scalar(db, "SELECT count(*) FROM datasets")),
        nfts=_int(scalar(db, "SELECT count(*) FROM nfts")),
        ai_requests=_int(scalar(db, "SELECT count(*) FROM ai_requests")),
        ai_callbacks_failed=_int(scalar(db, """
            SELECT count(*) FROM ai_requests
            WHERE status IN ('callback failed', 'dispute callback failed')""")),
        receipt_disputes=_int(scalar(db, "SELECT count(*) FROM receipt_disputes")),
        validator_fees_claimed=_int(scalar(db, "SELECT sum(fees_claimed) FROM validators")),
        indexed_block=int(next_block) - 1 if next_block is not None else None,
        indexed_at=scalar(db, "SELECT max(ts) FROM events"),
    )


@dataclass(frozen=True)
class PricePoint:
    bucket_start: int
    kind: str
    count: int
    mean: float
    low: int
    high: int


def price_per_kind(
    db: duckdb.DuckDBPyConnection, *, bucket_s: int = 3600, offered: bool = False
) -> list[PricePoint]:
    """Prices per workload kind per ``bucket_s`` seconds, oldest bucket first."""
    source = "v_offered_prices" if offered else "v_job_prices"
    found = rows(db, f"""
        SELECT (ts // ?) * ? AS bucket, workload_kind AS kind, count(*) AS n,
               avg(price::DOUBLE) AS mean, min(price) AS low, max(price) AS high
        FROM {source} WHERE ts IS NOT NULL GROUP BY ALL ORDER BY bucket, kind
    """, [bucket_s, bucket_s])
    return [PricePoint(int(r["bucket"]), str(r["kind"]), int(r["n"]), float(r["mean"]),
                       int(r["low"]), int(r["high"])) for r in found]


@dataclass(frozen=True)
class Reliability:
    provider: str
    jobs_assigned: int
    finalized: int
    expired: int
    rejected: int
    disputed: int
    slashed: int
    reliability: float | None
    """finalized / (finalized + expired + rejected); None before the first settled job."""


def provider_reliability(db: duckdb.DuckDBPyConnection) -> list[Reliability]:
    return [
        Reliability(str(r["provider"]), int(r["jobs_assigned"]), int(r["finalized"]),
                    int(r["expired"]), int(r["rejected"]), int(r["disputed"]), int(r["slashed"]),
                    None if r["reliability"] is None else float(r["reliability"]))
        for r in rows(db, "SELECT * FROM v_provider_reliability ORDER BY provider")
    ]


@dataclass(frozen=True)
class Latency:
    settled: int
    p50_s: float | None
    p90_s: float | None
    p99_s: float | None
    max_s: int | None
    result_p50_s: float | None
    """Assignment to committed result, median."""
    histogram: list[tuple[str, int]] = field(default_factory=list)
    """(bucket label, jobs) for seconds from posting to settlement."""


_LATENCY_EDGES = (60, 300, 900, 3600, 6 * 3600, 86400)


def _label(seconds: int) -> str:
    return f"{seconds // 3600}h" if seconds >= 3600 else f"{seconds // 60}m"


def latency(db: duckdb.DuckDBPyConnection) -> Latency:
    stats = one(db, """
        SELECT count(to_settle_s) AS n,
               quantile_cont(to_settle_s, 0.5) AS p50, quantile_cont(to_settle_s, 0.9) AS p90,
               quantile_cont(to_settle_s, 0.99) AS p99, max(to_settle_s) AS mx,
               quantile_cont(to_result_s, 0.5) AS r50
        FROM v_job_latency WHERE settled_at IS NOT NULL
    """) or {}
    values = [int(r[0]) for r in db.execute(
        "SELECT to_settle_s FROM v_job_latency WHERE to_settle_s IS NOT NULL").fetchall()]
    edges = (0, *_LATENCY_EDGES)
    histogram = []
    for low, high in zip(edges, (*_LATENCY_EDGES, None), strict=True):
        label = f"< {_label(high)}" if low == 0 and high else (f"≥ {_label(low)}" if high is None else f"{_label(low)}–{_label(high)}")
        histogram.append((label, sum(1 for v in values if v >= low and (high is None or v < high))))

    def f(key: str) -> float | None:
        return None if stats.get(key) is None else float(stats[key])

    return Latency(_int(stats.get("n")), f("p50"), f("p90"), f("p99"),
                   None if stats.get("mx") is None else int(stats["mx"]), f("r50"), histogram)


@dataclass(frozen=True)
class Revenue:
    provider: str
    paid_jobs: int
    job_revenue: int
    channel_revenue: int
    revenue: int


def revenue_per_provider(db: duckdb.DuckDBPyConnection) -> list[Revenue]:
    return [
        Revenue(str(r["provider"]), int(r["paid_jobs"]), int(r["job_revenue"]),
                int(r["channel_revenue"]), int(r["revenue"]))
        for r in rows(db, "SELECT * FROM v_revenue_per_provider ORDER BY revenue DESC, provider")
    ]


@dataclass(frozen=True)
class Outcome:
    mode: str
    outcome: str
    jobs: int


def verification_outcomes(db: duckdb.DuckDBPyConnection) -> list[Outcome]:
    return [Outcome(str(r["mode"]), str(r["outcome"]), int(r["jobs"]))
            for r in rows(db, "SELECT * FROM v_verification_outcomes ORDER BY mode, outcome")]


def find_anomalies(db: duckdb.DuckDBPyConnection) -> list[Anomaly]:
    settled = [
        SettledJob(str(r["provider"]), str(r["status"]) in ("EXPIRED", "REJECTED"), bool(r["disputed"]))
        for r in rows(db, """
            SELECT provider, status, disputed FROM jobs
            WHERE provider IS NOT NULL AND settled_at IS NOT NULL
            ORDER BY settled_at, last_block, job_id
        """)
    ]
    job_prices = [(f"job {r['job_id']}", str(r["workload_kind"]), int(r["price"]))
                  for r in rows(db, "SELECT job_id, workload_kind, price FROM v_job_prices ORDER BY job_id")]
    offered = [(str(r["provider"]), str(r["workload_kind"]), int(r["price"])) for r in rows(db, """
        SELECT provider, workload_kind, arg_max(price, (block_number)) AS price
        FROM v_offered_prices GROUP BY ALL ORDER BY provider, workload_kind
    """)]
    return [*rate_jumps(settled), *price_outliers(job_prices),
            *price_outliers(offered, kind="offered_price_outlier")]


# --- pages -----------------------------------------------------------------------------------


def job(db: duckdb.DuckDBPyConnection, job_id: int) -> Row | None:
    return one(db, "SELECT * FROM jobs WHERE job_id = ?", [job_id])


def job_timeline(db: duckdb.DuckDBPyConnection, job_id: int) -> list[Row]:
    return rows(db, """
        SELECT block_number, log_index, tx_hash, ts, event, status, reason_code, reason,
               provider, price, challenger, fraud, paid, fee, refunded, slashed, output_cid
        FROM job_events WHERE job_id = ? ORDER BY block_number, log_index
    """, [job_id])


def job_bids(db: duckdb.DuckDBPyConnection, job_id: int) -> list[Row]:
    return rows(db, "SELECT * FROM bids WHERE job_id = ? ORDER BY block_number, log_index", [job_id])


def recent_jobs(db: duckdb.DuckDBPyConnection, limit: int = 20) -> list[Row]:
    return rows(db, "SELECT * FROM jobs ORDER BY job_id DESC LIMIT ?", [limit])


def providers(db: duckdb.DuckDBPyConnection) -> list[Row]:
    return rows(db, "SELECT * FROM providers ORDER BY registered_at, address")


def provider(db: duckdb.DuckDBPyConnection, address: str) -> Row | None:
    return one(db, "SELECT * FROM providers WHERE address = ?", [address])


def provider_jobs(db: duckdb.DuckDBPyConnection, address: str) -> list[Row]:
    return rows(db, "SELECT * FROM jobs WHERE provider = ? ORDER BY job_id DESC", [address])


def provider_slashes(db: duckdb.DuckDBPyConnection, address: str) -> list[Row]:
    return rows(db, "SELECT * FROM slashes WHERE who = ? ORDER BY block_number, log_index", [address])


def provider_anchors(db: duckdb.DuckDBPyConnection, address: str) -> list[Row]:
    return rows(db, "SELECT * FROM anchors WHERE provider = ? ORDER BY sequence", [address])


def asset(db: duckdb.DuckDBPyConnection, cid: str) -> Row | None:
    return one(db, "SELECT * FROM assets WHERE cid = ?", [cid])


def lineage(db: duckdb.DuckDBPyConnection, cid: str, depth: int = 8) -> tuple[list[Row], list[tuple[str, str]]]:
    """Assets linked to ``cid`` through parents (ancestors) and children (descendants),
    up to ``depth`` steps each way, and the (parent, child) edges among them."""
    edges: set[tuple[str, str]] = set()
    seen = {cid}
    for column, other in (("child_cid", "parent_cid"), ("parent_cid", "child_cid")):
        frontier = {cid}
        for _ in range(depth):
            if not frontier:
                break
            marks = ", ".join("?" * len(frontier))
            found = db.execute(
                f"SELECT child_cid, parent_cid, {other} FROM lineage WHERE {column} IN ({marks})",
                sorted(frontier),
            ).fetchall()
            frontier = set()
            for child, parent, nxt in found:
                edges.add((str(parent), str(child)))
                if nxt not in seen:
                    seen.add(str(nxt))
                    frontier.add(str(nxt))
    marks = ", ".join("?" * len(seen))
    known = {str(r["cid"]): r for r in rows(db, f"SELECT * FROM assets WHERE cid IN ({marks})", sorted(seen))}
    nodes = [known.get(c, {"cid": c, "asset_kind": "unregistered"}) for c in sorted(seen)]
    return nodes, sorted(edges)


def account(db: duckdb.DuckDBPyConnection, address: str) -> Row:
    """What the index knows about any address: balance, stake, jobs as client, channels."""
    return {
        "address": address,
        "balance": _int(scalar(db, "SELECT balance FROM balances WHERE address = ?", [address])),
        "stake": one(db, "SELECT * FROM stakes WHERE address = ?", [address]),
        "is_provider": provider(db, address) is not None,
        "is_validator": bool(scalar(db, "SELECT count(*) FROM validators WHERE address = ?", [address])),
        "jobs": rows(db, "SELECT * FROM jobs WHERE client = ? ORDER BY job_id DESC", [address]),
        "channels": rows(db, "SELECT * FROM channels WHERE client = ? OR provider = ? ORDER BY opened_at",
                         [address, address]),
        "market": rows(db, "SELECT kind, sum(amount) AS amount FROM market_flows WHERE account = ? GROUP BY kind",
                       [address]),
        "ai_requests": ai_requests(db, consumer=address),
    }


def validators(db: duckdb.DuckDBPyConnection) -> list[Row]:
    """Validators with their ValidatorPool record (reports, fee shares claimed)."""
    return rows(db, "SELECT * FROM validators ORDER BY registered_at, address")


def pool_epochs(db: duckdb.DuckDBPyConnection) -> list[Row]:
    """ValidatorPool epochs, newest first: fees synced, reporters, claimed, left."""
    return rows(db, "SELECT * FROM pool_epochs ORDER BY epoch DESC")


def receipt_disputes(db: duckdb.DuckDBPyConnection, provider: str | None = None) -> list[Row]:
    """Fast-path receipt disputes (ReceiptDisputes), newest first, optionally of one provider."""
    where, params = ("WHERE provider = ?", [provider]) if provider else ("", [])
    return rows(db, f"SELECT * FROM receipt_disputes {where} ORDER BY challenged_at DESC, digest", params)


def balances(db: duckdb.DuckDBPyConnection, limit: int = 20) -> list[Row]:
    return rows(db, "SELECT * FROM balances WHERE balance > 0 ORDER BY balance DESC, address LIMIT ?", [limit])


# --- on-chain AI requests ----------------------------------------------------------------------

AI_STATUSES: dict[str, str] = {
    "requested": "Waiting for a provider: the request's job takes bids.",
    "assigned": "A provider won the job and is computing the answer.",
    "committed": "The provider committed its result on the JobMarket; the answer is not delivered here yet.",
    "awaiting release": (
        "The answer is delivered; the consumer (final policy) is called back once the job is "
        "finalized, after its challenge window."
    ),
    "delivered": "The answer was delivered on chain and the consumer was called back.",
    "callback failed": (
        "The answer was delivered but the consumer's callback failed (it reverted or ran out "
        "of gas): anyone may retry it with `deai ai-request retry`; the provider is paid all the same."
    ),
    "retried": "The consumer's callback failed first and succeeded when it was retried.",
    "unsettled": (
        "The job ended without a standing answer; anyone may settle the request to refund "
        "the consumer (`deai ai-request settle`)."
    ),
    "failed": "The request closed without a standing answer.",
    "dispute callback failed": (
        "The request closed without a standing answer and the consumer's onAIDisputed "
        "callback failed: anyone may retry it."
    ),
}
"""Request status (the ``ai_requests`` state table) → what it means for the consumer."""


def ai_output(output_hex: str | None, kind: str | None, output_as_cid: bool | None) -> str | None:
    """Delivered bytes as a person reads them: the class index, the text, or the CID."""
    if output_hex is None:
        return None
    data = bytes.fromhex(output_hex.removeprefix("0x"))
    if output_as_cid:
        try:
            return str(bytes_to_cid(data))
        except DeaiError:
            return output_hex
    if kind == "classify" and len(data) == 32:
        return f"class {int.from_bytes(data, 'big')}"
    return data.decode("utf-8", errors="replace")


def _with_meaning(row: Row) -> Row:
    row["status_text"] = row["failure_reason"] or AI_STATUSES.get(str(row["status"]), "")
    row["output_text"] = ai_output(row["output"], row["kind"], row["output_as_cid"])
    return row


def ai_requests(
    db: duckdb.DuckDBPyConnection, *, status: str | None = None, consumer: str | None = None,
    limit: int = 200,
) -> list[Row]:
    """Requests, newest first, optionally of one status or one consumer."""
    where, params = [], []
    if status is not None:
        where.append("status = ?")
        params.append(status)
    if consumer is not None:
        where.append("consumer = ?")
        params.append(consumer)
    sql = "SELECT * FROM ai_requests" + (f" WHERE {' AND '.join(where)}" if where else "")
    found = rows(db, sql + " ORDER BY request_id DESC LIMIT ?", [*params, limit])
    return [_with_meaning(r) for r in found]


def ai_request(db: duckdb.DuckDBPyConnection, request_id: int) -> Row | None:
    found = one(db, "SELECT * FROM ai_requests WHERE request_id = ?", [request_id])
    return None if found is None else _with_meaning(found)


def ai_request_timeline(db: duckdb.DuckDBPyConnection, request_id: int) -> list[Row]:
    """The request's AIRequests events and its job's JobMarket events, in chain order."""
    return rows(db, """
        SELECT block_number, log_index, tx_hash, ts, 'AIRequests' AS contract, event,
               provider, disputed, success, gas_limit, reason, refunded
        FROM ai_request_events WHERE request_id = ?
        UNION ALL
        SELECT block_number, log_index, tx_hash, ts, 'JobMarket', event, provider, NULL, NULL,
               NULL, reason, refunded
        FROM job_events WHERE job_id = ?
        ORDER BY block_number, log_index
    """, [request_id, request_id])


def ai_request_counts(db: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Requests per status (every status, zeros included) and per consumer."""
    by_status = dict.fromkeys(AI_STATUSES, 0)
    for r in rows(db, "SELECT status, count(*) AS n FROM ai_requests GROUP BY status"):
        by_status[str(r["status"])] = int(r["n"])
    by_consumer = rows(db, """
        SELECT consumer, count(*) AS requests,
               count(*) FILTER (WHERE status IN ('delivered', 'retried')) AS answered,
               count(*) FILTER (WHERE status IN ('callback failed', 'dispute callback failed')) AS callbacks_failed,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               coalesce(sum(price), 0) AS spent, max(requested_at) AS last_request_at
        FROM ai_requests GROUP BY consumer ORDER BY requests DESC, consumer
    """)
    return {"by_status": by_status, "by_consumer": by_consumer}


def ai_subscriptions(db: duckdb.DuckDBPyConnection) -> list[Row]:
    return rows(db, "SELECT * FROM ai_subscriptions ORDER BY subscription_id DESC")


_AI_SEARCH_RE = re.compile(r"^(?:ai|ai-request|request|req)[\s:#-]*#?(\d{1,18})$", re.IGNORECASE)
_CID_RE = re.compile(r"^(b[a-z2-7]{20,200}|Qm[1-9A-HJ-NP-Za-km-z]{44})$")
_TX_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")


def search(db: duckdb.DuckDBPyConnection, query: str) -> str | None:
    """The explorer path for an address, job id, AI request id (``ai 5``), CID or transaction
    hash; None if unknown."""
    q = query.strip()
    if q.startswith("#"):
        q = q[1:]
    ai = _AI_SEARCH_RE.match(q)
    if ai:  # "ai 5", "ai:5", "request #5": an on-chain AI request (its id is its job's id)
        request_id = int(ai.group(1))
        return f"/ai-request/{request_id}" if ai_request(db, request_id) else None
    if q.isdigit():
        return f"/job/{int(q)}" if job(db, int(q)) else None
    if is_address(q):
        address = to_checksum_address(q)
        return f"/provider/{address}" if provider(db, address) else f"/address/{address}"
    if _TX_RE.match(q):
        found = scalar(db, "SELECT min(job_id) FROM job_events WHERE tx_hash = ?", [q.lower()])
        if found is not None:
            return f"/job/{found}"
        # a delivery, callback retry or settlement: AIRequests events only
        found = scalar(db, "SELECT min(request_id) FROM ai_request_events WHERE tx_hash = ?", [q.lower()])
        return f"/ai-request/{found}" if found is not None else None
    if _CID_RE.match(q):
        if asset(db, q):
            return f"/model/{q}"
        found = scalar(db, """
            SELECT min(job_id) FROM job_events WHERE spec_cid = ? OR output_cid = ?
        """, [q, q])
        if found is not None:
            return f"/job/{found}"
        if scalar(db, "SELECT count(*) FROM lineage WHERE parent_cid = ?", [q]):
            return f"/model/{q}"
    return None


def report(db: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Every key figure in one JSON-ready dict (``deai stats --json``, ``/api/stats``)."""
    return {
        "overview": overview(db).as_dict(),
        "reliability": [asdict(r) for r in provider_reliability(db)],
        "revenue": [asdict(r) for r in revenue_per_provider(db)],
        "latency": asdict(latency(db)),
        "verification": [asdict(o) for o in verification_outcomes(db)],
        "anomalies": [a.as_dict() for a in find_anomalies(db)],
        "ai_requests": ai_request_counts(db),
        "validators": validators(db),
        "receipt_disputes": receipt_disputes(db),
    }
