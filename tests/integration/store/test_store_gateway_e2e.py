"""Gateways as real uvicorn servers on loopback: fetch, verify, fail over, resume.

A *lying* gateway serves the same store but flips a byte in every leaf it reads; a
*flaky* one dies in the middle of a response. The client must never hand out a bad byte,
must move on to the next gateway, and must leave a store unchanged when no gateway helps.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from deai.errors import BlockNotFound, CorruptBlock, QuotaExceeded, StoreError
from deai.store import CID, RAW, GatewayClient, GatewayServer, LocalStore, cid_of_bytes

DEAD = "http://127.0.0.1:9"  # the discard port: nothing listens there


class _Lying:
    """A blockstore view that alters the bytes of raw leaves (and never checks them)."""

    def __init__(self, store: LocalStore, *, fail_after: int | None = None) -> None:
        self._store = store
        self._fail_after = fail_after
        self.reads = 0

    def has(self, cid: CID) -> bool:
        return self._store.blocks.has(cid)

    def get(self, cid: CID) -> bytes:
        self.reads += 1
        if self._fail_after is not None:
            if self.reads > self._fail_after:
                raise OSError("disk gone")
            return self._store.blocks.get(cid)
        data = bytearray(self._store.blocks.get(cid))
        if cid.codec == RAW and data:
            data[len(data) // 2] ^= 0x01
        return bytes(data)


def _server_over(view: _Lying) -> GatewayServer:
    fake = SimpleNamespace(blocks=view)
    return GatewayServer(fake)  # type: ignore[arg-type]


@pytest.fixture
def lying(store: LocalStore) -> Iterator[GatewayServer]:
    with _server_over(_Lying(store)) as server:
        yield server


@pytest.fixture
def content(store: LocalStore, tmp_path: Path) -> dict[str, object]:
    data = os.urandom(6 * 1024 * 1024 + 11)
    src = tmp_path / "dataset"
    (src / "shards").mkdir(parents=True)
    (src / "shards" / "0.bin").write_bytes(data)
    (src / "meta.json").write_bytes(b'{"rows": 3}\n')
    (src / "r\u00e9sum\u00e9 #1.txt").write_bytes(b"unicode and a space\n")
    return {"data": data, "file": store.add_bytes(data, profile="kubo-v1"), "dir": store.add_path(src)}


def test_cat_and_raw_blocks_from_a_real_server(gateway: GatewayServer, content: dict[str, object],
                                               store: LocalStore) -> None:
    with GatewayClient([gateway.url]) as client:
        assert client.read_bytes(str(content["file"])) == content["data"]
        assert client.read_bytes(f"{content['dir']}/meta.json") == b'{"rows": 3}\n'
        assert client.read_bytes(f"{content['dir']}/r\u00e9sum\u00e9 #1.txt") == b"unicode and a space\n"
        assert client.get_block(str(content["file"])) == store.get_block(str(content["file"]))
    head = httpx.head(f"{gateway.url}/ipfs/{content['file']}", headers={"Accept": "application/vnd.ipld.car"})
    assert head.status_code == 200 and head.headers["content-type"].startswith("application/vnd.ipld.car")
    assert httpx.get(f"{gateway.url}/ipfs/nope").status_code == 400
    assert httpx.get(f"{gateway.url}/ipfs/{cid_of_bytes(b'absent')}").status_code == 404


def test_fetch_copies_a_whole_dag(gateway: GatewayServer, content: dict[str, object], tmp_path: Path) -> None:
    local = LocalStore(tmp_path / "local")
    with GatewayClient([DEAD, gateway.url]) as client:
        root = client.fetch(str(content["dir"]), local)
    assert local.missing(root) == [] and local.is_pinned(root)
    assert local.read_bytes(f"{root}/shards/0.bin") == content["data"]


def test_lying_gateway_is_detected_and_skipped(lying: GatewayServer, gateway: GatewayServer,
                                               content: dict[str, object], tmp_path: Path) -> None:
    local = LocalStore(tmp_path / "local")
    with GatewayClient([lying.url, gateway.url]) as client:
        assert client.read_bytes(str(content["file"])) == content["data"]
        assert client.get_block(str(content["file"]))
        root = client.fetch(str(content["dir"]), local)
    assert local.read_bytes(f"{root}/shards/0.bin") == content["data"]
    for cid in local.blocks.cids():
        local.blocks.get(cid)  # every stored block verifies


def test_only_liars_means_an_error_and_nothing_kept(lying: GatewayServer, content: dict[str, object],
                                                    tmp_path: Path) -> None:
    local = LocalStore(tmp_path / "local")
    received = bytearray()
    with GatewayClient([lying.url, DEAD]) as client:
        with pytest.raises(CorruptBlock, match="no gateway could serve"):
            for chunk in client.cat(str(content["file"])):
                received += chunk
        with pytest.raises(CorruptBlock):
            client.fetch(str(content["dir"]), local)
        with pytest.raises(BlockNotFound):
            client.get_block(cid_of_bytes(b"absent everywhere"))
    assert bytes(received) == b""  # the first leaf was already bad: not one byte came out
    assert local.stat().blocks == 0 and local.pins() == []


def test_a_gateway_dying_mid_stream_is_resumed_elsewhere(store: LocalStore, gateway: GatewayServer,
                                                          content: dict[str, object]) -> None:
    flaky = _Lying(store, fail_after=4)  # serves the root and a few leaves, then breaks
    with _server_over(flaky) as broken, GatewayClient([broken.url, gateway.url]) as client:
        chunks = list(client.cat(str(content["file"])))
    assert b"".join(chunks) == content["data"]
    assert flaky.reads > 1


def test_local_problems_are_not_blamed_on_gateways(gateway: GatewayServer, content: dict[str, object],
                                                   tmp_path: Path) -> None:
    full = LocalStore(tmp_path / "full", quota_bytes=1_000_000)
    with GatewayClient([gateway.url]) as client:
        with pytest.raises(StoreError, match="not a file") as info:
            client.read_bytes(str(content["dir"]))
        assert not isinstance(info.value, BlockNotFound)
        with pytest.raises(QuotaExceeded):
            client.fetch(str(content["file"]), full)
    assert full.stat().blocks == 0
