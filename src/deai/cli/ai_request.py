"""``deai ai-request``: contracts' requests for AI — list, inspect, verify, watch, ask, retry, settle.

Reading needs no account; ``ask``, ``retry``, ``release`` and ``settle`` send a transaction
and take ``--key`` or ``--devnet-role``. Everything comes from the chain: the request's
stored state, its events and its JobMarket job.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.table import Table

from deai.chain.ai_requests import (
    AIDelivered,
    AIParams,
    AIRequested,
    AIRequestFailed,
    AIRequests,
    CallbackCalled,
    Policy,
    RequestKind,
    SubscriptionCreated,
)
from deai.chain.deploy import Deployment
from deai.chain.events import ChainLog
from deai.chain.jobmarket import JobMarket
from deai.chain.rpc import connect
from deai.chain.types import Verification, VerificationMode
from deai.cli.common import JsonOption, KeyOption, RoleOption, console, emit, load_account, state
from deai.errors import InputError
from deai.node.onchain import describe_request, verify_delivery
from deai.units import format_tokens, tokens

app = typer.Typer(help="Smart contracts' requests for AI: watch, inspect, retry callbacks.", no_args_is_help=True)

_KINDS = {k.spec_kind: k for k in RequestKind}
_MODES = {m.name.lower(): m for m in VerificationMode}


def _coordinator(ctx: typer.Context) -> tuple[AIRequests, Deployment]:
    config = state(ctx).config
    deployment = Deployment.load(config.deployment_file)
    if config.rpc_url:
        deployment = deployment.with_rpc_url(config.rpc_url)
    return AIRequests(connect(deployment.rpc_url), deployment), deployment


def _short(text: str, keep: int = 12) -> str:
    return text if len(text) <= 2 * keep + 1 else f"{text[:keep]}…{text[-keep:]}"


@app.command("list")
def list_requests(
    ctx: typer.Context,
    consumer: Annotated[str | None, typer.Option(help="Only this consumer's requests (0x address).")] = None,
    limit: Annotated[int, typer.Option(help="The newest N requests.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """The newest requests with their status and callback state."""
    ai, deployment = _coordinator(ctx)
    requested = [e for e in ai.events(from_block=deployment.block) if isinstance(e, AIRequested)]
    if consumer:
        requested = [e for e in requested if e.consumer.lower() == consumer.lower()]
    rows: list[dict[str, Any]] = []
    for event in requested[-limit:][::-1]:
        s = ai.request(event.request_id)
        rows.append({
            "request_id": event.request_id, "consumer": event.consumer, "kind": event.params.kind.spec_kind,
            "model": event.model_cid, "status": s.status.name.lower(), "callback": s.callback.name.lower(),
            "policy": s.policy.name.lower(), "subscription_id": s.subscription_id or None,
        })

    def render() -> None:
        table = Table("id", "consumer", "kind", "model", "policy", "status", "callback")
        for r in rows:
            table.add_row(str(r["request_id"]), _short(r["consumer"], 6), r["kind"], _short(r["model"], 8),
                          r["policy"], r["status"], r["callback"])
        console.print(table if rows else "no on-chain AI requests yet")

    emit(rows, as_json, render)


@app.command("show")
def show(
    ctx: typer.Context,
    request_id: Annotated[int, typer.Argument(help="The request id (its JobMarket job id).")],
    as_json: JsonOption = False,
) -> None:
    """One request: where it is and why, its input, its answer and manifest, its callbacks."""
    ai, deployment = _coordinator(ctx)
    data = describe_request(ai, JobMarket(ai.w3, deployment), request_id, from_block=deployment.block)

    def render() -> None:
        console.print(f"request {request_id}: [bold]{data['status']}[/] — {data['why']}")
        console.print(f"consumer {data['consumer']}, {data['kind']} on {data['model']}, "
                      f"{data['policy']}, verification {data['verification']}, "
                      f"max price {format_tokens(int(data['max_price']))}")
        console.print(f"input {data['input_cid']}; job {data['job']['status']}, provider {data['job']['provider']}")
        if "delivered" in data:
            d = data["delivered"]
            console.print(f"answer {d['output']!r}\nmanifest {d['manifest_cid']} (provider {d['provider']})")
        if "failed" in data:
            console.print(f"failed: {data['failed']['reason']}, refunded {format_tokens(int(data['failed']['refunded']))}")
        for c in data["callbacks"]:
            what = "onAIDisputed" if c["disputed"] else "onAIResult"
            console.print(f"  {what}: {'ok' if c['success'] else '[red]failed[/]'} (gas limit {c['gas_limit']}, "
                          f"block {c['block']})")

    emit(data, as_json, render)


@app.command("verify")
def verify(
    ctx: typer.Context,
    request_id: Annotated[int, typer.Argument(help="A delivered request.")],
    gateway: Annotated[list[str] | None, typer.Option(help="Gateway URL to fetch from; repeat (default: the providers').")] = None,
    as_json: JsonOption = False,
) -> None:
    """Check a delivered answer: it is the committed result's, under the provider's signed manifest."""
    from deai.chain.registry import Registry
    from deai.market.discovery import list_providers
    from deai.store import LocalStore

    ai, deployment = _coordinator(ctx)
    urls = list(gateway or []) or [
        p.endpoint for p in list_providers(Registry(ai.w3, deployment), from_block=deployment.block)
    ]
    checks = verify_delivery(ai, JobMarket(ai.w3, deployment), request_id,
                             LocalStore.from_config(state(ctx).config), urls, from_block=deployment.block)
    ok = all(c.ok for c in checks)
    data = {"request_id": request_id, "ok": ok, "checks": [c.__dict__ for c in checks]}

    def render() -> None:
        for c in checks:
            console.print(f"{'[green]ok[/]' if c.ok else '[red]FAIL[/]'}  {c.name}: {c.detail}")

    emit(data, as_json, render)
    if not ok:
        raise typer.Exit(1)


@app.command("watch")
def watch(
    ctx: typer.Context,
    consumer: Annotated[str | None, typer.Option(help="Only this consumer's requests.")] = None,
    seconds: Annotated[float, typer.Option(help="Stop after this long (0: until Ctrl-C).")] = 0.0,
    since: Annotated[int | None, typer.Option(help="Start at this block (default: the head).")] = None,
) -> None:
    """Print requests, deliveries, callbacks and failures as they happen."""
    ai, _ = _coordinator(ctx)
    cursor = int(ai.w3.eth.block_number) + 1 if since is None else since
    consumers: dict[int, str] = {}
    stop = time.monotonic() + seconds if seconds > 0 else float("inf")
    while time.monotonic() < stop:
        head = int(ai.w3.eth.block_number)
        if cursor <= head:
            for event in ai.events(from_block=cursor, to_block=head):
                line = _line(event, consumers)
                if line and (consumer is None or consumers.get(getattr(event, "request_id", -1), "").lower()
                             == consumer.lower()):
                    console.print(f"[dim]block {event.block_number}[/] {line}")
            cursor = head + 1
        time.sleep(0.5)


def _line(event: ChainLog, consumers: dict[int, str]) -> str:
    if isinstance(event, AIRequested):
        consumers[event.request_id] = event.consumer
        return (f"request {event.request_id} from {event.consumer}: {event.params.kind.spec_kind} on "
                f"{_short(event.model_cid, 8)}, {event.policy.name.lower()}")
    if isinstance(event, AIDelivered):
        return f"request {event.request_id} answered by {event.provider} ({len(event.output)} bytes)"
    if isinstance(event, CallbackCalled):
        what = "onAIDisputed" if event.disputed else "onAIResult"
        return f"request {event.request_id}: {what} {'ok' if event.success else 'FAILED (retry it)'}"
    if isinstance(event, AIRequestFailed):
        return f"request {event.request_id} failed: {event.reason.sentence}"
    if isinstance(event, SubscriptionCreated):
        return (f"subscription {event.subscription_id} by {event.consumer}: {event.rounds} rounds every "
                f"{event.period} blocks")
    return ""


@app.command("ask")
def ask(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="Model CID (registered in the Registry).")],
    kind: Annotated[str, typer.Option(help="classify, embed or generate.")] = "generate",
    text: Annotated[str | None, typer.Option(help="The inline input (at most 1024 bytes).")] = None,
    input_cid: Annotated[str | None, typer.Option(help="Or the input's CID.")] = None,
    max_price: Annotated[float, typer.Option(help="Most you pay, in tokens.")] = 3.0,
    policy: Annotated[str, typer.Option(help="optimistic or final.")] = "optimistic",
    verification: Annotated[str, typer.Option(help="sampled, redundant, rescore, zk or none.")] = "sampled",
    max_tokens: Annotated[int, typer.Option(help="generate: tokens to write.")] = 32,
    temperature: Annotated[float, typer.Option(help="generate: 0 (greedy) .. 10, in hundredths.")] = 0.0,
    seed: Annotated[int, typer.Option(help="generate: sampling seed.")] = 0,
    key: KeyOption = None,
    devnet_role: RoleOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ask from an account (no callback: the answer is read from the events); prints the id."""
    if (text is None) == (input_cid is None):
        raise InputError("give exactly one of --text or --input-cid")
    if kind not in _KINDS or verification not in _MODES or policy not in ("optimistic", "final"):
        raise InputError("bad --kind, --verification or --policy", hint="see `deai ai-request ask --help`")
    ai, _ = _coordinator(ctx)
    account = load_account(ctx, key, devnet_role)
    mode = _MODES[verification]
    v = Verification(mode, {VerificationMode.REDUNDANT: 2, VerificationMode.ZK: 0,
                            VerificationMode.NONE: 0}.get(mode, 1_000))
    params = AIParams(_KINDS[kind], input_is_cid=input_cid is not None,
                      output_as_cid=_KINDS[kind] is RequestKind.EMBED, max_tokens=max_tokens,
                      temperature=temperature, seed=seed)
    event = ai.request_ai(account, model, input_cid if input_cid is not None else str(text), tokens(max_price),
                          params=params, verification=v, policy=Policy[policy.upper()])
    emit({"request_id": event.request_id}, as_json,
         lambda: console.print(f"request {event.request_id} posted; follow it with "
                               f"`deai ai-request show {event.request_id}`"))


@app.command("retry")
def retry(
    ctx: typer.Context,
    request_id: Annotated[int, typer.Argument(help="The request whose callback failed.")],
    gas: Annotated[int, typer.Option(help="Gas for the callback (at least the request's limit).")] = 0,
    key: KeyOption = None,
    devnet_role: RoleOption = None,
    as_json: JsonOption = False,
) -> None:
    """Call a consumer back again after its callback failed (result or dispute notice)."""
    ai, _ = _coordinator(ctx)
    called = ai.retry_callback(load_account(ctx, key, devnet_role), request_id, gas_limit=gas)
    data = {"request_id": request_id, "success": called.success, "disputed": called.disputed,
            "gas_limit": called.gas_limit}
    emit(data, as_json, lambda: console.print(
        f"request {request_id}: callback {'succeeded' if called.success else '[red]failed again[/]'}"))


@app.command("release")
def release(
    ctx: typer.Context,
    request_id: Annotated[int, typer.Argument(help="A final-policy request whose job is finalized.")],
    key: KeyOption = None,
    devnet_role: RoleOption = None,
    as_json: JsonOption = False,
) -> None:
    """Call a `final` request's consumer back with its answer once the job is finalized."""
    ai, _ = _coordinator(ctx)
    called = ai.release(load_account(ctx, key, devnet_role), request_id)
    emit({"request_id": request_id, "success": called.success}, as_json,
         lambda: console.print(f"request {request_id}: released, callback {'ok' if called.success else 'failed'}"))


@app.command("settle")
def settle(
    ctx: typer.Context,
    request_id: Annotated[int, typer.Argument(help="A request whose job failed or expired.")],
    key: KeyOption = None,
    devnet_role: RoleOption = None,
    as_json: JsonOption = False,
) -> None:
    """Close a request whose job ended without a standing answer: refund and notify the consumer."""
    ai, _ = _coordinator(ctx)
    failed = ai.settle(load_account(ctx, key, devnet_role), request_id)
    data = {"request_id": request_id, "reason": failed.reason.name.lower(), "refunded": str(failed.refunded),
            "compensation": str(failed.compensation)}
    emit(data, as_json, lambda: console.print(f"request {request_id} settled: {failed.reason.sentence}"))


@app.command("subscriptions")
def subscriptions(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every subscription: its consumer, schedule and rounds left."""
    ai, _ = _coordinator(ctx)
    rows: list[dict[str, Any]] = []
    for sub_id in range(1, ai.subscription_count() + 1):
        sub = ai.subscription(sub_id)
        rows.append({"subscription_id": sub_id, "consumer": sub.consumer, "model": sub.model_cid,
                     "kind": sub.params.kind.spec_kind, "period": sub.period, "rounds_left": sub.rounds_left,
                     "rounds_fired": sub.rounds_fired, "next_block": sub.next_block,
                     "dynamic_input": sub.dynamic_input})

    def render() -> None:
        table = Table("id", "consumer", "kind", "every", "fired", "left", "next block")
        for r in rows:
            table.add_row(str(r["subscription_id"]), _short(r["consumer"], 6), r["kind"], f"{r['period']} blocks",
                          str(r["rounds_fired"]), str(r["rounds_left"]), str(r["next_block"]))
        console.print(table if rows else "no subscriptions yet")

    emit(rows, as_json, render)
