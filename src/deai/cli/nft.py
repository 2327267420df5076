"""``deai nft``: mint an AI output as an ERC-7007-style token, and verify a token end to end."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from deai.cli.common import JsonOption, console, emit, state
from deai.cli.verify import GatewayOption, IndexOption, connect_chain, open_sources
from deai.config import Config
from deai.errors import IdentityError, ProvenanceError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

app = typer.Typer(help="AI-generated NFTs: mint an output with its provenance, verify a token.",
                  no_args_is_help=True)


def _account(config: Config, account: str | None, devnet_role: str | None) -> LocalAccount:
    if (account is None) == (devnet_role is None):
        raise IdentityError("say who mints: --account NAME (a keystore) or --devnet-role ROLE",
                            hint="e.g. --devnet-role client1 on the local devnet")
    if devnet_role is not None:
        from deai.chain.devnet import demo_account

        return demo_account(devnet_role)
    from deai.identity import Keystore, resolve_password

    assert account is not None
    return Keystore(config.keystore_dir).load(account, resolve_password(config))


@app.command("mint")
def mint(
    ctx: typer.Context,
    output: Annotated[str, typer.Argument(help="The output to mint: a file or a CID (it must pass `deai verify`).")],
    account: Annotated[str | None, typer.Option("--account", help="Keystore account that mints and owns the token.")] = None,
    devnet_role: Annotated[str | None, typer.Option("--devnet-role", help="Mint as a devnet demo account (client1, …).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="The token's name in its metadata.")] = None,
    gateway: GatewayOption = None,
    index: IndexOption = None,
    as_json: JsonOption = False,
) -> None:
    """Commit, then reveal: mint OUTPUT with its provenance manifest as the proof; metadata by CID."""
    from deai.chain.anchors import Anchors
    from deai.chain.nft import AINFT
    from deai.provenance.locate import Fetcher, locate
    from deai.provenance.nft import mint_output
    from deai.provenance.verifier import verify

    config = state(ctx).config
    minter = _account(config, account, devnet_role)
    w3, deployment = connect_chain(config)
    store, idx = open_sources(config, index)
    if store is None:
        from deai.store import LocalStore

        store = LocalStore.from_config(config)  # the metadata JSON is stored (and served) here
    target = Path(output) if Path(output).exists() else output
    verdict = verify(target, store=store, w3=w3, deployment=deployment, gateways=gateway or (), index=idx)
    if not verdict.ok:
        raise ProvenanceError(f"{output} does not verify: {verdict.summary.removeprefix('NOT VERIFIED: ')}",
                              hint="only outputs that pass `deai verify` can be minted")
    found = locate(target, fetcher=Fetcher(store, gateway or ()), anchors=Anchors.from_deployment(w3, deployment),
                   index=idx)
    assert found.record is not None  # verify passed, so the anchored record was found
    minted, metadata_cid = mint_output(AINFT(w3, deployment), minter, found.record, store,
                                       record_cid=found.record_cid, name=name)
    data = {"token_id": str(minted.token_id), "owner": minted.owner, "provider": minted.provider,
            "sequence": minted.sequence, "metadata": metadata_cid, "uri": minted.uri,
            "block": minted.block_number, "tx": minted.transaction_hash}
    emit(data, as_json, lambda: console.print(
        f"minted token [bold]{minted.token_id}[/] to {minted.owner} in block {minted.block_number}\n"
        f"metadata ipfs://{metadata_cid} (pinned here; serve it with `deai store serve`)", highlight=False))


@app.command("verify")
def verify_token_command(
    ctx: typer.Context,
    token_id: Annotated[str, typer.Argument(help="The token id (decimal or 0x hex).")],
    gateway: GatewayOption = None,
    index: IndexOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check a token end to end: on chain, its metadata, and its output's provenance."""
    from deai.provenance.nft import verify_token

    try:
        tid = int(token_id, 0)
    except ValueError:
        raise ProvenanceError(f"not a token id: {token_id!r}", hint="a decimal number or 0x hex") from None
    config = state(ctx).config
    w3, deployment = connect_chain(config)
    store, idx = open_sources(config, index)
    verdict = verify_token(tid, store=store, w3=w3, deployment=deployment, gateways=gateway or (), index=idx)

    def render() -> None:
        table = Table("", "check", "detail", show_header=False, box=None)
        for check in verdict.checks:
            table.add_row("[green]✓[/]" if check.ok else "[red]✗[/]", check.name, check.detail)
        console.print(table)
        if verdict.ok:
            console.print(f"[bold green]verified[/]: {verdict.summary}", highlight=False)
            console.print(f"model {verdict.model_cid} · provider {verdict.provider} · "
                          f"anchored in block {verdict.anchor_block} · minted in block {verdict.mint_block}",
                          highlight=False)
        else:
            console.print(f"[bold red]NOT verified[/]: {verdict.summary.removeprefix('NOT VERIFIED: ')}",
                          highlight=False)

    data = verdict.model_dump(mode="json")
    data["token_id"] = str(verdict.token_id)  # a uint256 does not fit a JSON number reader's double
    emit(data, as_json, render)
    if not verdict.ok:
        raise typer.Exit(code=1)
