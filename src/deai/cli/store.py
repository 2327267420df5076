"""``deai store``: add, read, pin and serve content-addressed data (IPFS-compatible CIDs)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from deai.cli.common import JsonOption, console, emit, state
from deai.errors import StoreError
from deai.store import DEFAULT_PROFILE, PROFILES, LocalStore, get_profile

app = typer.Typer(help="Content-addressed storage: IPFS CIDs, pins, CAR files, a gateway.",
                  no_args_is_help=True)
car_app = typer.Typer(help="CAR archives: export a DAG, import one.", no_args_is_help=True)
app.add_typer(car_app, name="car")

CidArg = Annotated[str, typer.Argument(help="A CID (bafy…, bafk…, Qm…), optionally with /a/path.")]
GatewayOption = Annotated[
    list[str] | None,
    typer.Option("--gateway", "-g", help="Fetch from this gateway if not here (repeat to fail over)."),
]


def _store(ctx: typer.Context) -> LocalStore:
    return LocalStore.from_config(state(ctx).config)


def _ensure_local(store: LocalStore, cid: str, gateways: list[str] | None) -> None:
    """Fetch the DAG from the gateways when some of it is missing here."""
    if not gateways:
        return
    from deai.store import GatewayClient

    root = cid.removeprefix("/ipfs/").split("/", 1)[0]
    if store.has(root) and not store.missing(root, limit=1):
        return
    with GatewayClient(gateways) as client:
        client.fetch(root, store)


@app.command("add")
def add(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A file or a folder.")],
    profile: Annotated[str, typer.Option(help=f"Import profile: {', '.join(PROFILES)}.")] = DEFAULT_PROFILE,
    only_hash: Annotated[bool, typer.Option("--only-hash", help="Compute the CID, store nothing.")] = False,
    hidden: Annotated[bool, typer.Option("--hidden", help="Include dot-files.")] = False,
    pin: Annotated[bool, typer.Option("--pin/--no-pin", help="Pin the result (kept by gc).")] = True,
    as_json: JsonOption = False,
) -> None:
    """Add a file or folder; prints its CID."""
    get_profile(profile)
    if only_hash:
        from deai.store import cid_of_path

        if not path.exists():
            raise StoreError(f"{path} does not exist", hint="check the path")
        cid = cid_of_path(path, profile=profile, hidden=hidden)
    else:
        cid = _store(ctx).add_path(path, profile=profile, pin=pin, hidden=hidden)
    data = {"cid": cid, "path": str(path), "profile": profile, "stored": not only_hash}
    emit(data, as_json, lambda: typer.echo(cid))


@app.command("cat")
def cat(ctx: typer.Context, cid: CidArg, gateway: GatewayOption = None) -> None:
    """Write a file's bytes to stdout, each block verified."""
    store = _store(ctx)
    _ensure_local(store, cid, gateway)
    out = sys.stdout.buffer
    for chunk in store.cat(cid):
        out.write(chunk)
    out.flush()


@app.command("get")
def get(
    ctx: typer.Context,
    cid: CidArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the file or folder.")],
    gateway: GatewayOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write a file or folder tree to a path."""
    store = _store(ctx)
    _ensure_local(store, cid, gateway)
    written = store.get(cid, output)
    emit({"cid": cid, "path": str(written)}, as_json, lambda: console.print(f"wrote {written}"))


@app.command("ls")
def ls(ctx: typer.Context, cid: CidArg, as_json: JsonOption = False) -> None:
    """List a directory: name, CID and cumulative size of each entry."""
    entries = _store(ctx).ls(cid)
    rows = [{"name": e.name, "cid": e.cid, "size": e.size} for e in entries]

    def render() -> None:
        table = Table("name", "cid", "size")
        for row in rows:
            table.add_row(str(row["name"]), str(row["cid"]), str(row["size"]))
        console.print(table if rows else "empty directory")

    emit({"cid": cid, "entries": rows}, as_json, render)


@app.command("pin")
def pin(ctx: typer.Context, cid: CidArg, as_json: JsonOption = False) -> None:
    """Pin a DAG that is complete here, so gc keeps it."""
    pinned = _store(ctx).pin(cid)
    emit({"pinned": pinned}, as_json, lambda: console.print(f"pinned {pinned}"))


@app.command("unpin")
def unpin(ctx: typer.Context, cid: CidArg, as_json: JsonOption = False) -> None:
    """Unpin a DAG; its blocks go at the next gc."""
    unpinned = _store(ctx).unpin(cid)
    emit({"unpinned": unpinned}, as_json, lambda: console.print(f"unpinned {unpinned}"))


@app.command("pins")
def pins(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List pinned roots."""
    found = _store(ctx).pins()
    emit({"pins": found}, as_json,
         lambda: console.print("\n".join(found) if found else "nothing pinned"))


@app.command("gc")
def gc(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Delete every block that no pin reaches."""
    result = _store(ctx).gc()
    data = {"removed_blocks": result.removed_blocks, "freed_bytes": result.freed_bytes,
            "kept_blocks": result.kept_blocks}
    emit(data, as_json, lambda: console.print(
        f"removed {result.removed_blocks} blocks ({result.freed_bytes} bytes), kept {result.kept_blocks}"
    ))


@app.command("stat")
def stat(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Blocks, bytes, pins and quota of the local store."""
    info = _store(ctx).stat()
    data = {"root": info.root, "blocks": info.blocks, "bytes": info.bytes, "pins": info.pins,
            "quota_bytes": info.quota_bytes}

    def render() -> None:
        table = Table("", "")
        for key, value in data.items():
            table.add_row(key, str(value))
        console.print(table)

    emit(data, as_json, render)


@car_app.command("export")
def car_export(
    ctx: typer.Context,
    cid: CidArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="The .car file to write.")],
    scope: Annotated[str, typer.Option(help="all (whole DAG), entity or block.")] = "all",
    as_json: JsonOption = False,
) -> None:
    """Export a DAG as a CARv1 file."""
    if scope not in ("all", "entity", "block"):
        raise StoreError(f"--scope {scope!r} is not all, entity or block")
    store = _store(ctx)
    tmp = output.with_name(output.name + ".part")
    try:
        with open(tmp, "wb") as handle:
            count = store.export_car(cid, handle, scope=scope)  # type: ignore[arg-type]
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    emit({"cid": cid, "path": str(output), "blocks": count}, as_json,
         lambda: console.print(f"wrote {count} blocks to {output}"))


@car_app.command("import")
def car_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A CARv1 or CARv2 file.")],
    pin: Annotated[bool, typer.Option("--pin/--no-pin", help="Pin complete roots.")] = True,
    as_json: JsonOption = False,
) -> None:
    """Import a CAR file; every block is verified, a bad one keeps nothing."""
    if not path.is_file():
        raise StoreError(f"{path} is not a file", hint="name a .car file")
    with open(path, "rb") as handle:
        result = _store(ctx).import_car(handle, pin=pin)
    data = {"roots": list(result.roots), "blocks": result.blocks, "new_blocks": result.new_blocks,
            "bytes": result.bytes, "pinned": list(result.pinned)}
    emit(data, as_json, lambda: console.print(
        f"imported {result.blocks} blocks ({result.new_blocks} new); roots: {', '.join(result.roots)}"
    ))


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
) -> None:
    """Serve the local store as an IPFS trustless gateway (GET/HEAD /ipfs/{cid})."""
    from deai.store import GatewayServer

    store = _store(ctx)
    server = GatewayServer(store, host, port)  # binds now: a taken port fails with a clear error
    # uvicorn runs in a thread and cannot see signals: stop it from here on SIGTERM too
    previous = signal.signal(signal.SIGTERM, lambda *_: server.request_stop())
    server.start()
    # plain echo, not rich: the URL line must not be wrapped (scripts read it); printed
    # once the server answers, so a script may connect as soon as it reads it
    typer.echo(f"serving {server.url}/ipfs/ from {store.root} (Ctrl-C to stop)")
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
