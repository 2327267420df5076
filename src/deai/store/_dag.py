"""Reading UnixFS DAGs: stream files (byte ranges too), list folders, resolve paths, walk.

Every function takes ``get``, a callable that returns a block's *verified* bytes, so the
same traversal serves the local store, the gateway server (which records the blocks it
visits into a CAR) and the gateway client (which checks that a peer sends exactly the
blocks this traversal asks for, in order). Traversal is depth-first, pre-order, the order
the trustless gateway spec calls ``dfs``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from deai.errors import BlockNotFound, CorruptBlock, StoreError
from deai.store import _dagpb, _unixfs
from deai.store._cid import CID, RAW
from deai.store._hamt import bucket_for, check_shard
from deai.store._unixfs import NodeType
from deai.units import Cid

GetBlock = Callable[[CID], bytes]
MAX_DEPTH = 64
Kind = Literal["file", "directory", "symlink"]


@dataclass(frozen=True, slots=True)
class Visit:
    """One block met by a traversal and the file bytes it contributes inside the range."""

    cid: CID
    block: bytes
    payload: bytes | bytearray | memoryview = b""


@dataclass(frozen=True, slots=True)
class DirEntry:
    """A directory entry: its name, its CID and its cumulative DAG size (the link's Tsize)."""

    name: str
    cid: Cid
    size: int


@dataclass(frozen=True, slots=True)
class Node:
    """A decoded block: its links and, for dag-pb UnixFS nodes, the UnixFS metadata."""

    cid: CID
    block: bytes
    links: tuple[_dagpb.PBLink, ...]
    meta: _unixfs.UnixFSData | None

    @property
    def kind(self) -> Kind:
        if self.meta is None or self.meta.type in (NodeType.FILE, NodeType.RAW):
            return "file"
        if self.meta.is_directory:
            return "directory"
        if self.meta.type == NodeType.SYMLINK:
            return "symlink"
        raise CorruptBlock(f"{self.cid}: UnixFS type {self.meta.type.name} is not supported")

    @property
    def file_size(self) -> int:
        if self.meta is None:
            return len(self.block)
        if self.meta.filesize is not None:
            return self.meta.filesize
        return len(self.meta.data or b"") + sum(self.meta.blocksizes)


def load(get: GetBlock, cid: CID) -> Node:
    block = get(cid)
    if cid.codec == RAW:
        return Node(cid, block, (), None)
    pb = _dagpb.decode(block)
    meta = _unixfs.decode(pb.data) if pb.data is not None else None
    if meta is None:
        raise CorruptBlock(f"{cid} is dag-pb but not UnixFS (no Data)")
    return Node(cid, block, pb.links, meta)


def _window(
    data: bytes | bytearray | memoryview, offset: int, start: int, end: int | None
) -> bytes | bytearray | memoryview:
    lo = max(start - offset, 0)
    hi = len(data) if end is None else min(end - offset, len(data))
    if lo >= hi:
        return b""
    return memoryview(data)[lo:hi] if (lo, hi) != (0, len(data)) else data


def walk_file(
    get: GetBlock, cid: CID, start: int = 0, end: int | None = None
) -> Iterator[Visit]:
    """Every block needed for file bytes ``[start, end)``, in dfs order, with its payload."""
    node = load(get, cid)
    if node.kind != "file":
        raise StoreError(f"{cid} is a {node.kind}, not a file", hint="use `deai store ls` or `get`")
    yield from _walk_file_node(get, node, 0, start, end, node.file_size, 0)


def _walk_file_node(
    get: GetBlock, node: Node, offset: int, start: int, end: int | None, expect: int, depth: int
) -> Iterator[Visit]:
    if depth > MAX_DEPTH:
        raise CorruptBlock(f"{node.cid}: file DAG deeper than {MAX_DEPTH} levels")
    if node.file_size != expect:
        raise CorruptBlock(f"{node.cid} holds {node.file_size} bytes, its parent says {expect}")
    if node.meta is None:
        yield Visit(node.cid, node.block, _window(node.block, offset, start, end))
        return
    if node.meta.type not in (NodeType.FILE, NodeType.RAW):
        raise CorruptBlock(f"{node.cid}: a {node.meta.type.name} node inside a file")
    own = node.meta.data or b""
    yield Visit(node.cid, node.block, _window(own, offset, start, end))
    if len(node.meta.blocksizes) != len(node.links):
        raise CorruptBlock(f"{node.cid}: {len(node.links)} links but {len(node.meta.blocksizes)} block sizes")
    pos = offset + len(own)
    for link, size in zip(node.links, node.meta.blocksizes, strict=True):
        if end is not None and pos >= end:
            break
        if pos + size > start:
            child = load(get, link.hash)
            yield from _walk_file_node(get, child, pos, start, end, size, depth + 1)
        pos += size


def read_file(get: GetBlock, cid: CID, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """The file's bytes in order, one block's worth at a time."""
    for visit in walk_file(get, cid, start, end):
        if len(visit.payload):
            yield bytes(visit.payload)


def _shard_children(node: Node, width: int) -> Iterator[tuple[bool, str, _dagpb.PBLink]]:
    for link in node.links:
        name = link.name or ""
        if len(name) < width:
            raise CorruptBlock(f"{node.cid}: HAMT link name {name!r} is too short")
        yield len(name) == width, name[width:], link


def list_directory(get: GetBlock, cid: CID) -> list[DirEntry]:
    """The entries of a directory (flat or HAMT-sharded), sorted by name."""
    node = load(get, cid)
    if node.kind != "directory":
        raise StoreError(f"{cid} is a {node.kind}, not a directory", hint="use `deai store cat`")
    entries: list[DirEntry] = []
    _collect(get, node, entries, 0)
    entries.sort(key=lambda e: e.name.encode("utf-8"))
    return entries


def _collect(get: GetBlock, node: Node, out: list[DirEntry], depth: int) -> None:
    assert node.meta is not None
    if node.meta.type == NodeType.DIRECTORY:
        seen: set[str] = set()
        for link in node.links:
            name = link.name or ""
            if name in seen:
                continue  # the spec: the first of duplicate names wins
            seen.add(name)
            out.append(DirEntry(name, link.hash.encode(), link.tsize or 0))
        return
    if depth > MAX_DEPTH:
        raise CorruptBlock(f"{node.cid}: HAMT deeper than {MAX_DEPTH} levels")
    _, width = check_shard(node.meta)
    for is_shard, name, link in _shard_children(node, width):
        if is_shard:
            _collect(get, load(get, link.hash), out, depth + 1)
        else:
            out.append(DirEntry(name, link.hash.encode(), link.tsize or 0))


def lookup(get: GetBlock, node: Node, name: str, visited: list[Node]) -> CID | None:
    """The CID of ``name`` in directory ``node``; shard nodes passed through go to ``visited``."""
    assert node.meta is not None
    if node.meta.type == NodeType.DIRECTORY:
        for link in node.links:
            if link.name == name:
                return link.hash
        return None
    depth = 0
    while True:
        bits, width = check_shard(node.meta)
        prefix = f"{bucket_for(name, depth, bits):0{width}X}"
        for link in node.links:
            if link.name == prefix + name:
                return link.hash
            if link.name == prefix:
                break
        else:
            return None
        node = load(get, link.hash)
        if node.meta is None or node.meta.type != NodeType.HAMT_SHARD:
            raise CorruptBlock(f"{node.cid}: HAMT sub-shard is not a shard")
        visited.append(node)
        depth += 1
        if depth > MAX_DEPTH:
            raise CorruptBlock("HAMT deeper than the hash allows")


def resolve(get: GetBlock, root: CID, path: str) -> tuple[CID, list[Node]]:
    """Follow ``a/b/c`` from ``root``; returns the target and every node read on the way."""
    visited: list[Node] = []
    cid = root
    for segment in [s for s in path.split("/") if s]:
        node = load(get, cid)
        visited.append(node)
        if node.kind != "directory":
            raise BlockNotFound(f"{cid} is a {node.kind}; it has no entry {segment!r}")
        found = lookup(get, node, segment, visited)
        if found is None:
            raise BlockNotFound(f"no entry {segment!r} in directory {cid}", hint="list it with `deai store ls`")
        cid = found
    return cid, visited


def walk_entity(get: GetBlock, cid: CID) -> Iterator[Visit]:
    """The blocks of one UnixFS entity: a whole file, or a directory's own node(s)."""
    node = load(get, cid)
    if node.kind == "file":
        yield from walk_file(get, cid)
        return
    yield Visit(node.cid, node.block)
    assert node.meta is not None
    if node.meta.type == NodeType.HAMT_SHARD:
        yield from _walk_shards(get, node, 0)


def _walk_shards(get: GetBlock, node: Node, depth: int) -> Iterator[Visit]:
    assert node.meta is not None
    if depth > MAX_DEPTH:
        raise CorruptBlock("HAMT too deep")
    _, width = check_shard(node.meta)
    for is_shard, _, link in _shard_children(node, width):
        if is_shard:
            child = load(get, link.hash)
            yield Visit(child.cid, child.block)
            yield from _walk_shards(get, child, depth + 1)


def links_of(cid: CID, block: bytes) -> tuple[CID, ...]:
    """The CIDs a block links to (none for raw blocks)."""
    if cid.codec == RAW:
        return ()
    return tuple(link.hash for link in _dagpb.decode(block).links)


def walk_dag(get: GetBlock, root: CID) -> Iterator[Visit]:
    """Every block of the DAG under ``root``, dfs pre-order, each block once."""
    seen: set[str] = set()
    stack = [root]
    while stack:
        cid = stack.pop()
        if cid.key in seen:
            continue
        seen.add(cid.key)
        block = get(cid)
        yield Visit(cid, block)
        stack.extend(reversed(links_of(cid, block)))


def kind_of(get: GetBlock, cid: CID) -> Kind:
    return load(get, cid).kind
