"""``deai explorer``, ``deai index run|status`` and ``deai stats``: the chain index and its figures.

A running explorer owns the index file (it indexes as it serves), so ``index status`` and
``stats`` ask it over HTTP when one runs for the data directory; otherwise they open the
index themselves, and ``stats`` first catches up with the chain (or, when the chain is
down, says so and shows what was indexed).
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from deai.cli.common import JsonOption, console, emit, err_console, state
from deai.config import Config
from deai.errors import ChainUnavailable, IndexInUse
from deai.units import format_tokens

index_app = typer.Typer(help="Index the chain's events into DuckDB (the explorer's data).", no_args_is_help=True)


def explorer(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 8645,
    host: Annotated[str, typer.Option("--host", help="Interface to bind (loopback by default).")] = "127.0.0.1",
    refresh: Annotated[int, typer.Option("--refresh", help="Seconds between page reloads (0: never).")] = 5,
) -> None:
    """Serve the explorer dashboard (indexing the chain as it grows) until Ctrl-C."""
    from deai.web.server import running_explorer, serve

    config = state(ctx).config
    if (other := running_explorer(config)) is not None:
        raise IndexInUse(f"an explorer already runs for this data directory at {other.url}",
                         hint="open it in a browser, or stop it first")
    console.print(f"deai explorer at [bold]http://{host}:{port}[/] (Ctrl-C stops it)")
    serve(config, host=host, port=port, refresh_s=refresh)


def _indexer(config: Config, **options: Any) -> Any:
    from deai.apps.analytics import Indexer, index_path, open_index
    from deai.apps.analytics.specs import store_spec_kinds
    from deai.chain.deploy import Deployment
    from deai.chain.rpc import connect

    deployment = Deployment.load(config.deployment_file)
    if config.rpc_url:
        deployment = deployment.with_rpc_url(config.rpc_url)
    w3 = connect(deployment.rpc_url, timeout=10)  # first: a down chain leaves no empty index behind
    db = open_index(index_path(config))
    try:
        return Indexer(db, w3, deployment, spec_kinds=store_spec_kinds(config), **options)
    except BaseException:
        db.close()
        raise


def _refuse_if_explorer(config: Config) -> None:
    from deai.web.server import running_explorer

    if (other := running_explorer(config)) is not None:
        raise IndexInUse(f"the explorer at {other.url} is indexing this chain already",
                         hint="its index is current; see `deai index status`")


@index_app.command("run")
def index_run(
    ctx: typer.Context,
    follow: Annotated[bool, typer.Option("--follow", help="Keep indexing new blocks until Ctrl-C.")] = False,
    max_range: Annotated[int, typer.Option("--range", help="Blocks per eth_getLogs request.")] = 2_000,
    reorg_depth: Annotated[int, typer.Option("--reorg-depth", help="Newest blocks re-read on every run.")] = 12,
    confirmations: Annotated[int, typer.Option("--confirmations", help="Stay this many blocks behind the head.")] = 0,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between polls with --follow.")] = 1.0,
    as_json: JsonOption = False,
) -> None:
    """Index every deai contract's events from the deployment block (resumes where it stopped)."""
    from deai.apps.analytics.indexer import RangeDone

    config = state(ctx).config
    _refuse_if_explorer(config)
    indexer = _indexer(config, max_range=max_range, reorg_depth=reorg_depth, confirmations=confirmations)

    def progress(done: RangeDone) -> None:
        if not as_json:
            # flushed per range: a supervisor (or the restart test) sees each range land
            console.print(f"indexed blocks {done.first_block}..{done.last_block} ({done.events} events)")

    try:
        result = indexer.run(progress=progress)
        while follow:
            import time

            time.sleep(interval)
            result = indexer.run(progress=progress)
    except KeyboardInterrupt:
        pass
    finally:
        status = indexer.status()
        indexer.db.close()
    data = {"from_block": result.from_block, "next_block": result.next_block, "ranges": result.ranges,
            "events": result.events, "rewound_to": result.rewound_to, **status.as_dict()}
    emit(data, as_json, lambda: console.print(
        f"index at block {result.next_block - 1}: {status.events} events, {status.jobs} jobs, "
        f"{status.providers} providers" + (f" (a reorg sent it back to block {result.rewound_to})"
                                           if result.rewound_to is not None else "")))


@index_app.command("status")
def index_status_cmd(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """How far the index is, and how far behind the chain's head."""
    from deai.apps.analytics import index_path, index_status, open_index
    from deai.web.server import running_explorer

    config = state(ctx).config
    source = "index file"
    if (other := running_explorer(config)) is not None:
        data = dict(_ask(other.url, "/api/health")["index"])
        source = f"explorer at {other.url}"
    else:
        db = open_index(index_path(config), read_only=True)
        try:
            data = index_status(db, _head(config)).as_dict()
        finally:
            db.close()
    data["source"] = source

    def render() -> None:
        table = Table(show_header=False, box=None)
        for key in ("chain_id", "deployment_block", "next_block", "head", "behind", "events", "jobs",
                    "providers", "source"):
            table.add_row(key.replace("_", " "), "—" if data.get(key) is None else str(data[key]))
        console.print(table)

    emit(data, as_json, render)


def stats(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The network's key figures: providers, jobs per state, volume, reliability, latency, anomalies."""
    from deai.web.server import running_explorer

    config = state(ctx).config
    if (other := running_explorer(config)) is not None:
        data = _ask(other.url, "/api/stats")
    else:
        data = _stats_here(config)
    emit(data, as_json, lambda: _render_stats(data))


def _stats_here(config: Config) -> dict[str, Any]:
    from deai.apps.analytics import index_path, index_status, open_index
    from deai.apps.analytics.queries import report

    chain_ok = True
    try:
        indexer = _indexer(config)
    except ChainUnavailable:
        if not index_path(config).exists():
            raise
        err_console.print("[yellow]warning:[/] the chain does not answer; showing what was indexed before")
        chain_ok = False
    if chain_ok:
        try:
            indexer.run()
            return {**report(indexer.db), "index": indexer.status().as_dict(), "chain_ok": True}
        finally:
            indexer.db.close()
    db = open_index(index_path(config), read_only=True)
    try:
        return {**report(db), "index": index_status(db, None).as_dict(), "chain_ok": False}
    finally:
        db.close()


def _head(config: Config) -> int | None:
    from deai.chain.deploy import Deployment

    try:
        deployment = Deployment.load(config.deployment_file)
        url = config.rpc_url or deployment.rpc_url
        answer = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
                            timeout=2.0).json()
        return int(answer["result"], 16)
    except Exception:  # status still answers with the chain down or no deployment
        return None


def _ask(url: str, path: str) -> dict[str, Any]:
    try:
        response = httpx.get(url + path, timeout=30.0)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data
    except (httpx.HTTPError, ValueError) as exc:
        raise IndexInUse(f"the explorer at {url} holds the index but did not answer: {exc}",
                         hint="stop it (`deai devnet down` or Ctrl-C) and try again") from None


def _render_verification_and_ai(data: dict[str, Any]) -> None:
    """Validators and their fee shares, fast-path receipt disputes, on-chain AI requests."""
    validators = data.get("validators") or []
    if validators:
        table = Table(title="validators")
        for column in ("validator", "active", "score reports", "fee claims", "fees earned"):
            table.add_column(column, justify="left" if column == "validator" else "right")
        for v in validators:
            table.add_row(str(v["address"]), "yes" if v["active"] else "no", str(v["reports"]), str(v["claims"]),
                          format_tokens(int(v["fees_claimed"])))
        console.print(table)
    disputes = data.get("receipt_disputes") or []
    if disputes:
        counts: dict[str, int] = {}
        for d in disputes:
            counts[str(d["status"]).lower()] = counts.get(str(d["status"]).lower(), 0) + 1
        slashed = sum(int(d["slashed"] or 0) for d in disputes)
        console.print("fast-path receipt disputes: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
                      + f"; {format_tokens(slashed)} slashed")
    requests = (data.get("ai_requests") or {}).get("by_status") or {}
    if any(requests.values()):
        console.print("on-chain AI requests: " + ", ".join(f"{n} {k}" for k, n in requests.items() if n))


def _render_stats(data: dict[str, Any]) -> None:
    o = data["overview"]
    if not data.get("chain_ok", True):
        console.print("[yellow]the chain does not answer: figures as last indexed[/]")
    top = Table(title=f"deai network (indexed to block {o['indexed_block']})", show_header=False)
    top.add_column(style="bold")
    top.add_column(justify="right")
    rows = [
        ("live providers", f"{o['live_providers']} of {o['providers']}"),
        ("validators", str(o["validators"])),
        ("jobs", str(o["jobs"])),
        *((f"  {state.lower()}", str(n)) for state, n in o["jobs_by_state"].items()),
        ("paid to providers", format_tokens(o["volume_paid"])),
        ("validator fees", format_tokens(o["fees_paid"])),
        ("refunded to clients", format_tokens(o["refunded"])),
        ("stake slashed", format_tokens(o["slashed"])),
        ("open payment channels", str(o["channels_open"])),
        ("paid through channels", format_tokens(o["channel_paid"])),
        ("anchored batches", f"{o['anchors']} ({o['anchored_leaves']} leaves)"),
        ("models · datasets", f"{o['models']} · {o['datasets']}"),
        ("AI-generated NFTs", str(o.get("nfts", 0))),
    ]
    lat = data["latency"]
    if lat["p50_s"] is not None:
        rows.append(("posting → settlement", f"median {lat['p50_s']:.0f}s, p90 {lat['p90_s']:.0f}s"))
    for label, value in rows:
        top.add_row(label, value)
    console.print(top)
    providers = Table(title="providers")
    for column in ("provider", "jobs", "finalized", "expired", "rejected", "reliability", "revenue"):
        providers.add_column(column, justify="left" if column == "provider" else "right")
    revenue = {r["provider"]: r["revenue"] for r in data["revenue"]}
    for r in data["reliability"]:
        providers.add_row(r["provider"], str(r["jobs_assigned"]), str(r["finalized"]), str(r["expired"]),
                          str(r["rejected"]), "—" if r["reliability"] is None else f"{r['reliability']:.0%}",
                          format_tokens(revenue.get(r["provider"], 0)))
    console.print(providers)
    _render_verification_and_ai(data)
    for a in data["anomalies"]:
        console.print(f"[yellow]anomaly[/] {a['kind']}: {a['subject']} — {a['detail']}\n  [dim]rule: {a['rule']}[/]")
