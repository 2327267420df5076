"""LocalStore: add/read round trips, pins and GC, quota, CAR files, and bad input."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from deai.config import Config
from deai.errors import (
    BlockNotFound,
    BlockTooLarge,
    CarError,
    CorruptBlock,
    InvalidCid,
    QuotaExceeded,
    StoreError,
    UnsupportedCid,
)
from deai.store import RAW, CarReader, LocalStore, cid_for_block, cid_of_bytes, parse_cid
from deai.store._car import car_header, car_section
from deai.store._multibase import b32encode

Snapshot = Callable[[Path], dict[str, bytes]]


def test_add_bytes_cat_ranges_and_profiles(store: LocalStore) -> None:
    data = os.urandom(600_000)
    cid = store.add_bytes(data, profile="kubo-v1")
    assert cid == cid_of_bytes(data, profile="kubo-v1")
    assert store.read_bytes(cid) == data
    assert b"".join(store.cat(cid, offset=262_000, length=1_000)) == data[262_000:263_000]
    assert b"".join(store.cat(cid, offset=599_990)) == data[599_990:]
    assert b"".join(store.cat(cid, offset=700_000)) == b""
    assert store.has(cid) and store.is_pinned(cid)
    with pytest.raises(StoreError):
        list(store.cat(cid, offset=-1))


def test_from_config_uses_the_data_dir(config: Config) -> None:
    store = LocalStore.from_config(config)
    assert store.root == config.store_dir
    assert store.quota_bytes == config.store_quota_bytes


def test_add_stream_matches_add_bytes(store: LocalStore) -> None:
    data = os.urandom(1_500_000)
    assert store.add_stream(io.BytesIO(data)) == cid_of_bytes(data)


def _tree(root: Path) -> Path:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"alpha\n")
    (root / "sub" / "b.bin").write_bytes(os.urandom(300_000))
    (root / "sub" / "deeper" / "c.txt").write_bytes(b"")
    (root / "empty").mkdir()
    os.symlink("a.txt", root / "link")
    return root


def test_folder_round_trip_with_get_ls_and_paths(store: LocalStore, tmp_path: Path) -> None:
    src = _tree(tmp_path / "src")
    cid = store.add_path(src)
    assert [e.name for e in store.ls(cid)] == ["a.txt", "empty", "link", "sub"]
    assert store.read_bytes(f"{cid}/sub/b.bin") == (src / "sub" / "b.bin").read_bytes()
    assert store.read_bytes(f"/ipfs/{cid}/a.txt") == b"alpha\n"
    assert store.kind(cid) == "directory" and store.kind(f"{cid}/link") == "symlink"
    out = store.get(cid, tmp_path / "out")
    assert (out / "sub" / "b.bin").read_bytes() == (src / "sub" / "b.bin").read_bytes()
    assert (out / "sub" / "deeper" / "c.txt").read_bytes() == b""
    assert os.readlink(out / "link") == "a.txt" and (out / "empty").is_dir()
    single = store.get(f"{cid}/a.txt", tmp_path / "single.txt")
    assert single.read_bytes() == b"alpha\n"
    with pytest.raises(BlockNotFound):
        store.resolve(f"{cid}/nope")
    with pytest.raises(StoreError, match="not a directory"):
        store.ls(f"{cid}/a.txt")
    with pytest.raises(StoreError, match="not a file"):
        store.read_bytes(cid)
    with pytest.raises(StoreError, match="existing directory"):
        store.get(cid, tmp_path / "out")


def test_hamt_directory_lists_resolves_and_exports(store: LocalStore, tmp_path: Path) -> None:
    src = tmp_path / "big"
    src.mkdir()
    names = [f"file-{i:05d}-{'x' * 60}.txt" for i in range(3200)]
    for name in names[:3200]:
        (src / name).write_bytes(name.encode())
    cid = store.add_path(src)
    root = store.get_block(cid)
    from deai.store import _dagpb, _unixfs

    assert _unixfs.decode(_dagpb.decode(root).data or b"").type == _unixfs.NodeType.HAMT_SHARD
    assert [e.name for e in store.ls(cid)] == sorted(names)
    assert store.read_bytes(f"{cid}/{names[1234]}") == names[1234].encode()
    out = store.get(cid, tmp_path / "copy")
    assert len(os.listdir(out)) == 3200


def test_pins_and_gc(store: LocalStore) -> None:
    keep = store.add_bytes(os.urandom(2_000_000))
    drop = store.add_bytes(os.urandom(2_000_000), pin=False)
    loose = cid_for_block(b"loose", RAW)
    store.put_block(loose, b"loose")
    before = store.stat()
    assert before.pins == 1 and before.blocks == 7
    result = store.gc()
    assert result.removed_blocks == 4 and result.kept_blocks == 3
    assert not store.has(drop) and not store.has(loose)
    assert store.read_bytes(keep)
    assert store.unpin(keep) == keep and store.pins() == []
    with pytest.raises(StoreError, match="not pinned"):
        store.unpin(keep)
    assert store.gc().removed_blocks == 3 and store.stat().blocks == 0


def test_pin_needs_the_whole_dag(store: LocalStore) -> None:
    cid = store.add_bytes(os.urandom(3_000_000), pin=False)
    assert store.pin(cid) == cid
    store.unpin(cid)
    store.blocks.delete(next(c for c in store.blocks.cids() if c.codec == RAW))
    assert len(store.missing(cid)) == 1
    with pytest.raises(BlockNotFound, match="cannot pin"):
        store.pin(cid)
    assert not store.is_pinned(cid)


def test_corrupted_block_on_disk_is_never_returned(store: LocalStore) -> None:
    data = os.urandom(3_000_000)
    cid = store.add_bytes(data)
    leaf = next(c for c in store.blocks.cids() if c.codec == RAW)
    path = store.blocks.path_of(leaf)
    damaged = bytearray(path.read_bytes())
    damaged[100] ^= 0xFF
    path.write_bytes(bytes(damaged))
    received = bytearray()
    with pytest.raises(CorruptBlock):
        for chunk in store.cat(cid):
            received += chunk
    assert bytes(damaged) not in received and data.startswith(bytes(received))
    assert store.missing(cid) == [leaf]


def test_quota_refuses_and_leaves_the_store_unchanged(tmp_path: Path, tree_snapshot: Snapshot) -> None:
    store = LocalStore(tmp_path / "q", quota_bytes=1_000_000)
    store.add_bytes(os.urandom(600_000))
    before = tree_snapshot(store.root)
    with pytest.raises(QuotaExceeded):
        store.add_bytes(os.urandom(600_000))
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(600_000))
    with pytest.raises(QuotaExceeded):
        store.add_path(big)
    with pytest.raises(QuotaExceeded):
        store.add_stream(io.BytesIO(os.urandom(600_000)))  # the stream's size is unknown up front
    assert tree_snapshot(store.root) == before


def test_car_round_trip_and_scopes(store: LocalStore, tmp_path: Path) -> None:
    src = _tree(tmp_path / "src")
    cid = store.add_path(src)
    buf = io.BytesIO()
    count = store.export_car(cid, buf)
    other = LocalStore(tmp_path / "other")
    result = other.import_car(io.BytesIO(buf.getvalue()))
    assert result.roots == (cid,) and result.blocks == count == result.new_blocks
    assert result.pinned == (cid,) and other.missing(cid) == []
    assert other.read_bytes(f"{cid}/sub/b.bin") == (src / "sub" / "b.bin").read_bytes()
    again = other.import_car(io.BytesIO(buf.getvalue()))
    assert again.new_blocks == 0
    block_only = io.BytesIO()
    assert store.export_car(cid, block_only, scope="block") == 1
    partial = LocalStore(tmp_path / "partial").import_car(io.BytesIO(block_only.getvalue()))
    assert partial.pinned == ()


def test_car_v2_is_read(store: LocalStore) -> None:
    cid = store.add_bytes(os.urandom(300_000), profile="kubo-v1")
    inner = io.BytesIO()
    store.export_car(cid, inner)
    v1 = inner.getvalue()
    pragma = bytes.fromhex("0aa16776657273696f6e02")
    offset = len(pragma) + 40 + 7  # 7 bytes of padding before the payload
    header = bytes(16) + offset.to_bytes(8, "little") + len(v1).to_bytes(8, "little") + bytes(8)
    v2 = pragma + header + bytes(7) + v1 + b"index bytes that are ignored"
    reader = CarReader(io.BytesIO(v2))
    assert reader.roots == (parse_cid(cid),)
    assert len(list(reader.blocks())) == 3


def _bad_cars() -> dict[str, tuple[bytes, type[Exception]]]:
    good = cid_for_block(b"good", RAW)
    big = bytes(2 * 1024 * 1024 + 1)
    wrong = cid_for_block(b"other", RAW)
    dag_cbor = bytes([1, 0x71, 0x12, 32]) + bytes(32)
    return {
        "empty": (b"", CarError),
        "bad header": (b"\x05hello", CarError),
        "huge header": (b"\xff\xff\xff\x7f", CarError),
        "no version": (b"\x01\xa0", CarError),
        "truncated block": (car_header([good]) + car_section(good, b"good")[:-2], CarError),
        "corrupt block": (car_header([good]) + car_section(good, b"good") + car_section(wrong, b"evil"),
                          CorruptBlock),
        "too large": (car_header([good]) + car_section(good, b"good") + car_section(cid_for_block(big, RAW), big),
                      BlockTooLarge),
        "unsupported codec": (car_header([good]) + car_section(good, b"good")
                              + bytes([len(dag_cbor) + 1]) + dag_cbor + b"x", UnsupportedCid),
        "not a cid": (car_header([good]) + car_section(good, b"good") + b"\x03\xff\xff\xff", InvalidCid),
    }


@pytest.mark.parametrize("case", list(_bad_cars()))
def test_bad_car_input_is_typed_and_writes_nothing(
    case: str, store: LocalStore, tree_snapshot: Snapshot
) -> None:
    store.add_bytes(b"already here")
    before = tree_snapshot(store.root)
    data, error = _bad_cars()[case]
    with pytest.raises(error):
        store.import_car(io.BytesIO(data))
    assert tree_snapshot(store.root) == before


def test_bad_cids_and_blocks_are_typed_and_write_nothing(store: LocalStore, tree_snapshot: Snapshot) -> None:
    before = tree_snapshot(store.root)
    with pytest.raises(InvalidCid):
        store.read_bytes("not-a-cid")
    dag_cbor = "b" + b32encode(bytes([1, 0x71, 0x12, 32]) + bytes(32))
    with pytest.raises(UnsupportedCid):
        store.pin(dag_cbor)
    big = bytes(2 * 1024 * 1024 + 1)
    with pytest.raises(BlockTooLarge):
        store.put_block(cid_for_block(big, RAW), big)
    with pytest.raises(CorruptBlock):
        store.put_block(cid_for_block(b"a", RAW), b"b")
    with pytest.raises(BlockNotFound):
        store.read_bytes(cid_of_bytes(b"never added"))
    assert tree_snapshot(store.root) == before
