"""``LocalStore``: the node's own blockstore on disk, with pins, quota, GC and CAR files.

Concurrency: every writer (add, import, pin) holds a shared ``flock`` on ``root/lock``
and GC holds it exclusively, so GC never deletes the blocks of an add that has not
pinned its root yet; this holds across processes (the CLI beside a running node).
Atomicity: a write that fails half-way (quota, a corrupt CAR section, a disk error)
deletes the blocks it had added before the error propagates.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

from deai.errors import BlockNotFound, CorruptBlock, QuotaExceeded, StoreError
from deai.store import _dag
from deai.store._blockstore import FsBlockstore
from deai.store._car import CarReader, write_car
from deai.store._cid import CID, parse_cid, verify_block
from deai.store._dag import DirEntry, Kind
from deai.store._importer import (
    discard,
    import_bytes,
    import_path,
    import_stream,
    tree_size,
)
from deai.store._profiles import DEFAULT_PROFILE, Profile, get_profile
from deai.units import Cid

if TYPE_CHECKING:
    from deai.config import Config

DagScope = Literal["block", "entity", "all"]


@dataclass(frozen=True, slots=True)
class StoreStat:
    root: str
    blocks: int
    bytes: int
    pins: int
    quota_bytes: int | None


@dataclass(frozen=True, slots=True)
class GcResult:
    removed_blocks: int
    freed_bytes: int
    kept_blocks: int


@dataclass(frozen=True, slots=True)
class CarImport:
    roots: tuple[Cid, ...]
    blocks: int
    new_blocks: int
    bytes: int
    pinned: tuple[Cid, ...]


def cid_of_bytes(data: bytes | bytearray | memoryview, *, profile: str | Profile = DEFAULT_PROFILE) -> Cid:
    """The CID ``add_bytes`` would give, computed without storing anything."""
    return import_bytes(data, get_profile(profile), discard).cid.encode()


def cid_of_path(path: Path, *, profile: str | Profile = DEFAULT_PROFILE, hidden: bool = False) -> Cid:
    """The CID ``add_path`` would give (``ipfs add --only-hash``), streaming the file(s)."""
    return import_path(Path(path), get_profile(profile), discard, hidden=hidden).cid.encode()


def split_path(target: str | CID) -> tuple[CID, str]:
    """``bafy…/a/b`` or ``/ipfs/bafy…/a/b`` into the root CID and the path under it."""
    if isinstance(target, CID):
        return target, ""
    text = target.strip()
    if text.startswith("/ipfs/"):
        text = text[len("/ipfs/") :]
    root, _, rest = text.partition("/")
    return parse_cid(root), rest


def _safe_name(name: str, parent: CID) -> str:
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        raise CorruptBlock(f"directory {parent} has an unsafe entry name {name!r}; refusing to write it")
    return name


class _Transaction:
    """Blocks written by one operation, so a failure can take them back."""

    def __init__(self, store: LocalStore) -> None:
        self._store = store
        self.new: list[CID] = []
        self.new_bytes = 0
        self.seen = 0

    def put(self, cid: CID, data: bytes | bytearray | memoryview) -> None:
        self.seen += 1
        blocks = self._store.blocks
        if blocks.has(cid):
            return
        quota = self._store.quota_bytes
        if quota is not None and blocks.used_bytes() + len(data) > quota:
            raise QuotaExceeded(
                f"the blockstore is full: {blocks.used_bytes()} of {quota} bytes used, "
                f"a {len(data)}-byte block does not fit"
            )
        if blocks.put(cid, data):
            self.new.append(cid)
            self.new_bytes += len(data)

    def put_verified(self, cid: CID, data: bytes | bytearray | memoryview) -> None:
        verify_block(cid, data)
        self.put(cid, data)

    def rollback(self) -> None:
        for cid in self.new:
            self._store.blocks.delete(cid)
        self.new.clear()


class LocalStore:
    """A disk blockstore with pins: what ``deai store`` and every node use.

    ``root`` holds ``blocks/`` (the blocks), ``pins/`` (one file per pinned root),
    ``tmp/`` (writes in flight) and ``lock``. ``quota_bytes`` caps the block bytes.
    """

    def __init__(self, root: Path, quota_bytes: int | None = None, *, fsync: bool = False) -> None:
        self.root = Path(root)
        self.quota_bytes = quota_bytes
        self.blocks = FsBlockstore(self.root, fsync=fsync)
        self._pins_dir = self.root / "pins"
        self._pins_dir.mkdir(parents=True, exist_ok=True)
        self._lock_path = self.root / "lock"
        self._lock_path.touch(exist_ok=True)

    @classmethod
    def from_config(cls, config: Config) -> LocalStore:
        return cls(config.store_dir, config.store_quota_bytes)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    # --- locking and transactions ------------------------------------------------------

    @contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        with open(self._lock_path, "a+b") as handle:
            fcntl.flock(handle.fileno(), mode)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    @contextmanager
    def _transaction(self) -> Iterator[_Transaction]:
        tx = _Transaction(self)
        with self._locked(fcntl.LOCK_SH):
            try:
                yield tx
            except BaseException:
                tx.rollback()
                raise

    def _check_room(self, needed: int) -> None:
        if self.quota_bytes is None:
            return
        used = self.blocks.used_bytes()
        if used + needed > self.quota_bytes:
            raise QuotaExceeded(
                f"adding {needed} bytes would exceed the quota ({used} of {self.quota_bytes} bytes used)"
            )

    # --- adding ------------------------------------------------------------------------

    def add_bytes(
        self, data: bytes | bytearray | memoryview, *, profile: str | Profile = DEFAULT_PROFILE, pin: bool = True
    ) -> Cid:
        """Store ``data`` as a UnixFS file; returns its CID (pinned unless ``pin=False``)."""
        prof = get_profile(profile)
        self._check_room(len(data))
        with self._transaction() as tx:
            result = import_bytes(data, prof, tx.put)
            if pin:
                self._write_pin(result.cid)
        return result.cid.encode()

    def add_stream(
        self, stream: BinaryIO, *, profile: str | Profile = DEFAULT_PROFILE, pin: bool = True
    ) -> Cid:
        """Store a binary stream as a UnixFS file, one chunk in memory at a time."""
        prof = get_profile(profile)
        with self._transaction() as tx:
            result = import_stream(stream, prof, tx.put)
            if pin:
                self._write_pin(result.cid)
        return result.cid.encode()

    def add_path(
        self,
        path: Path,
        *,
        profile: str | Profile = DEFAULT_PROFILE,
        only_hash: bool = False,
        pin: bool = True,
        hidden: bool = False,
    ) -> Cid:
        """Add a file or a folder tree (streaming); ``only_hash`` computes the CID only."""
        path = Path(path)
        prof = get_profile(profile)
        if only_hash:
            return import_path(path, prof, discard, hidden=hidden).cid.encode()
        if not path.exists():
            raise StoreError(f"{path} does not exist", hint="check the path")
        self._check_room(tree_size(path, hidden=hidden))
        with self._transaction() as tx:
            result = import_path(path, prof, tx.put, hidden=hidden)
            if pin:
                self._write_pin(result.cid)
        return result.cid.encode()

    def put_block(self, cid: str | CID, data: bytes) -> bool:
        """Store one block after checking it against its CID; True if it was new."""
        parsed = parse_cid(cid)
        with self._transaction() as tx:
            tx.put_verified(parsed, data)
        return bool(tx.new)

    # --- reading -------------------------------------------------------------------------

    def get_block(self, cid: str | CID) -> bytes:
        """One block's bytes, verified against its CID."""
        return self.blocks.get(parse_cid(cid))

    def has(self, cid: str | CID) -> bool:
        """Whether the root block of ``cid`` is here (see ``missing`` for the whole DAG)."""
        return self.blocks.has(parse_cid(cid))

    def resolve(self, target: str | CID) -> CID:
        """The CID that ``bafy…/a/b`` names, through UnixFS directories (HAMT too)."""
        root, path = split_path(target)
        if not path:
            return root
        return _dag.resolve(self.blocks.get, root, path)[0]

    def kind(self, target: str | CID) -> Kind:
        return _dag.kind_of(self.blocks.get, self.resolve(target))

    def cat(self, target: str | CID, *, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        """Stream a file's bytes, verifying every block before any of its bytes is yielded."""
        if offset < 0 or (length is not None and length < 0):
            raise StoreError("offset and length must not be negative")
        cid = self.resolve(target)
        end = None if length is None else offset + length
        return _dag.read_file(self.blocks.get, cid, offset, end)

    def read_bytes(self, target: str | CID) -> bytes:
        """A whole (small) file in memory; prefer ``cat`` or ``get`` for large ones."""
        return b"".join(self.cat(target))

    def ls(self, target: str | CID) -> list[DirEntry]:
        """A directory's entries (name, CID, cumulative size), HAMT shards included."""
        return _dag.list_directory(self.blocks.get, self.resolve(target))

    def get(self, target: str | CID, out: Path) -> Path:
        """Write a file, folder tree or symlink to ``out``; appears there only when complete."""
        out = Path(out)
        cid = self.resolve(target)
        if out.is_dir() and not out.is_symlink():
            raise StoreError(f"{out} is an existing directory", hint="name a path that does not exist")
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".deai-get-", dir=out.parent))
        try:
            tmp = staging / "out"
            self._write_tree(cid, tmp)
            os.replace(tmp, out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return out

    def _write_tree(self, cid: CID, dest: Path, depth: int = 0) -> None:
        if depth > _dag.MAX_DEPTH:
            raise CorruptBlock("directory tree deeper than 64 levels")
        node = _dag.load(self.blocks.get, cid)
        if node.kind == "file":
            with open(dest, "wb") as handle:
                for chunk in _dag.read_file(self.blocks.get, cid):
                    handle.write(chunk)
        elif node.kind == "symlink":
            assert node.meta is not None
            os.symlink((node.meta.data or b"").decode("utf-8", "surrogateescape"), dest)
        else:
            dest.mkdir()
            for entry in _dag.list_directory(self.blocks.get, cid):
                name = _safe_name(entry.name, cid)
                self._write_tree(parse_cid(entry.cid), dest / name, depth + 1)

    def dag_blocks(self, target: str | CID, scope: DagScope = "all") -> Iterator[tuple[CID, bytes]]:
        """The blocks of a DAG in dfs order: the root only, the entity, or everything."""
        cid = self.resolve(target)
        if scope == "block":
            yield cid, self.blocks.get(cid)
        elif scope == "entity":
            for visit in _dag.walk_entity(self.blocks.get, cid):
                yield visit.cid, visit.block
        else:
            for visit in _dag.walk_dag(self.blocks.get, cid):
                yield visit.cid, visit.block

    def missing(self, target: str | CID, *, limit: int | None = None) -> list[CID]:
        """Blocks of the DAG that are not here (raw leaves are checked without reading)."""
        root = parse_cid(target) if not isinstance(target, CID) else target
        absent: list[CID] = []
        seen: set[str] = set()
        stack = [root]
        while stack and (limit is None or len(absent) < limit):
            cid = stack.pop()
            if cid.key in seen:
                continue
            seen.add(cid.key)
            if cid.codec != 0x70:
                if not self.blocks.has(cid):
                    absent.append(cid)
                continue
            try:
                block = self.blocks.get(cid)
            except (BlockNotFound, CorruptBlock):
                absent.append(cid)
                continue
            stack.extend(reversed(_dag.links_of(cid, block)))
        return absent

    # --- pins and garbage collection ----------------------------------------------------

    def _pin_path(self, cid: CID) -> Path:
        return self._pins_dir / cid.key

    def _write_pin(self, cid: CID) -> None:
        path = self._pin_path(cid)
        if path.exists():
            return
        fd, tmp = tempfile.mkstemp(dir=self._pins_dir, prefix=".pin-")
        with os.fdopen(fd, "w") as handle:
            handle.write(cid.encode())
        os.replace(tmp, path)

    def pin(self, cid: str | CID) -> Cid:
        """Keep a whole DAG through GC; ``BlockNotFound`` if any of its blocks is absent."""
        parsed = parse_cid(cid)
        with self._locked(fcntl.LOCK_SH):
            absent = self.missing(parsed, limit=1)
            if absent:
                raise BlockNotFound(
                    f"cannot pin {parsed}: block {absent[0]} of its DAG is not here",
                    hint="fetch the DAG first (a gateway or `deai store car import`)",
                )
            self._write_pin(parsed)
        return parsed.encode()

    def unpin(self, cid: str | CID) -> Cid:
        parsed = parse_cid(cid)
        try:
            self._pin_path(parsed).unlink()
        except FileNotFoundError:
            raise StoreError(f"{parsed} is not pinned", hint="list pins with `deai store pins`") from None
        return parsed.encode()

    def pins(self) -> list[Cid]:
        out: list[Cid] = []
        for entry in sorted(os.scandir(self._pins_dir), key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            try:
                out.append(parse_cid(Path(entry.path).read_text().strip()).encode())
            except (StoreError, OSError):
                continue
        return out

    def is_pinned(self, cid: str | CID) -> bool:
        return self._pin_path(parse_cid(cid)).exists()

    def gc(self) -> GcResult:
        """Delete every block not reachable from a pin (blocks adds in flight are kept)."""
        with self._locked(fcntl.LOCK_EX):
            live: set[str] = set()
            for pin in self.pins():
                stack = [parse_cid(pin)]
                while stack:
                    cid = stack.pop()
                    if cid.key in live:
                        continue
                    live.add(cid.key)
                    if cid.codec != 0x70:
                        continue
                    try:
                        block = self.blocks.get(cid)
                    except (BlockNotFound, CorruptBlock):
                        continue
                    stack.extend(_dag.links_of(cid, block))
            removed = freed = kept = 0
            for cid in list(self.blocks.cids()):
                if cid.key in live:
                    kept += 1
                    continue
                freed += self.blocks.delete(cid)
                removed += 1
            self.blocks.clean_tmp()
        return GcResult(removed, freed, kept)

    def stat(self) -> StoreStat:
        count = total = 0
        for _, size in self.blocks._entries():
            count += 1
            total += size
        return StoreStat(str(self.root), count, total, len(self.pins()), self.quota_bytes)

    # --- CAR files -----------------------------------------------------------------------

    def export_car(self, target: str | CID, out: BinaryIO, *, scope: DagScope = "all") -> int:
        """Write the DAG as a CARv1 with ``target`` as its root; returns the block count."""
        cid = self.resolve(target)
        return write_car(out, [cid], self.dag_blocks(cid, scope))

    def import_car(self, stream: BinaryIO, *, pin: bool = True) -> CarImport:
        """Import a CARv1/v2, verifying every block; on any bad block nothing is kept.

        Roots whose DAG is complete afterwards are pinned (``pin=False`` to skip).
        """
        reader = CarReader(stream)
        count = 0
        with self._transaction() as tx:
            for cid, block in reader.blocks():
                tx.put(cid, block)
                count += 1
            pinned: list[Cid] = []
            if pin:
                for root in reader.roots:
                    if not self.missing(root, limit=1):
                        self._write_pin(root)
                        pinned.append(root.encode())
        return CarImport(
            tuple(r.encode() for r in reader.roots), count, len(tx.new), tx.new_bytes, tuple(pinned)
        )
