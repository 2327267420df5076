"""``deai provider``: run a provider node that bids on jobs, runs them and gets paid."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from deai.chain.deploy import Deployment
from deai.cli.common import KeyOption, RoleOption, load_account, run_node, state
from deai.errors import ConfigError
from deai.node.provider import ProviderNode, ProviderSettings
from deai.runtime.spec import WORKLOAD_KINDS
from deai.units import tokens

app = typer.Typer(help="Run a provider node.", no_args_is_help=True)

DEFAULT_PRICES = {
    "classify": 1.0,
    "embed": 0.5,
    "generate": 2.0,
    "image": 2.0,
    "finetune": 5.0,
    "train": 5.0,
    "evaluate": 1.0,
}


def parse_prices(items: list[str]) -> dict[str, int]:
    """``["classify=1.5", …]`` → kind → price in the token's smallest unit."""
    prices: dict[str, int] = {}
    for item in items:
        kind, sep, value = item.partition("=")
        if not sep or kind not in WORKLOAD_KINDS:
            raise ConfigError(
                f"bad price {item!r}",
                hint=f"use KIND=TOKENS with KIND one of {', '.join(WORKLOAD_KINDS)}",
            )
        try:
            prices[kind] = tokens(value)
        except ArithmeticError:
            raise ConfigError(f"bad price {item!r}: {value!r} is not a number") from None
    return prices


@app.command("start")
def start(
    ctx: typer.Context,
    key: KeyOption = None,
    devnet_role: RoleOption = None,
    price: Annotated[
        list[str] | None, typer.Option(help="KIND=TOKENS per job; repeat. Default: every kind.")
    ] = None,
    model: Annotated[
        list[Path] | None,
        typer.Option(help="A model folder to serve; repeat. Default: the demo models."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: a free one).")] = 0,
    public_url: Annotated[
        str | None, typer.Option(help="URL to advertise, if not http://HOST:PORT.")
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    max_jobs: Annotated[
        int, typer.Option(help="Jobs held at once (bid on, running, committing).")
    ] = 2,
    delay: Annotated[
        float, typer.Option(help="Extra seconds per job (simulates a slow machine).")
    ] = 0.0,
    cheat: Annotated[
        str | None,
        typer.Option(help="Tests only: cheat as lazy, partial:Q, swap, collude or fastpath-lazy (validators catch it)."),
    ] = None,
) -> None:
    """Stake, register and serve: bid on matching jobs, run them, commit results, get paid."""
    config = state(ctx).config
    logging.basicConfig(
        level=config.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if cheat is not None:
        from deai.node.adversary import parse_cheat

        parse_cheat(cheat)  # a typo fails before anything is staked
    account = load_account(ctx, key, devnet_role)
    deployment = Deployment.load(config.deployment_file)
    if config.rpc_url:
        deployment = deployment.with_rpc_url(config.rpc_url)
    prices: dict[str, int] = (
        parse_prices(price) if price else {k: int(tokens(v)) for k, v in DEFAULT_PRICES.items()}
    )
    if model:
        model_dirs = tuple(model)
    else:
        from deai.runtime.demo_models import demo_model_dirs

        model_dirs = tuple(demo_model_dirs().values())
    settings = ProviderSettings(
        prices=prices,
        model_dirs=model_dirs,
        host=host,
        port=port,
        public_url=public_url,
        workers=workers,
        max_concurrent_jobs=max_jobs,
        delay_s=delay,
        cheat=cheat,
    )
    run_node(ProviderNode(config, account, deployment, settings), "provider")
