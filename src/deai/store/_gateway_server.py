"""The IPFS Trustless Gateway, server side: ``GET/HEAD /ipfs/{cid}[/path]`` over a LocalStore.

Responses (https://specs.ipfs.tech/http-gateways/trustless-gateway/):

- ``Accept: application/vnd.ipld.raw`` (or ``?format=raw``): the one block, verified.
- ``Accept: application/vnd.ipld.car`` (or ``?format=car``): a CARv1 whose root is the
  requested CID, blocks in dfs order: first the blocks that resolve the path, then per
  ``dag-scope``: ``block`` (the target only), ``entity`` (a whole file, or a directory's
  own node(s); ``entity-bytes=from:to`` narrows a file to the blocks of that byte range),
  ``all`` (default, the whole DAG). ``dups=y`` in the Accept parameters repeats
  duplicate blocks, otherwise each block is sent once.
- anything else: the file's bytes (``application/octet-stream``) or a JSON listing.

A bad CID or parameter is 400, an unknown root 404. A CAR streams as it is read from disk;
a block missing half-way aborts the response, which a client sees as a broken body.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import Response, StreamingResponse

from deai.errors import (
    BlockNotFound,
    BlockTooLarge,
    CarError,
    CorruptBlock,
    InvalidCid,
    PortInUse,
    StoreError,
    UnsupportedCid,
)
from deai.http_server import AppServer
from deai.store import _dag
from deai.store._car import CAR_CONTENT_TYPE, car_header, car_section
from deai.store._cid import CID, parse_cid

if TYPE_CHECKING:
    from deai.store._local import LocalStore

RAW_CONTENT_TYPE = "application/vnd.ipld.raw"
_IMMUTABLE = "public, max-age=29030400, immutable"
_SCOPES = ("block", "entity", "all")


@dataclass(frozen=True, slots=True)
class _Wanted:
    format: str  # "raw", "car" or "file"
    dups: bool = False


def _negotiate(accept: str, format_param: str | None) -> _Wanted:
    if format_param is not None:
        if format_param == "raw":
            return _Wanted("raw")
        if format_param == "car":
            return _Wanted("car")
        raise _BadRequest(f"format={format_param!r} is not supported (raw or car)")
    ranked: list[tuple[float, int, _Wanted]] = []
    for position, part in enumerate(accept.split(",")):
        media, *params = [p.strip() for p in part.split(";")]
        options = dict(p.split("=", 1) for p in params if "=" in p)
        try:
            q = float(options.get("q", "1"))
        except ValueError:
            q = 1.0
        if media == RAW_CONTENT_TYPE:
            ranked.append((-q, position, _Wanted("raw")))
        elif media == CAR_CONTENT_TYPE:
            if options.get("version", "1") != "1":
                continue  # only CARv1 is served; a later acceptable type may still match
            ranked.append((-q, position, _Wanted("car", dups=options.get("dups") == "y")))
    if ranked:
        return min(ranked, key=lambda r: (r[0], r[1]))[2]
    return _Wanted("file")


class _BadRequest(Exception):
    pass


def _parse_entity_bytes(spec: str) -> tuple[int, int | None]:
    """``from:to`` (inclusive, ``*`` = end, negatives count from the end)."""
    start_text, sep, end_text = spec.partition(":")
    try:
        start = int(start_text)
        end = None if end_text == "*" else int(end_text)
    except ValueError:
        raise _BadRequest(f"entity-bytes={spec!r} is not from:to") from None
    if not sep:
        raise _BadRequest(f"entity-bytes={spec!r} is not from:to")
    if start >= 0 and end is not None and end >= 0 and end < start:
        raise _BadRequest("entity-bytes: to is before from")
    return start, end


def _byte_window(size: int, start: int, end: int | None) -> tuple[int, int]:
    """The half-open range [lo, hi) an entity-bytes spec selects in a file of ``size``."""
    lo = max(size + start, 0) if start < 0 else start
    if end is None:
        hi = size
    elif end < 0:
        hi = size + end + 1
    else:
        hi = min(end + 1, size)
    return lo, max(lo, hi)


def _text(status: int, message: str) -> Response:
    return Response(message + "\n", status_code=status, media_type="text/plain; charset=utf-8")


def _error_response(exc: Exception) -> Response:
    if isinstance(exc, _BadRequest | InvalidCid | UnsupportedCid):
        return _text(400, str(exc))
    if isinstance(exc, BlockNotFound):
        return _text(404, str(exc))
    if isinstance(exc, CorruptBlock | BlockTooLarge | CarError):
        return _text(502, str(exc))
    return _text(500, str(exc))


def gateway_router(store: LocalStore) -> APIRouter:
    """The trustless gateway routes, for a node to mount on its own app."""
    router = APIRouter()

    def handle(request: Request, cid_text: str, path: str, format_: str | None,
               dag_scope: str | None, entity_bytes: str | None) -> Response:
        try:
            root = parse_cid(cid_text)
            wanted = _negotiate(request.headers.get("accept", ""), format_)
            scope = dag_scope or "all"
            if scope not in _SCOPES:
                raise _BadRequest(f"dag-scope={scope!r} is not one of block, entity, all")
            window = _parse_entity_bytes(entity_bytes) if entity_bytes else None
            if window is not None and scope != "entity":
                raise _BadRequest("entity-bytes needs dag-scope=entity")
            if not store.blocks.has(root):
                raise BlockNotFound(f"{root} is not on this gateway")
            target, visited = _dag.resolve(store.blocks.get, root, path)
        except Exception as exc:  # every failure becomes a status code, not a 500 trace
            return _error_response(exc)
        head = request.method == "HEAD"
        ipfs_path = f"/ipfs/{cid_text}" + (f"/{path}" if path else "")
        headers = {
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": _IMMUTABLE,
            "Vary": "Accept",
            "X-Ipfs-Path": ipfs_path,
            "X-Ipfs-Roots": ",".join([n.cid.encode() for n in visited] + [target.encode()]),
        }
        try:
            if wanted.format == "raw":
                return _raw(store, target, headers, head)
            if wanted.format == "car":
                return _car(store, root, target, visited, scope, window, wanted.dups, headers, head)
            return _file(store, target, headers, head)
        except Exception as exc:
            return _error_response(exc)

    @router.api_route("/ipfs/{cid}", methods=["GET", "HEAD"])
    def ipfs_root(
        request: Request,
        cid: str,
        format: Annotated[str | None, Query()] = None,
        dag_scope: Annotated[str | None, Query(alias="dag-scope")] = None,
        entity_bytes: Annotated[str | None, Query(alias="entity-bytes")] = None,
    ) -> Response:
        return handle(request, cid, "", format, dag_scope, entity_bytes)

    @router.api_route("/ipfs/{cid}/{path:path}", methods=["GET", "HEAD"])
    def ipfs_path(
        request: Request,
        cid: str,
        path: str,
        format: Annotated[str | None, Query()] = None,
        dag_scope: Annotated[str | None, Query(alias="dag-scope")] = None,
        entity_bytes: Annotated[str | None, Query(alias="entity-bytes")] = None,
    ) -> Response:
        return handle(request, cid, path, format, dag_scope, entity_bytes)

    return router


def _raw(store: LocalStore, target: CID, headers: dict[str, str], head: bool) -> Response:
    block = store.blocks.get(target)
    headers |= {
        "Etag": f'"{target.encode()}.raw"',
        "Content-Disposition": f'attachment; filename="{target.encode()}.bin"',
    }
    if head:
        headers["Content-Length"] = str(len(block))
        return Response(status_code=200, headers=headers, media_type=RAW_CONTENT_TYPE)
    return Response(block, headers=headers, media_type=RAW_CONTENT_TYPE)


def _car(
    store: LocalStore,
    root: CID,
    target: CID,
    visited: list[_dag.Node],
    scope: str,
    window: tuple[int, int | None] | None,
    dups: bool,
    headers: dict[str, str],
    head: bool,
) -> Response:
    media = f"{CAR_CONTENT_TYPE}; version=1; order=dfs; dups={'y' if dups else 'n'}"
    tag = f"{target.encode()}.car.{scope}.{window}.{int(dups)}"
    headers |= {
        "Etag": f'W/"{tag}"',
        "Content-Disposition": f'attachment; filename="{root.encode()}.car"',
    }
    if head:
        return Response(status_code=200, headers=headers, media_type=media)
    get = store.blocks.get

    def target_blocks() -> Iterator[tuple[CID, bytes]]:
        if scope == "block":
            yield target, get(target)
        elif scope == "entity":
            node = _dag.load(get, target)
            if window is not None and node.kind == "file":
                lo, hi = _byte_window(node.file_size, *window)
                visits = _dag.walk_file(get, target, lo, hi)
            else:
                visits = _dag.walk_entity(get, target)
            for visit in visits:
                yield visit.cid, visit.block
        else:
            for visit in _dag.walk_dag(get, target):
                yield visit.cid, visit.block

    def body() -> Iterator[bytes]:
        yield car_header([root])
        sent: set[str] = set()
        blocks = [(n.cid, n.block) for n in visited]
        for cid, block in _chain(blocks, target_blocks()):
            if not dups:
                if cid.key in sent:
                    continue
                sent.add(cid.key)
            yield car_section(cid, block)

    return StreamingResponse(body(), headers=headers, media_type=media)


def _chain(
    first: list[tuple[CID, bytes]], rest: Iterator[tuple[CID, bytes]]
) -> Iterator[tuple[CID, bytes]]:
    yield from first
    yield from rest


def _file(store: LocalStore, target: CID, headers: dict[str, str], head: bool) -> Response:
    node = _dag.load(store.blocks.get, target)
    headers["Etag"] = f'"{target.encode()}"'
    if node.kind == "directory":
        listing = [
            {"name": e.name, "cid": e.cid, "size": e.size}
            for e in _dag.list_directory(store.blocks.get, target)
        ]
        body = json.dumps({"cid": target.encode(), "entries": listing}).encode()
        return Response(b"" if head else body, headers=headers, media_type="application/json")
    if node.kind == "symlink":
        raise _BadRequest(f"{target} is a symlink; fetch it as raw or car")
    headers["Content-Length"] = str(node.file_size)
    if head:
        return Response(status_code=200, headers=headers, media_type="application/octet-stream")
    return StreamingResponse(
        _dag.read_file(store.blocks.get, target), headers=headers, media_type="application/octet-stream"
    )


def gateway_app(store: LocalStore) -> FastAPI:
    """A standalone app serving only the gateway routes (what ``deai store serve`` runs)."""
    app = FastAPI(title="deai trustless gateway", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(gateway_router(store))
    return app


class GatewayServer(AppServer):
    """Run the gateway with uvicorn in a background thread (tests, benchmarks, embedding).

    ``port=0`` picks a free port; the socket is bound before the thread starts, so
    ``url`` is right as soon as ``start`` returns and the server answers.
    """

    def __init__(self, store: LocalStore, host: str = "127.0.0.1", port: int = 0) -> None:
        try:
            super().__init__(gateway_app(store), host, port, name="gateway")
        except PortInUse as exc:
            raise StoreError(exc.message, hint="choose another port with --port") from None
