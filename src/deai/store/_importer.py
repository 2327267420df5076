"""The UnixFS importer: bytes, streams and folders in, dag-pb/raw blocks and a CID out.

Files are cut into fixed-size chunks and laid out as a *balanced* DAG: chunks are grouped
``max_links`` at a time into parent nodes, parents again, until one root is left; a file
of one chunk is that chunk's raw leaf. The builder is streaming: it keeps at most one
chunk and ``max_links`` pending links per tree level, so memory does not grow with the
file. A full group is closed as soon as it fills, exactly where the reference
implementations' batching closes it, which is what keeps the CIDs identical.

Folders are built bottom-up (every child is finished before its parent), so the HAMT
decision sees the parent's real size. Hidden entries (``.name``) are skipped unless asked
for, symlinks below the top are kept as UnixFS symlinks, as ``ipfs add -r`` does.
"""

from __future__ import annotations

import hashlib
import os
import stat as stat_mod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from deai.errors import StoreError
from deai.store import _dagpb, _unixfs
from deai.store._cid import CID, DAG_PB, RAW, cid_for_block
from deai.store._hamt import Entry, build_hamt
from deai.store._profiles import Profile

PutBlock = Callable[[CID, "bytes | bytearray | memoryview"], None]


def discard(cid: CID, data: bytes | bytearray | memoryview) -> None:
    """The block sink of ``--only-hash``: compute, store nothing."""


@dataclass(frozen=True, slots=True)
class Imported:
    """What an import produced: the root CID, its cumulative DAG size and its file size."""

    cid: CID
    tsize: int
    size: int


@dataclass(slots=True)
class _Pending:
    cid: CID
    tsize: int
    size: int


class FileBuilder:
    """Build one file's balanced DAG from chunks fed in order (see the module docstring)."""

    def __init__(self, profile: Profile, put: PutBlock) -> None:
        self._profile = profile
        self._put = put
        self._levels: list[list[_Pending]] = [[]]
        self._counts: list[int] = [0]
        self._buffer = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes of any length; full chunks are hashed and emitted at once."""
        size = self._profile.chunk_size
        view = memoryview(data)
        if self._buffer:
            take = min(size - len(self._buffer), len(view))
            self._buffer += view[:take]
            view = view[take:]
            if len(self._buffer) < size:
                return
            self.add_chunk(self._buffer)
            self._buffer = bytearray()
        while len(view) >= size:
            self.add_chunk(view[:size])
            view = view[size:]
        if len(view):
            self._buffer += view

    def add_chunk(self, chunk: bytes | memoryview | bytearray) -> None:
        """Add one whole chunk (the caller cut it at ``chunk_size``)."""
        length = len(chunk)
        if self._profile.raw_leaves:
            cid = CID(1, RAW, hashlib.sha256(chunk).digest())
            self._put(cid, chunk)
            self._push(0, _Pending(cid, length, length))
            return
        meta = _unixfs.UnixFSData(_unixfs.NodeType.FILE, data=bytes(chunk), filesize=length)
        block = _dagpb.encode(_dagpb.PBNode((), _unixfs.encode(meta)))
        cid = cid_for_block(block, DAG_PB, self._profile.cid_version)
        self._put(cid, block)
        self._push(0, _Pending(cid, len(block), length))

    def _push(self, level: int, item: _Pending) -> None:
        if level == len(self._levels):
            self._levels.append([])
            self._counts.append(0)
        pending = self._levels[level]
        pending.append(item)
        self._counts[level] += 1
        if len(pending) == self._profile.max_links:
            self._levels[level] = []
            self._push(level + 1, self._reduce(pending))

    def _reduce(self, items: list[_Pending]) -> _Pending:
        meta = _unixfs.UnixFSData(
            _unixfs.NodeType.FILE,
            filesize=sum(i.size for i in items),
            blocksizes=tuple(i.size for i in items),
        )
        links = tuple(_dagpb.PBLink(i.cid, "", i.tsize) for i in items)
        block = _dagpb.encode(_dagpb.PBNode(links, _unixfs.encode(meta)))
        cid = cid_for_block(block, DAG_PB, self._profile.cid_version)
        self._put(cid, block)
        return _Pending(cid, len(block) + sum(i.tsize for i in items), sum(i.size for i in items))

    def finish(self) -> Imported:
        if self._buffer or self._counts[0] == 0:
            # the tail chunk, or the one empty chunk of an empty file
            self.add_chunk(self._buffer)
            self._buffer = bytearray()
        level = 0
        while True:
            if self._counts[level] == 1:
                # one item at this level and none above: it is the root (a lone leaf
                # stays a leaf, as reduceSingleLeafToSelf does)
                root = self._levels[level][0]
                return Imported(root.cid, root.tsize, root.size)
            if self._levels[level]:
                pending = self._levels[level]
                self._levels[level] = []
                self._push(level + 1, self._reduce(pending))
            level += 1


def import_stream(stream: BinaryIO, profile: Profile, put: PutBlock) -> Imported:
    """Import a binary stream, reading one chunk at a time into one reused buffer."""
    builder = FileBuilder(profile, put)
    size = profile.chunk_size
    buffer = bytearray(size)
    view = memoryview(buffer)
    while True:
        filled = 0
        while filled < size:
            n = stream.readinto(view[filled:])  # type: ignore[attr-defined]
            if not n:
                break
            filled += n
        if filled == size:
            builder.add_chunk(view)
            continue
        if filled:
            builder.add_chunk(bytes(view[:filled]))
        break
    return builder.finish()


def import_bytes(data: bytes | bytearray | memoryview, profile: Profile, put: PutBlock) -> Imported:
    builder = FileBuilder(profile, put)
    builder.write(data)
    return builder.finish()


def make_directory(entries: list[Entry], profile: Profile, put: PutBlock) -> Imported:
    """A UnixFS directory node for ``entries``, sharded into a HAMT above the profile's threshold."""
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise StoreError("a directory cannot hold two entries with the same name")
    ordered = sorted(entries, key=lambda e: e.name.encode("utf-8"))
    links = tuple(_dagpb.PBLink(e.cid, e.name, e.tsize) for e in ordered)
    block = _dagpb.encode(
        _dagpb.PBNode(links, _unixfs.encode(_unixfs.UnixFSData(_unixfs.NodeType.DIRECTORY)))
    )
    if profile.hamt_estimate == "links-bytes":
        estimate = sum(len(e.name.encode("utf-8")) + len(e.cid.to_bytes()) for e in entries)
    else:
        estimate = len(block)
    if estimate > profile.hamt_threshold:
        cid, tsize = build_hamt(
            ordered, fanout=profile.hamt_fanout, cid_version=profile.cid_version, put=put
        )
        return Imported(cid, tsize, 0)
    cid = cid_for_block(block, DAG_PB, profile.cid_version)
    put(cid, block)
    return Imported(cid, len(block) + sum(e.tsize for e in entries), 0)


def make_symlink(target: str, profile: Profile, put: PutBlock) -> Imported:
    # go-unixfs writes no filesize for symlinks; kubo's CIDs follow it
    meta = _unixfs.UnixFSData(_unixfs.NodeType.SYMLINK, data=target.encode("utf-8"))
    block = _dagpb.encode(_dagpb.PBNode((), _unixfs.encode(meta)))
    cid = cid_for_block(block, DAG_PB, profile.cid_version)
    put(cid, block)
    return Imported(cid, len(block), 0)


def _checked_name(name: str, where: Path) -> str:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise StoreError(
            f"{where / name!s} has a name that is not UTF-8",
            hint="rename it; UnixFS names are UTF-8",
        ) from None
    return name


def import_path(
    path: Path, profile: Profile, put: PutBlock, *, hidden: bool = False
) -> Imported:
    """Import a file or a folder tree. The top-level path is followed if it is a symlink."""
    try:
        st = path.stat()
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}", hint="check the path") from None
    if stat_mod.S_ISDIR(st.st_mode):
        return _import_dir(path, profile, put, hidden)
    if stat_mod.S_ISREG(st.st_mode):
        return _import_file(path, profile, put)
    raise StoreError(f"{path} is neither a file nor a folder", hint="add regular files or folders")


def _import_file(path: Path, profile: Profile, put: PutBlock) -> Imported:
    try:
        with open(path, "rb", buffering=0) as stream:
            return import_stream(stream, profile, put)
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from None


def _import_dir(path: Path, profile: Profile, put: PutBlock, hidden: bool) -> Imported:
    entries: list[Entry] = []
    try:
        children = sorted(os.scandir(path), key=lambda d: d.name)
    except OSError as exc:
        raise StoreError(f"cannot list {path}: {exc.strerror}") from None
    for child in children:
        if not hidden and child.name.startswith("."):
            continue
        name = _checked_name(child.name, path)
        child_path = Path(child.path)
        if child.is_symlink():
            result = make_symlink(os.readlink(child_path), profile, put)
        elif child.is_dir(follow_symlinks=False):
            result = _import_dir(child_path, profile, put, hidden)
        elif child.is_file(follow_symlinks=False):
            result = _import_file(child_path, profile, put)
        else:
            raise StoreError(f"{child_path} is a special file", hint="remove it or add its parent's other entries")
        entries.append(Entry(name, result.cid, result.tsize))
    return make_directory(entries, profile, put)


def tree_size(path: Path, *, hidden: bool = False) -> int:
    """Bytes of regular-file content under ``path`` (for the quota check before writing)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, dirs, files in os.walk(path):
        if not hidden:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            files = [f for f in files if not f.startswith(".")]
        for name in files:
            full = os.path.join(root, name)
            if not os.path.islink(full):
                total += os.path.getsize(full)
    return total
