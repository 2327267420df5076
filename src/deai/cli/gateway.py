"""``deai gateway``: one OpenAI-compatible endpoint in front of many providers, paid from your channels."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import httpx
import typer

from deai.chain.deploy import Deployment
from deai.cli.common import JsonOption, KeyOption, RoleOption, console, emit, load_account, state
from deai.config import Config
from deai.errors import NodeError
from deai.units import format_tokens, tokens

app = typer.Typer(help="Run a gateway in front of the fast-path providers.", no_args_is_help=True)


def _deployment(config: Config) -> Deployment:
    deployment = Deployment.load(config.deployment_file)
    return deployment.with_rpc_url(config.rpc_url) if config.rpc_url else deployment


def gateway_dir(config: Config) -> Path:
    """Where a gateway keeps its wallet (channels and receipts): ``<data dir>/gateway``."""
    return config.data_dir / "gateway"


@app.command("start")
def start(
    ctx: typer.Context,
    key: KeyOption = None,
    devnet_role: RoleOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: a free one).")] = 0,
    deposit: Annotated[float, typer.Option(help="Tokens to fund each channel with.")] = 1.0,
    lanes: Annotated[int, typer.Option(help="Channels (concurrent requests) per provider.")] = 4,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for an answer (or between stream pieces).")] = 30.0,
    attempts: Annotated[int, typer.Option(help="Providers to try per request.")] = 3,
    provider: Annotated[
        list[str] | None, typer.Option(help="A provider URL; repeat. Default: every active provider in the Registry.")
    ] = None,
    api_key: Annotated[str | None, typer.Option(help="Require Authorization: Bearer KEY.")] = None,
) -> None:
    """Serve /v1/embeddings, /v1/completions and /v1/chat/completions, paying providers from your channels."""
    from deai.gateway import Gateway, GatewaySettings, create_gateway_app
    from deai.http_server import AppServer

    config = state(ctx).config
    logging.basicConfig(level=config.log_level, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per forwarded request is noise
    account = load_account(ctx, key, devnet_role)
    settings = GatewaySettings(deposit=tokens(deposit), lanes=lanes, timeout_s=timeout, max_attempts=attempts,
                               provider_urls=tuple(provider or ()))
    gateway = Gateway(account, _deployment(config), settings, data_dir=gateway_dir(config))
    server = AppServer(create_gateway_app(gateway, api_key=api_key), host, port, name="gateway")
    signal.signal(signal.SIGTERM, lambda *_: server.request_stop())
    signal.signal(signal.SIGINT, lambda *_: server.request_stop())
    server.start()
    try:
        # The first request starts the gateway (finds providers, restores channels).
        found = httpx.get(server.url + "/health", timeout=60.0).json()["providers"]
        if not found:
            raise NodeError("the gateway found no provider that answers",
                            hint="start providers first, or name them with --provider URL")
        print(f"gateway {account.address} ready at {server.url} ({found} providers)", flush=True)
        server.wait()
    finally:
        server.stop()


@app.command("close")
def close(ctx: typer.Context, key: KeyOption = None, devnet_role: RoleOption = None,
          as_json: JsonOption = False) -> None:
    """Start closing every channel the gateway holds; each provider then closes with its latest voucher."""
    from deai.client.channels import FastPath

    config = state(ctx).config
    fast = FastPath(load_account(ctx, key, devnet_role), _deployment(config), data_dir=gateway_dir(config))
    closed = []
    try:
        for session in fast.sessions():
            session.start_close()
            closed.append({"channel": "0x" + bytes(session.channel_id).hex(), "provider": session.provider,
                           "spent": str(int(session.confirmed)), "deposit": str(int(session.deposit))})
    finally:
        fast.close()

    def render() -> None:
        for c in closed:
            console.print(f"closing {c['channel'][:18]}… to {c['provider']}: spent "
                          f"{format_tokens(int(c['spent']))} of {format_tokens(int(c['deposit']))}")
        if not closed:
            console.print("no open channels")

    emit({"closing": closed}, as_json, render)


@app.command("status")
def status(url: Annotated[str, typer.Option(help="The gateway's URL.")] = "http://127.0.0.1:8090",
           as_json: JsonOption = False) -> None:
    """Each provider behind a running gateway: price, latency, reputation, lanes, what it was paid."""
    data = httpx.get(url.rstrip("/") + "/v1/gateway", timeout=10.0).raise_for_status().json()

    def render() -> None:
        console.print(f"gateway {data['address']}: {data['requests']} requests, {data['failovers']} failovers")
        for p in data["providers"]:
            latency = "—" if p["latency_ms"] is None else f"{p['latency_ms']:.1f} ms"
            console.print(f"  {p['address']} {p['url']}  latency {latency}  reputation {p['reputation']}  "
                          f"lanes {p['lanes']}  paid {format_tokens(int(p['paid']))}")

    emit(data, as_json, render)
