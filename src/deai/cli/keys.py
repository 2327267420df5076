"""``deai keys``: create, list, show, import and export encrypted accounts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from deai.chain.anvil import DEVNET_CHAIN_ID
from deai.cli.common import JsonOption, console, emit, state
from deai.errors import IdentityError
from deai.identity import Keystore, did_pkh, resolve_password

app = typer.Typer(help="Accounts in encrypted keystores, and their DIDs.", no_args_is_help=True)

ChainIdOption = Annotated[int, typer.Option("--chain-id", help="Chain id used in the did:pkh.")]


def _keystore(ctx: typer.Context) -> Keystore:
    return Keystore(state(ctx).config.keystore_dir)


def _describe(name: str, address: str, chain_id: int) -> dict[str, str]:
    return {"name": name, "address": address, "did": did_pkh(address, chain_id)}


@app.command("new")
def new(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name for the account.")],
    chain_id: ChainIdOption = DEVNET_CHAIN_ID,
    as_json: JsonOption = False,
) -> None:
    """Create a new random account, encrypted with a password."""
    keystore = _keystore(ctx)
    password = resolve_password(state(ctx).config, confirm=True)
    info = keystore.create(name, password)
    data = {**_describe(info.name, info.address, chain_id), "path": str(info.path)}
    emit(
        data,
        as_json,
        lambda: console.print(
            f"created [bold]{info.name}[/]\naddress {info.address}\ndid     {data['did']}\nfile    {info.path}"
        ),
    )


@app.command("list")
def list_(
    ctx: typer.Context, chain_id: ChainIdOption = DEVNET_CHAIN_ID, as_json: JsonOption = False
) -> None:
    """List the accounts in the keystore folder."""
    infos = _keystore(ctx).list()
    rows = [_describe(i.name, i.address, chain_id) for i in infos]

    def render() -> None:
        table = Table("name", "address", "did")
        for row in rows:
            table.add_row(row["name"], row["address"], row["did"])
        console.print(table if rows else "no accounts yet: create one with `deai keys new NAME`")

    emit({"accounts": rows}, as_json, render)


@app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Account name or address.")],
    chain_id: ChainIdOption = DEVNET_CHAIN_ID,
    as_json: JsonOption = False,
) -> None:
    """Unlock an account (proving the password) and print its address and DID."""
    keystore = _keystore(ctx)
    info = keystore.find(name)
    account = keystore.load(info.name, resolve_password(state(ctx).config))
    data = _describe(info.name, account.address, chain_id)
    emit(
        data,
        as_json,
        lambda: console.print(
            f"[bold]{info.name}[/]\naddress {account.address}\ndid     {data['did']}"
        ),
    )


@app.command("import")
def import_(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name for the imported account.")],
    private_key_file: Annotated[
        Path | None, typer.Option(help="A file holding a 0x… private key.")
    ] = None,
    keystore_file: Annotated[Path | None, typer.Option(help="A V3 JSON keystore file.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Import a private key or an existing keystore file."""
    if (private_key_file is None) == (keystore_file is None):
        raise IdentityError(
            "give exactly one of --private-key-file or --keystore-file",
            hint="deai keys import NAME --private-key-file key.txt",
        )
    keystore = _keystore(ctx)
    password = resolve_password(state(ctx).config)
    if private_key_file is not None:
        try:
            key = private_key_file.read_text().strip()
        except OSError as exc:
            raise IdentityError(f"cannot read {private_key_file}: {exc.strerror}") from None
        info = keystore.import_key(name, key, password)
    else:
        assert keystore_file is not None
        info = keystore.import_file(name, keystore_file, password)
    emit(
        {"name": info.name, "address": info.address},
        as_json,
        lambda: console.print(f"imported [bold]{info.name}[/] {info.address}"),
    )


@app.command("export")
def export(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Account name or address.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here, not to stdout.")
    ] = None,
) -> None:
    """Print (or write) the encrypted keystore JSON; the key stays encrypted."""
    data = json.dumps(_keystore(ctx).export(name))
    if output is None:
        typer.echo(data)
    else:
        output.write_text(data)
        console.print(f"wrote {output}")
