"""``deai devnet``: the embedded local network: chain, contracts, demo assets, nodes, explorer.

The chain is ``deai.chain.devnet.Devnet``; its provider and validator processes are
``deai.node.devnet_nodes.DevnetNodes``; the explorer is ``deai.web``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from deai.chain.devnet import Devnet
from deai.cli.common import JsonOption, console, emit, state
from deai.node.devnet_nodes import DEFAULT_PROVIDERS, DEFAULT_VALIDATORS, DevnetNodes, node_roles
from deai.units import format_tokens, tokens

app = typer.Typer(
    help="The local devnet: anvil, the deai contracts, providers, a validator and the explorer.",
    no_args_is_help=True,
)


@app.command("up")
def up(
    ctx: typer.Context,
    port: Annotated[
        int | None, typer.Option(help="Port on 127.0.0.1 (default: a free one).")
    ] = None,
    providers: Annotated[
        int,
        typer.Option(help="Provider processes to start (0-3; they play provider1, provider2, …)."),
    ] = DEFAULT_PROVIDERS,
    validators: Annotated[
        int,
        typer.Option(help="Validator processes to start (0-3; they play validator1, …)."),
    ] = DEFAULT_VALIDATORS,
    explorer: Annotated[bool, typer.Option(help="Also start the explorer dashboard.")] = True,
    explorer_port: Annotated[
        int | None, typer.Option(help="Explorer port (default: a free one).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Start the devnet (restoring its saved state), deploy contracts, fund demo accounts,
    register the demo models and datasets, and start providers, a validator and the explorer."""
    from deai.node.devnet_seed import seed_devnet
    from deai.web import stop_explorer

    node_roles(providers, validators)  # bad counts fail before anything starts
    config = state(ctx).config
    net = Devnet(config)
    fleet = DevnetNodes(config)
    deployment = net.up(port=port)
    try:
        seeded = seed_devnet(config, deployment)
        explorer_url = None
        if explorer:
            from deai.web import start_explorer

            explorer_url = start_explorer(config, port=explorer_port).url
        nodes = fleet.start(providers, validators)
    except BaseException:
        # All or nothing: a failed `up` leaves no process of this devnet behind.
        fleet.stop()
        stop_explorer(config)
        net.down()
        raise
    data = {
        "rpc_url": deployment.rpc_url,
        "chain_id": deployment.chain_id,
        "contracts": deployment.contracts,
        "assets": {a.name: a.cid for a in seeded},
        "explorer": explorer_url,
        "nodes": [node.as_dict() for node in nodes],
    }

    def render() -> None:
        console.print(
            f"devnet up at [bold]{deployment.rpc_url}[/] (chain {deployment.chain_id}); "
            f"{len(deployment.contracts)} contracts, {len(seeded)} demo models and datasets registered"
        )
        for node in nodes:
            console.print(f"{node.kind} {node.role} at [bold]{node.url}[/] (log {node.log_file})")
        if explorer_url:
            console.print(f"explorer at [bold]{explorer_url}[/]")

    emit(data, as_json, render)


@app.command("down")
def down(ctx: typer.Context) -> None:
    """Stop the devnet, its nodes and its explorer; state and node keys are kept for the next `up`."""
    from deai.web import stop_explorer

    config = state(ctx).config
    stopped = DevnetNodes(config).stop()  # nodes first: they would log errors without a chain
    stop_explorer(config)
    Devnet(config).down()
    console.print(f"devnet stopped ({len(stopped)} nodes); state kept")


@app.command("reset")
def reset(ctx: typer.Context) -> None:
    """Stop the devnet and its nodes and forget its chain state, deployment and nodes' state."""
    from deai.web import stop_explorer

    config = state(ctx).config
    DevnetNodes(config).stop()
    stop_explorer(config)
    Devnet(config).reset()
    console.print("devnet reset: the next `deai devnet up` starts a fresh chain")


@app.command("status")
def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Block height, contracts, accounts and balances, and the devnet's nodes."""

    config = state(ctx).config
    result = Devnet(config).status()
    nodes = []  # (node, its process runs, its API answers)
    for node in DevnetNodes(config).recorded():
        alive = node.alive()
        nodes.append((node, alive, alive and node.answers()))

    def render_nodes() -> None:
        if not nodes:
            return
        table = Table("node", "role", "API", "pid", "alive", title="nodes")
        for node, alive, answers in nodes:
            state_text = "[green]yes[/]" if answers else "starting" if alive else "[red]no[/]"
            table.add_row(node.kind, node.role, node.url, str(node.pid), state_text)
        console.print(table)
        console.print(f"node logs: {nodes[0][0].log_file.parent.parent}/<role>/node.log")

    def render() -> None:
        if not result.running:
            console.print("devnet: [red]not running[/] (start it with `deai devnet up`)")
            render_nodes()
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
        render_nodes()

    data = result.as_dict()
    data["nodes"] = [
        {**node.as_dict(), "alive": alive, "answers": answers} for node, alive, answers in nodes
    ]
    emit(data, as_json, render)


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
