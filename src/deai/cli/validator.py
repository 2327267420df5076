"""``deai validator``: run a validator, read the network's reputation scores and a validator's fees, name the oracle."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from deai.chain.deploy import Deployment
from deai.cli.common import (
    JsonOption,
    KeyOption,
    RoleOption,
    console,
    emit,
    load_account,
    run_node,
    state,
)
from deai.config import Config
from deai.errors import ConfigError

app = typer.Typer(help="Run a validator: sample results, re-check them, challenge, vote.",
                  no_args_is_help=True)


def _deployment(config: Config) -> Deployment:
    deployment = Deployment.load(config.deployment_file)
    return deployment.with_rpc_url(config.rpc_url) if config.rpc_url else deployment


@app.command("start")
def start(
    ctx: typer.Context,
    key: KeyOption = None,
    devnet_role: RoleOption = None,
    model: Annotated[
        list[Path] | None,
        typer.Option(help="A model folder to check jobs with; repeat. Default: the demo models."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: a free one).")] = 0,
    public_url: Annotated[
        str | None,
        typer.Option(help="The URL others reach this validator at, published in the Registry so dispute "
                          "committees can fetch its evidence (default: the URL it serves on)."),
    ] = None,
    epoch: Annotated[int, typer.Option("--epoch-s", help="Seconds per reputation epoch.")] = 60,
    audit_rate: Annotated[
        float, typer.Option(help="Chance of re-running a redundant group whose members agree.")
    ] = 0.05,
    oracle: Annotated[
        bool, typer.Option("--oracle", help="Write the consensus reputation to the JobMarket.")
    ] = False,
    cheat: Annotated[
        str | None, typer.Option(help="Tests only: false-challenge (challenge honest work).")
    ] = None,
    receipt_checks: Annotated[
        bool, typer.Option("--receipt-checks/--no-receipt-checks",
                           help="Sample anchored fast-path receipts, re-run them, challenge and vote.")
    ] = True,
    receipt_sample_rate: Annotated[
        float, typer.Option(help="Fraction of anchored receipts to re-run (1 = all).")
    ] = 0.05,
    gateway: Annotated[
        list[str] | None,
        typer.Option(help="An IPFS gateway to fetch data and challengers' evidence from (another "
                          "validator's URL); repeat."),
    ] = None,
) -> None:
    """Stake, register and validate until stopped (SIGINT/SIGTERM)."""
    from deai.node.validator import ValidatorNode, ValidatorSettings

    config = state(ctx).config
    logging.basicConfig(level=config.log_level, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per block fetched otherwise
    if not 0.0 <= audit_rate <= 1.0:
        raise ConfigError(f"--audit-rate is a fraction in [0, 1], not {audit_rate}")
    if epoch < 1:
        raise ConfigError("--epoch-s must be at least 1")
    if not 0.0 <= receipt_sample_rate <= 1.0:
        raise ConfigError(f"--receipt-sample-rate is a fraction in [0, 1], not {receipt_sample_rate}")
    if model:
        model_dirs = tuple(model)
    else:
        from deai.runtime.demo_models import demo_model_dirs

        model_dirs = tuple(demo_model_dirs().values())
    settings = ValidatorSettings(model_dirs=model_dirs, host=host, port=port, public_url=public_url, epoch_s=epoch,
                                 redundant_audit_bps=round(audit_rate * 10_000), oracle=oracle, cheat=cheat,
                                 receipt_checks=receipt_checks,
                                 receipt_sample_bps=round(receipt_sample_rate * 10_000),
                                 gateways=tuple(gateway or ()))
    account = load_account(ctx, key, devnet_role)
    run_node(ValidatorNode(config, account, _deployment(config), settings), "validator")


@app.command("scores")
def scores(
    ctx: typer.Context,
    epoch: Annotated[int | None, typer.Option(help="The epoch (default: the latest posted).")] = None,
    as_json: JsonOption = False,
) -> None:
    """The network's reputation per provider: the stake-weighted, clipped median of the posts."""
    from deai.chain.rpc import connect
    from deai.verify.reputation import latest_posted_epoch, network_scores

    config = state(ctx).config
    deployment = _deployment(config)
    w3 = connect(deployment.rpc_url)
    chosen = epoch if epoch is not None else latest_posted_epoch(w3, deployment)
    found = {} if chosen is None else network_scores(w3, deployment, chosen)
    data = {"epoch": chosen, "scores": {p: {"score": c.score, "median": c.median, "validators": c.validators,
                                            "stake": str(c.stake)} for p, c in found.items()}}

    def render() -> None:
        if chosen is None:
            console.print("no validator has posted scores yet")
            return
        table = Table(title=f"reputation, epoch {chosen}")
        for column in ("provider", "score", "median", "validators"):
            table.add_column(column)
        for provider, c in found.items():
            table.add_row(provider, str(c.score), str(c.median), str(c.validators))
        console.print(table)

    emit(data, as_json, render)


@app.command("status")
def status(
    ctx: typer.Context,
    address: Annotated[str | None, typer.Argument(help="The validator (default: --key or --devnet-role).")] = None,
    key: KeyOption = None,
    devnet_role: RoleOption = None,
    url: Annotated[
        str | None, typer.Option(help="Also read a running validator's counters from its API (/v1/stats).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """A validator's fees from the ValidatorPool: earned, epochs claimed, epochs not claimed yet."""
    from eth_utils.address import is_address, to_checksum_address

    from deai.chain.registry import Registry
    from deai.chain.rpc import connect
    from deai.chain.validator_pool import ReportState, ValidatorPool

    if address is not None and not is_address(address):
        raise ConfigError(f"{address!r} is not an address", hint="give 0x and 40 hex digits, or --key / --devnet-role")
    who = to_checksum_address(address) if address is not None else str(load_account(ctx, key, devnet_role).address)
    deployment = _deployment(state(ctx).config)
    w3 = connect(deployment.rpc_url)
    pool = ValidatorPool(w3, deployment)
    registry = Registry(w3, deployment)
    current = pool.current_epoch()
    claims = pool.claims(validator=who, from_block=deployment.block)
    claimed = [{"epoch": c.epoch, "amount": int(c.amount), "tx": c.transaction_hash} for c in claims]
    done = {c.epoch for c in claims}
    unclaimed = []
    # every epoch reported and not yet claimed; the pool pays from epoch + 2 on (docs/verification.md)
    for epoch in sorted({r.epoch for r in pool.reports(validator=who, from_block=deployment.block)} - done):
        if pool.state_of(epoch, who) != ReportState.REPORTED:
            continue
        ready = current >= epoch + 2
        unclaimed.append({"epoch": epoch, "claimable": int(pool.claimable(epoch, who)) if ready else 0,
                          "pot": int(pool.epoch(epoch).pot), "claimable_from_epoch": epoch + 2, "ready": ready})
    data: dict[str, object] = {
        "validator": who, "active": registry.is_active_validator(who),
        "endpoint": registry.validator_endpoint(who, from_block=deployment.block) or None,
        "current_epoch": current, "epoch_s": pool.epoch_length(),
        "fees_earned": sum(int(c.amount) for c in claims), "claimed": claimed, "unclaimed": unclaimed,
    }
    if url is not None:
        data["api"] = _api_stats(url)

    def render() -> None:
        from deai.units import format_tokens

        console.print(f"validator {who} ({'active' if data['active'] else 'not active'}), "
                      f"endpoint {data['endpoint'] or '(none published)'}")
        console.print(f"fees earned: {format_tokens(int(str(data['fees_earned'])))} "
                      f"in {len(claimed)} claimed epochs; epoch now {current}")
        table = Table(title="epochs reported")
        for column in ("epoch", "state", "amount"):
            table.add_column(column)
        for c in claimed:
            table.add_row(str(c["epoch"]), "claimed", format_tokens(int(str(c["amount"]))))
        for u in unclaimed:
            state_ = "claimable" if u["ready"] else f"claimable from epoch {u['claimable_from_epoch']}"
            table.add_row(str(u["epoch"]), state_, format_tokens(int(str(u["claimable"]))) if u["ready"] else "-")
        console.print(table)
        if "api" in data:
            console.print(f"its API says: {data['api']}")

    emit(data, as_json, render)


def _api_stats(url: str) -> dict[str, object]:
    """The fee counters of a running validator's ``/v1/stats``."""
    import httpx

    from deai.errors import NodeError

    try:
        response = httpx.get(f"{url.rstrip('/')}/v1/stats", timeout=10.0)
        response.raise_for_status()
        stats = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise NodeError(f"the validator at {url} did not answer /v1/stats: {exc}",
                        hint="check the URL (`deai validator start` prints it) or leave --url out") from None
    return {k: stats.get(k) for k in ("fees_earned", "fee_claims", "fee_syncs", "posts")}


@app.command("set-oracle")
def set_oracle(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="The validator that will write reputation.")],
    key: KeyOption = None,
    devnet_role: RoleOption = None,
) -> None:
    """Name the reputation oracle (the JobMarket's owner only: on the devnet, the deployer)."""
    from deai.chain.jobmarket import JobMarket
    from deai.chain.rpc import connect

    config = state(ctx).config
    deployment = _deployment(config)
    market = JobMarket(connect(deployment.rpc_url), deployment)
    event = market.set_reputation_oracle(load_account(ctx, key, devnet_role), address)
    console.print(f"reputation oracle: {event.oracle}")
