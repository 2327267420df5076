"""Blockstores: where blocks live. One interface, an in-memory and an on-disk implementation.

``FsBlockstore`` keeps one file per block in sharded folders, like kubo's flatfs
(``blocks/<2 chars>/<CIDv1>.data``, the two characters before the last one of the key, so
shards fill evenly). We measured it against a single SQLite table of blobs
(``bench/store.py --backends``): writes of 256 KiB–1 MiB blocks run at disk speed in both,
but files need no vacuum after garbage collection, stream without loading a blob whole,
and let several processes read without a writer lock; see docs/store.md.

Every write goes to a temporary file in ``tmp/`` and is renamed into place, so a reader
never sees half a block. Every read re-hashes the bytes: a block damaged on disk raises
``CorruptBlock``, is removed so that a fetch can repair it, and is never returned.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from deai.errors import BlockNotFound, CorruptBlock, InvalidCid, StoreError, UnsupportedCid
from deai.store._cid import CID, parse_cid, verify_block


class Blockstore(Protocol):
    """What the importer, exporter, CAR and gateway code need from a block store."""

    def get(self, cid: CID) -> bytes:
        """The block's bytes, verified against ``cid``; ``BlockNotFound`` or ``CorruptBlock``."""
        ...

    def put(self, cid: CID, data: bytes | bytearray | memoryview) -> bool:
        """Store a block whose bytes the caller has already hashed; True if it was new."""
        ...

    def has(self, cid: CID) -> bool: ...

    def delete(self, cid: CID) -> int:
        """Remove a block; the bytes freed (0 if it was absent)."""
        ...

    def size_of(self, cid: CID) -> int | None: ...

    def cids(self) -> Iterator[CID]: ...

    def used_bytes(self) -> int: ...


class MemoryBlockstore:
    """Blocks in a dict: for tests, ``--only-hash`` previews and short-lived fetches."""

    def __init__(self) -> None:
        self._blocks: dict[str, tuple[CID, bytes]] = {}
        self._lock = threading.Lock()

    def get(self, cid: CID) -> bytes:
        found = self._blocks.get(cid.key)
        if found is None:
            raise BlockNotFound(f"block {cid} is not in the store")
        try:
            verify_block(cid, found[1])
        except CorruptBlock:
            self.delete(cid)
            raise
        return found[1]

    def put(self, cid: CID, data: bytes | bytearray | memoryview) -> bool:
        with self._lock:
            if cid.key in self._blocks:
                return False
            self._blocks[cid.key] = (cid.to_v1(), bytes(data))
            return True

    def has(self, cid: CID) -> bool:
        return cid.key in self._blocks

    def delete(self, cid: CID) -> int:
        with self._lock:
            found = self._blocks.pop(cid.key, None)
        return len(found[1]) if found else 0

    def size_of(self, cid: CID) -> int | None:
        found = self._blocks.get(cid.key)
        return len(found[1]) if found else None

    def cids(self) -> Iterator[CID]:
        for cid, _ in list(self._blocks.values()):
            yield cid

    def used_bytes(self) -> int:
        return sum(len(data) for _, data in list(self._blocks.values()))

    def _overwrite_for_tests(self, cid: CID, data: bytes) -> None:
        self._blocks[cid.key] = (cid.to_v1(), data)


class FsBlockstore:
    """One file per block under ``root/blocks``; see the module docstring."""

    SUFFIX = ".data"

    def __init__(self, root: Path, *, fsync: bool = False) -> None:
        self.root = root
        self._blocks_dir = root / "blocks"
        self._tmp_dir = root / "tmp"
        self._fsync = fsync
        self._used: int | None = None
        self._lock = threading.Lock()
        try:
            self._blocks_dir.mkdir(parents=True, exist_ok=True)
            self._tmp_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the blockstore at {root}: {exc.strerror}") from None

    def path_of(self, cid: CID) -> Path:
        key = cid.key
        return self._blocks_dir / key[-3:-1] / (key + self.SUFFIX)

    def get(self, cid: CID) -> bytes:
        path = self.path_of(cid)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise BlockNotFound(f"block {cid} is not in the store") from None
        except OSError as exc:
            raise StoreError(f"cannot read block {cid}: {exc.strerror}") from None
        try:
            verify_block(cid, data)
        except CorruptBlock:
            # a damaged block is worthless and would make has() lie: drop it so a fetch repairs it
            self.delete(cid)
            raise CorruptBlock(f"block {cid} is damaged on disk ({path}); it was removed") from None
        return data

    def put(self, cid: CID, data: bytes | bytearray | memoryview) -> bool:
        path = self.path_of(cid)
        if path.exists():
            return False
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._tmp_dir, prefix="put-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                if self._fsync:
                    out.flush()
                    os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        with self._lock:
            if self._used is not None:
                self._used += len(data)
        return True

    def has(self, cid: CID) -> bool:
        return self.path_of(cid).exists()

    def delete(self, cid: CID) -> int:
        path = self.path_of(cid)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        with self._lock:
            if self._used is not None:
                self._used -= size
        return size

    def size_of(self, cid: CID) -> int | None:
        try:
            return self.path_of(cid).stat().st_size
        except FileNotFoundError:
            return None

    def _entries(self) -> Iterator[tuple[CID, int]]:
        for shard in sorted(os.scandir(self._blocks_dir), key=lambda e: e.name):
            if not shard.is_dir():
                continue
            for entry in os.scandir(shard.path):
                name = entry.name
                if not name.endswith(self.SUFFIX):
                    continue
                try:
                    cid = parse_cid(name[: -len(self.SUFFIX)])
                    size = entry.stat().st_size
                except (InvalidCid, UnsupportedCid, FileNotFoundError):
                    continue
                yield cid, size

    def cids(self) -> Iterator[CID]:
        for cid, _ in self._entries():
            yield cid

    def used_bytes(self) -> int:
        # counted once per process, then kept up to date by put/delete
        with self._lock:
            if self._used is not None:
                return self._used
        total = sum(size for _, size in self._entries())
        with self._lock:
            self._used = total
        return total

    def clean_tmp(self) -> int:
        """Remove temporary files left by writers that died; returns how many."""
        removed = 0
        for entry in os.scandir(self._tmp_dir):
            Path(entry.path).unlink(missing_ok=True)
            removed += 1
        return removed
