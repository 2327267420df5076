"""One contract for every Blockstore, run against the in-memory and the on-disk one."""

from __future__ import annotations

from pathlib import Path

import pytest

from deai.errors import BlockNotFound, CorruptBlock
from deai.store import RAW, Blockstore, FsBlockstore, MemoryBlockstore, cid_for_block


class BlockstoreContract:
    __test__ = False

    def make(self, tmp_path: Path) -> Blockstore:
        raise NotImplementedError

    def corrupt(self, store: Blockstore, data: bytes) -> None:
        raise NotImplementedError

    def test_put_get_has_delete(self, tmp_path: Path) -> None:
        store = self.make(tmp_path)
        cid = cid_for_block(b"block", RAW)
        assert not store.has(cid)
        assert store.put(cid, b"block") is True
        assert store.put(cid, b"block") is False
        assert store.has(cid) and store.get(cid) == b"block"
        assert store.size_of(cid) == 5 and store.used_bytes() == 5
        assert [c.key for c in store.cids()] == [cid.key]
        assert store.delete(cid) == 5 and store.delete(cid) == 0
        assert store.used_bytes() == 0
        with pytest.raises(BlockNotFound):
            store.get(cid)

    def test_v0_and_v1_share_a_key(self, tmp_path: Path) -> None:
        store = self.make(tmp_path)
        v1 = cid_for_block(b"node", 0x70)
        store.put(v1, b"node")
        v0 = type(v1)(0, 0x70, v1.digest)
        assert store.has(v0) and store.get(v0) == b"node"

    def test_corrupt_block_is_detected_and_dropped(self, tmp_path: Path) -> None:
        store = self.make(tmp_path)
        cid = cid_for_block(b"good bytes", RAW)
        store.put(cid, b"good bytes")
        self.corrupt(store, b"bad! bytes")
        with pytest.raises(CorruptBlock):
            store.get(cid)
        assert not store.has(cid)


class TestMemoryBlockstore(BlockstoreContract):
    __test__ = True

    def make(self, tmp_path: Path) -> Blockstore:
        return MemoryBlockstore()

    def corrupt(self, store: Blockstore, data: bytes) -> None:
        assert isinstance(store, MemoryBlockstore)
        cid = next(store.cids())
        store._overwrite_for_tests(cid, data)


class TestFsBlockstore(BlockstoreContract):
    __test__ = True

    def make(self, tmp_path: Path) -> Blockstore:
        return FsBlockstore(tmp_path / "bs")

    def corrupt(self, store: Blockstore, data: bytes) -> None:
        assert isinstance(store, FsBlockstore)
        cid = next(store.cids())
        store.path_of(cid).write_bytes(data)

    def test_layout_is_sharded_and_writes_leave_no_temp_files(self, tmp_path: Path) -> None:
        store = FsBlockstore(tmp_path / "bs")
        cid = cid_for_block(b"x", RAW)
        store.put(cid, b"x")
        path = store.path_of(cid)
        assert path.parent.name == cid.key[-3:-1] and path.name == cid.key + ".data"
        assert list((tmp_path / "bs" / "tmp").iterdir()) == []

    def test_used_bytes_survives_a_reopen(self, tmp_path: Path) -> None:
        store = FsBlockstore(tmp_path / "bs")
        for i in range(5):
            data = bytes([i]) * (i + 1)
            store.put(cid_for_block(data, RAW), data)
        assert FsBlockstore(tmp_path / "bs").used_bytes() == 15
