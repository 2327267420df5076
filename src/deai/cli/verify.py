"""``deai verify FILE|CID``: who made this output, with which model, when; exit 0 only if all checks pass.

Reads the chain named by the deployment file (``deai devnet up`` writes it; ``DEAI_RPC_URL``
points elsewhere), the local store, this data directory's provenance log when there is
one (``--index`` names another), and any gateways given.

A fast-path answer (a response body saved from the OpenAI-compatible API) is checked
against its receipt instead (``deai.client.receipt_verify``): ``--receipt RECEIPT.json``
(the ``X-Deai-Receipt`` header's JSON), or, without it, a receipt of the file's bytes
kept in a wallet (``--wallet``, else this data directory's client and gateway wallets).
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
    from deai.node.fastpath.receipts import SignedReceipt
    from deai.provenance.log import ProvenanceIndex
    from deai.store import LocalStore

GatewayOption = Annotated[
    list[str] | None,
    typer.Option("--gateway", "-g", help="Fetch manifests, records and outputs from this IPFS gateway (repeat)."),
]
ReceiptOption = Annotated[
    Path | None,
    typer.Option("--receipt", help="The fast-path receipt (JSON of the X-Deai-Receipt header) of a saved answer."),
]
WalletOption = Annotated[
    Path | None,
    typer.Option("--wallet", help="A fast-path wallet (wallet.sqlite) to look the answer's receipt up in."),
]
ProviderUrlOption = Annotated[
    str | None,
    typer.Option("--provider-url", help="Ask this provider for the receipt's inclusion proof (default: its "
                 "endpoint in the Registry)."),
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
    receipt: ReceiptOption = None,
    wallet: WalletOption = None,
    provider_url: ProviderUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check an output's provenance: file hash, signature, on-chain anchor, provider stake, disputes."""
    from deai.provenance.verifier import verify

    config = state(ctx).config
    w3, deployment = connect_chain(config)
    path = Path(target)
    found = _receipt_for(path, receipt, wallet, config) if path.is_file() else None
    if found is not None:
        from deai.client.receipt_verify import verify_receipt

        signed, kept_url = found
        verdict = verify_receipt(path.read_bytes(), signed, w3=w3, deployment=deployment,
                                 provider_url=provider_url or kept_url or _endpoint(w3, deployment, signed.provider),
                                 gateways=gateway or (), target=str(path))
    else:
        store, idx = open_sources(config, index)
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


def _receipt_for(path: Path, receipt: Path | None, wallet: Path | None,
                 config: Config) -> tuple[SignedReceipt, str] | None:
    """The receipt to check ``path`` against: the one given, else one a wallet keeps for these bytes."""
    from deai.errors import ConfigError, SignatureError
    from deai.node.fastpath.receipts import SignedReceipt, body_hash

    if receipt is not None:
        try:
            return SignedReceipt.from_json(receipt.read_text()), ""
        except OSError as exc:
            raise ConfigError(f"cannot read the receipt {receipt}: {exc.strerror}",
                              hint="give the JSON of the answer's X-Deai-Receipt header") from None
        except SignatureError as exc:
            raise ConfigError(f"{receipt} is not a fast-path receipt: {exc.message}",
                              hint="give the JSON of the answer's X-Deai-Receipt header") from None
    from deai.client.channels import Wallet

    wanted = body_hash(path.read_bytes())
    candidates = [wallet] if wallet is not None else [
        config.data_dir / "fastpath" / "wallet.sqlite", config.data_dir / "gateway" / "fastpath" / "wallet.sqlite"]
    for candidate in candidates:
        if not candidate.is_file():
            if wallet is not None:
                raise ConfigError(f"no wallet at {wallet}", hint="give the path of a fast-path wallet.sqlite")
            continue
        kept = Wallet(candidate)
        try:
            for signed, url in kept.receipts():
                if signed.receipt.response_hash == wanted:
                    return signed, url
        finally:
            kept.close()
    return None


def _endpoint(w3: Web3, deployment: Deployment, provider: str) -> str | None:
    """The provider's API endpoint as it registered it (where its receipt proofs are served)."""
    from deai.chain.registry import Registry
    from deai.market.discovery import list_providers

    registry = Registry(w3, deployment)
    for listing in list_providers(registry, from_block=deployment.block, active_only=False):
        if listing.address == provider:
            return listing.endpoint or None
    return None
