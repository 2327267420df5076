"""The streaming importer: stream == bytes, tree shapes, folders, symlinks, hidden files."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import pytest

from deai.errors import StoreError
from deai.store import PROFILES, _dagpb, _unixfs, cid_of_bytes, cid_of_path, get_profile
from deai.store._importer import FileBuilder, discard, import_bytes, import_stream
from deai.store._profiles import Profile

TINY = Profile("tiny", chunk_size=4, max_links=3)


def _collect(profile: Profile, data: bytes) -> tuple[str, dict[str, bytes]]:
    blocks: dict[str, bytes] = {}
    result = import_bytes(data, profile, lambda c, b: blocks.__setitem__(c.encode(), bytes(b)))
    return result.cid.encode(), blocks


def _depth(root: str, blocks: dict[str, bytes]) -> int:
    if root.startswith("bafk"):
        return 0
    node = _dagpb.decode(blocks[root])
    return 1 + max(_depth(link.hash.encode(), blocks) for link in node.links)


@pytest.mark.parametrize(("size", "depth"), [(0, 0), (4, 0), (5, 1), (12, 1), (13, 2), (36, 2), (37, 3)])
def test_balanced_tree_depth(size: int, depth: int) -> None:
    root, blocks = _collect(TINY, bytes(range(size)))
    assert _depth(root, blocks) == depth


def test_partial_groups_wrap_in_their_own_node() -> None:
    # 13 chunks with 3 links per node: [3,3,3] [3,1] -> level 2 holds 3 + 2 nodes
    root, blocks = _collect(TINY, os.urandom(4 * 13))
    top = _dagpb.decode(blocks[root])
    assert len(top.links) == 2
    sizes = _unixfs.decode(top.data or b"").blocksizes
    assert sizes == (36, 16)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_stream_equals_bytes_equals_writes(profile: str) -> None:
    prof = get_profile(profile)
    data = random.Random(7).randbytes(3 * prof.chunk_size + 123)
    expected = import_bytes(data, prof, discard).cid
    assert import_stream(io.BytesIO(data), prof, discard).cid == expected
    builder = FileBuilder(prof, discard)
    for start in range(0, len(data), 77_777):
        builder.write(data[start : start + 77_777])
    assert builder.finish().cid == expected


class _Trickle(io.RawIOBase):
    """A stream that returns at most 1000 bytes a read, like a pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), 1000, len(self._data))
        buffer[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


def test_short_reads_do_not_change_chunking() -> None:
    data = os.urandom(300_000)
    assert import_stream(_Trickle(data), PROFILES["kubo-v1"], discard).cid.encode() == cid_of_bytes(
        data, profile="kubo-v1"
    )


def test_unknown_profile_suggests_a_name() -> None:
    with pytest.raises(StoreError, match="unknown import profile") as info:
        get_profile("kubo-v2")
    assert "kubo-v1" in info.value.hint
    with pytest.raises(StoreError):
        Profile("bad", chunk_size=2 * 1024 * 1024, max_links=10)


def test_folder_import_skips_hidden_keeps_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"a")
    (root / "sub" / "b.txt").write_bytes(b"b")
    (root / ".secret").write_bytes(b"s")
    (root / "empty").mkdir()
    os.symlink("a.txt", root / "link")
    blocks: dict[str, bytes] = {}
    from deai.store._importer import import_path

    result = import_path(root, get_profile("kubo-v1"), lambda c, b: blocks.__setitem__(c.encode(), bytes(b)))
    top = _dagpb.decode(blocks[result.cid.encode()])
    assert [link.name for link in top.links] == ["a.txt", "empty", "link", "sub"]
    link_node = _dagpb.decode(blocks[top.links[2].hash.encode()])
    meta = _unixfs.decode(link_node.data or b"")
    assert (meta.type, meta.data, meta.filesize) == (_unixfs.NodeType.SYMLINK, b"a.txt", None)
    with_hidden = cid_of_path(root, profile="kubo-v1", hidden=True)
    assert with_hidden != result.cid.encode()


def test_non_utf8_names_and_special_files_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / os.fsdecode(b"bad\xff")).write_bytes(b"x")
    with pytest.raises(StoreError, match="not UTF-8"):
        cid_of_path(root)
    fifo_dir = tmp_path / "fifo"
    fifo_dir.mkdir()
    os.mkfifo(fifo_dir / "pipe")
    with pytest.raises(StoreError, match="special file"):
        cid_of_path(fifo_dir)
    with pytest.raises(StoreError, match="cannot read"):
        cid_of_path(tmp_path / "missing")


def test_path_and_bytes_agree(tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024 + 17)
    (tmp_path / "f").write_bytes(data)
    for profile in PROFILES:
        assert cid_of_path(tmp_path / "f", profile=profile) == cid_of_bytes(data, profile=profile)
