"""``deai devnet``: the embedded local chain with the deai contracts deployed."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from deai.chain.devnet import Devnet
from deai.cli.common import JsonOption, console, emit, state
from deai.units import format_tokens, tokens

app = typer.Typer(help="The local devnet: anvil plus the deai contracts.", no_args_is_help=True)


@app.command("up")
def up(
    ctx: typer.Context,
    port: Annotated[
        int | None, typer.Option(help="Port on 127.0.0.1 (default: a free one).")
    ] = None,
    explorer: Annotated[bool, typer.Option(help="Also start the explorer dashboard.")] = True,
    explorer_port: Annotated[
        int | None, typer.Option(help="Explorer port (default: a free one).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Start the devnet (restoring its saved state), deploy contracts, fund demo accounts,
    register the demo models and datasets, and start the explorer."""
    from deai.node.devnet_seed import seed_devnet

    config = state(ctx).config
    net = Devnet(config)
    deployment = net.up(port=port)
    try:
        seeded = seed_devnet(config, deployment)
        explorer_url = None
        if explorer:
            from deai.web import start_explorer

            explorer_url = start_explorer(config, port=explorer_port).url
    except BaseException:
        net.down()
        raise
    data = {
        "rpc_url": deployment.rpc_url,
        "chain_id": deployment.chain_id,
        "contracts": deployment.contracts,
        "assets": {a.name: a.cid for a in seeded},
        "explorer": explorer_url,
    }

    def render() -> None:
        console.print(
            f"devnet up at [bold]{deployment.rpc_url}[/] (chain {deployment.chain_id}); "
            f"{len(deployment.contracts)} contracts, {len(seeded)} demo models and datasets registered"
        )
        if explorer_url:
            console.print(f"explorer at [bold]{explorer_url}[/]")

    emit(data, as_json, render)


@app.command("down")
def down(ctx: typer.Context) -> None:
    """Stop the devnet and its explorer; the chain's state is kept for the next `up`."""
    from deai.web import stop_explorer

    config = state(ctx).config
    stop_explorer(config)
    Devnet(config).down()
    console.print("devnet stopped; state kept")


@app.command("reset")
def reset(ctx: typer.Context) -> None:
    """Stop the devnet and forget its chain state and deployment."""
    from deai.web import stop_explorer

    config = state(ctx).config
    stop_explorer(config)
    Devnet(config).reset()
    console.print("devnet reset: the next `deai devnet up` starts a fresh chain")


@app.command("status")
def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Block height, contracts, accounts and balances."""
    result = Devnet(state(ctx).config).status()

    def render() -> None:
        if not result.running:
            console.print("devnet: [red]not running[/] (start it with `deai devnet up`)")
            return
        console.print(
            f"devnet [green]running[/] at {result.rpc_url}, chain {result.chain_id}, "
            f"block {result.block}"
        )
        contracts = Table("contract", "address", title="contracts")
        for name, address in result.deployment.contracts.items() if result.deployment else []:
            contracts.add_row(name, address)
        console.print(contracts)
        accounts = Table("role", "address", "ETH", "DEAI", title="accounts")
        for b in result.balances:
            accounts.add_row(b.role, b.address, f"{b.eth_wei / 10**18:.4f}", format_tokens(b.token))
        console.print(accounts)

    emit(result.as_dict(), as_json, render)


@app.command("fund")
def fund(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="0x address to receive tokens.")],
    amount: Annotated[float, typer.Argument(help="Whole tokens to mint.")],
    as_json: JsonOption = False,
) -> None:
    """Mint devnet tokens to an address (devnet only: the deployer is the minter)."""
    receipt = Devnet(state(ctx).config).fund(address, tokens(amount))
    emit(
        {"address": address, "amount": str(tokens(amount)), "tx": receipt},
        as_json,
        lambda: console.print(f"minted {format_tokens(tokens(amount))} to {address}"),
    )
