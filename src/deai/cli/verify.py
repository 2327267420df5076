"""``deai verify FILE|CID``: who made this output, with which model, when; exit 0 only if all checks pass.

Reads the chain named by the deployment file (``deai devnet up`` writes it; ``DEAI_RPC_URL``
points elsewhere), the local store, this data directory's provenance log when there is
one (``--index`` names another), and any gateways given.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from deai.cli.common import JsonOption, console, emit, state
from deai.config import Config

if TYPE_CHECKING:
    from web3 import Web3

    from deai.chain.deploy import Deployment
    from deai.provenance.log import ProvenanceIndex
    from deai.store import LocalStore

GatewayOption = Annotated[
    list[str] | None,
    typer.Option("--gateway", "-g", help="Fetch manifests, records and outputs from this IPFS gateway (repeat)."),
]
IndexOption = Annotated[
    Path | None,
    typer.Option("--index", help="A provider's provenance log (log.sqlite) to look records up in."),
]


def connect_chain(config: Config) -> tuple[Web3, Deployment]:
    """The chain and deployment this invocation verifies against."""
    from deai.chain.deploy import Deployment
    from deai.chain.devnet import Devnet
    from deai.chain.rpc import connect

    if config.rpc_url:
        deployment = Deployment.load(config.deployment_file).with_rpc_url(config.rpc_url)
    else:
        deployment = Devnet(config).deployment()
    return connect(deployment.rpc_url), deployment


def open_sources(config: Config, index: Path | None) -> tuple[LocalStore | None, ProvenanceIndex | None]:
    """The local store (if this data directory has one) and a provenance index (if any)."""
    from deai.provenance.log import ProvenanceIndex, default_db_path
    from deai.store import LocalStore

    store = LocalStore.from_config(config) if config.store_dir.is_dir() else None
    path = index or default_db_path(config.data_dir)
    return store, (ProvenanceIndex(path) if index is not None or path.is_file() else None)


def _mark(ok: bool) -> str:
    return "[green]✓[/]" if ok else "[red]✗[/]"


def verify_command(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="A file (PNG with a C2PA credential, or with a FILE.deai.json sidecar) or a CID.")],
    gateway: GatewayOption = None,
    index: IndexOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check an output's provenance: file hash, signature, on-chain anchor, provider stake, disputes."""
    from deai.provenance.verifier import verify

    config = state(ctx).config
    w3, deployment = connect_chain(config)
    store, idx = open_sources(config, index)
    path = Path(target)
    verdict = verify(path if path.exists() else target, store=store, w3=w3, deployment=deployment,
                     gateways=gateway or (), index=idx)

    def render() -> None:
        table = Table("", "check", "detail", show_header=False, box=None)
        for check in verdict.checks:
            table.add_row(_mark(check.ok), check.name, check.detail)
        console.print(table)
        colour = "green" if verdict.ok else "red"
        console.print(f"[bold {colour}]{'verified' if verdict.ok else 'NOT verified'}[/]: "
                      f"{verdict.summary.removeprefix('NOT VERIFIED: ')}", highlight=False)

    emit(verdict.model_dump(mode="json"), as_json, render)
    if not verdict.ok:
        raise typer.Exit(code=1)
