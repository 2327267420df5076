"""The gateway routes through FastAPI's TestClient: formats, scopes, ranges, errors."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from deai.store import CarReader, LocalStore, cid_of_bytes, gateway_app, parse_cid

RAW_T = "application/vnd.ipld.raw"
CAR_T = "application/vnd.ipld.car"


@pytest.fixture
def served(store: LocalStore, tmp_path: Path) -> tuple[TestClient, dict[str, str], bytes]:
    data = os.urandom(5 * 256 * 1024 + 100)
    src = tmp_path / "site"
    (src / "docs").mkdir(parents=True)
    (src / "docs" / "big.bin").write_bytes(data)
    (src / "index.txt").write_bytes(b"hi\n")
    cids = {
        "file": store.add_bytes(data, profile="kubo-v1"),
        "dir": store.add_path(src, profile="kubo-v1"),
    }
    return TestClient(gateway_app(store)), cids, data


def _car(body: bytes) -> tuple[list[str], list[str]]:
    reader = CarReader(io.BytesIO(body))
    return [r.encode() for r in reader.roots], [c.encode() for c, _ in reader.blocks()]


def test_raw_block(served: tuple[TestClient, dict[str, str], bytes], store: LocalStore) -> None:
    client, cids, _ = served
    resp = client.get(f"/ipfs/{cids['file']}", headers={"Accept": RAW_T})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == RAW_T
    assert resp.content == store.get_block(cids["file"])
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert "immutable" in resp.headers["cache-control"]
    assert client.get(f"/ipfs/{cids['file']}?format=raw").content == resp.content
    head = client.head(f"/ipfs/{cids['file']}", headers={"Accept": RAW_T})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(resp.content))


def test_car_scopes(served: tuple[TestClient, dict[str, str], bytes], store: LocalStore) -> None:
    client, cids, _ = served
    everything = [c.encode() for c, _ in store.dag_blocks(cids["dir"])]
    resp = client.get(f"/ipfs/{cids['dir']}", headers={"Accept": CAR_T})
    assert resp.headers["content-type"].startswith(f"{CAR_T}; version=1; order=dfs")
    roots, blocks = _car(resp.content)
    assert roots == [cids["dir"]] and blocks == everything
    _, only = _car(client.get(f"/ipfs/{cids['dir']}?format=car&dag-scope=block").content)
    assert only == [cids["dir"]]
    _, entity = _car(client.get(f"/ipfs/{cids['dir']}?format=car&dag-scope=entity").content)
    assert entity == [cids["dir"]]
    roots, with_path = _car(client.get(f"/ipfs/{cids['dir']}/docs/big.bin?format=car&dag-scope=entity").content)
    target = store.resolve(f"{cids['dir']}/docs/big.bin").encode()
    assert roots == [cids["dir"]]
    assert with_path[:3] == [cids["dir"], store.resolve(f"{cids['dir']}/docs").encode(), target]
    assert len(with_path) == 3 + 6


def test_entity_bytes_sends_only_the_needed_leaves(served: tuple[TestClient, dict[str, str], bytes]) -> None:
    client, cids, data = served
    url = f"/ipfs/{cids['file']}?format=car&dag-scope=entity"
    _, first = _car(client.get(url + "&entity-bytes=0:10").content)
    assert len(first) == 2  # the root and the first leaf
    _, tail = _car(client.get(url + "&entity-bytes=-10:*").content)
    assert len(tail) == 2 and tail[1] == cid_of_bytes(data[5 * 256 * 1024 :], profile="kubo-v1")
    _, middle = _car(client.get(url + "&entity-bytes=262143:262144").content)
    assert len(middle) == 3
    _, past = _car(client.get(url + f"&entity-bytes={len(data) + 5}:*").content)
    assert len(past) == 1


def test_dups_parameter(store: LocalStore) -> None:
    chunk = bytes(256 * 1024)
    cid = store.add_bytes(chunk * 3, profile="kubo-v1")  # three identical leaves
    client = TestClient(gateway_app(store))
    _, once = _car(client.get(f"/ipfs/{cid}", headers={"Accept": f"{CAR_T}; dups=n"}).content)
    resp = client.get(f"/ipfs/{cid}?dag-scope=entity", headers={"Accept": f"{CAR_T}; version=1; dups=y"})
    assert "dups=y" in resp.headers["content-type"]
    _, repeated = _car(resp.content)
    assert len(once) == 2 and len(repeated) == 4


def test_deserialized_file_and_listing(served: tuple[TestClient, dict[str, str], bytes]) -> None:
    client, cids, data = served
    resp = client.get(f"/ipfs/{cids['file']}")
    assert resp.content == data and resp.headers["content-type"] == "application/octet-stream"
    listing = client.get(f"/ipfs/{cids['dir']}").json()
    assert [e["name"] for e in listing["entries"]] == ["docs", "index.txt"]
    assert client.get(f"/ipfs/{cids['dir']}/index.txt").content == b"hi\n"


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/ipfs/not-a-cid", 400),
        ("/ipfs/bafyreihdb57fdysx5h35urvxz64ros7zvywshber7id6t6c6fek37jgyfe", 400),
        ("/ipfs/{file}?format=tar", 400),
        ("/ipfs/{file}?format=car&dag-scope=deep", 400),
        ("/ipfs/{file}?format=car&entity-bytes=0:5", 400),
        ("/ipfs/{file}?format=car&dag-scope=entity&entity-bytes=9:3", 400),
        ("/ipfs/{file}?format=car&dag-scope=entity&entity-bytes=x", 400),
        ("/ipfs/" + cid_of_bytes(b"unknown"), 404),
        ("/ipfs/{dir}/missing.txt?format=raw", 404),
    ],
)
def test_errors(served: tuple[TestClient, dict[str, str], bytes], url: str, status: int) -> None:
    client, cids, _ = served
    resp = client.get(url.format(**cids))
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("text/plain")


def test_head_unknown_root_is_404(served: tuple[TestClient, dict[str, str], bytes]) -> None:
    client, _, _ = served
    missing = cid_of_bytes(b"unknown")
    assert client.head(f"/ipfs/{missing}", headers={"Accept": CAR_T}).status_code == 404
    assert parse_cid(missing)
