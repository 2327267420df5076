"""``deai job``: submit work, watch it, fetch its checked result, list jobs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from eth_account import Account
from rich.live import Live
from rich.table import Table

from deai.chain.types import JobStatus
from deai.cli.common import JsonOption, KeyOption, RoleOption, console, emit, load_account, state
from deai.client import Client, Job
from deai.errors import SpecError
from deai.runtime.spec import WORKLOAD_KINDS
from deai.units import format_tokens, tokens

app = typer.Typer(help="Submit jobs, watch them, fetch results.", no_args_is_help=True)

_CID = re.compile(r"^(b[a-z2-7]{20,}|Qm[1-9A-HJ-NP-Za-km-z]{44})$")


def _client(
    ctx: typer.Context, key: str | None, devnet_role: str | None, *, read_only: bool = False
) -> Client:
    config = state(ctx).config
    if read_only and key is None and devnet_role is None:
        account = Account.create()  # reading needs no identity; this key signs nothing
    else:
        account = load_account(ctx, key, devnet_role)
    return Client.from_config(config, account)


def resolve_model(client: Client, name_or_cid: str) -> str:
    """A model CID, or the CID of a demo model named ``digits``, ``textgen``, …"""
    if _CID.match(name_or_cid):
        return name_or_cid
    from deai.runtime.demo_models import demo_model_dirs

    dirs = demo_model_dirs(build=False)
    if name_or_cid not in dirs or not dirs[name_or_cid].is_dir():
        raise SpecError(
            f"no model {name_or_cid!r}", hint=f"give a CID or a demo model name: {', '.join(dirs)}"
        )
    return client.add_path(dirs[name_or_cid])


def parse_params(items: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise SpecError(
                f"bad parameter {item!r}", hint="use NAME=VALUE, e.g. --param max_tokens=32"
            )
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    return params


@app.command("submit")
def submit(
    ctx: typer.Context,
    kind: Annotated[str, typer.Option(help=f"One of {', '.join(WORKLOAD_KINDS)}.")],
    model: Annotated[str, typer.Option(help="Model CID or demo model name (digits, textgen, …).")],
    input_path: Annotated[
        list[Path] | None, typer.Option("--input", help="An input file or folder; repeat.")
    ] = None,
    text: Annotated[
        str | None, typer.Option(help="An input given inline (a prompt, a label, JSON).")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option(help="NAME=VALUE run parameter; repeat.")
    ] = None,
    max_price: Annotated[
        float, typer.Option(help="Most you pay, in tokens (held in escrow).")
    ] = 5.0,
    bid_window: Annotated[int, typer.Option(help="Seconds providers may bid.")] = 4,
    deadline: Annotated[int, typer.Option(help="Seconds until the result is due.")] = 300,
    verification: Annotated[
        str, typer.Option(help="sampled, redundant, rescore, zk or none.")
    ] = "sampled",
    wait: Annotated[bool, typer.Option(help="Wait for the result and show it.")] = True,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Save outputs in this folder.")
    ] = None,
    key: KeyOption = None,
    devnet_role: RoleOption = None,
    as_json: JsonOption = False,
) -> None:
    """Post a job with its maximum price in escrow; by default wait and show the result."""
    client = _client(ctx, key, devnet_role)
    inputs = [client.add_path(p) for p in (input_path or [])]
    if text is not None:
        inputs.append(client.add_bytes(text.encode()))
    spec = {
        "kind": kind,
        "model": resolve_model(client, model),
        "inputs": inputs,
        "params": parse_params(param or []),
        "verification": {"mode": verification},
    }
    job = client.submit(
        spec, max_price=tokens(max_price), bid_window_s=bid_window, deadline_s=deadline
    )
    if not wait:
        emit({"job_id": job.id}, as_json, lambda: console.print(f"posted job {job.id}"))
        return
    _watch([job], quiet=as_json)
    _show_result(job, output, as_json)


def _watch(jobs: list[Job], *, quiet: bool, timeout: float = 300.0) -> None:
    statuses: dict[int, JobStatus] = {}

    def table() -> Table:
        grid = Table("job", "status", "why")
        for job in jobs:
            grid.add_row(str(job.id), statuses.get(job.id, JobStatus.OPEN).name.lower(), job.why())
        return grid

    if quiet:
        for job in jobs:
            job.wait(timeout=timeout)
        return
    with Live(table(), console=console, refresh_per_second=4) as live:

        def changed(job: Job, status: JobStatus) -> None:
            statuses[job.id] = status
            live.update(table())

        for job in jobs:
            job.wait(timeout=timeout, on_change=changed)
        live.update(table())


def _show_result(job: Job, output: Path | None, as_json: bool) -> None:
    status = job.status()
    data: dict[str, Any] = {"job_id": job.id, "status": status.name.lower(), "why": job.why()}
    if status in (JobStatus.COMMITTED, JobStatus.FINALIZED):
        result = job.result()
        data.update(
            output_cid=result.output_cid,
            provider=result.provider,
            result=result.result.result,
            outputs={r.name: r.cid for r in result.result.outputs},
        )
        if output is not None:
            data["files"] = [str(p) for p in result.save(output)]
    emit(data, as_json, lambda: console.print_json(json.dumps(data, default=str)))


@app.command("status")
def status(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(help="The job's id.")],
    as_json: JsonOption = False,
) -> None:
    """Where a job is and why, from the chain."""
    client = _client(ctx, None, None, read_only=True)
    job = client.job(job_id)
    info = job.info()
    data = {
        "job_id": job_id,
        "status": info.status.name.lower(),
        "why": job.why(),
        "client": info.client,
        "provider": info.provider,
        "price": str(info.price),
        "max_price": str(info.max_price),
    }
    emit(
        data,
        as_json,
        lambda: console.print(
            f"job {job_id}: [bold]{data['status']}[/] — {data['why']}\n"
            f"client {info.client}, provider {info.provider}, price {format_tokens(info.price)}"
        ),
    )


@app.command("result")
def result(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(help="The job's id.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Save outputs in this folder.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Fetch a job's committed result from its provider, verify it, and show or save it."""
    client = _client(ctx, None, None, read_only=True)
    _show_result(client.job(job_id), output, as_json)


@app.command("ls")
def ls(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every job on this deployment with its status."""
    client = _client(ctx, None, None, read_only=True)
    rows: list[dict[str, str]] = []
    for job_id in range(1, client.market.job_count() + 1):
        info = client.market.job(job_id)
        rows.append(
            {
                "job_id": str(job_id),
                "status": info.status.name.lower(),
                "client": info.client,
                "provider": info.provider,
                "price": str(info.price),
            }
        )

    def render() -> None:
        grid = Table("job", "status", "client", "provider", "price")
        for row in rows:
            grid.add_row(
                str(row["job_id"]),
                row["status"],
                row["client"],
                row["provider"],
                format_tokens(int(row["price"])),
            )
        console.print(grid if rows else "no jobs yet: post one with `deai job submit`")

    emit({"jobs": rows}, as_json, render)
