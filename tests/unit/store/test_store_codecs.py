"""dag-pb, UnixFS, CBOR and murmur3 encoders against hand-checked bytes."""

from __future__ import annotations

import pytest

from deai.errors import CorruptBlock
from deai.store import RAW, _cbor, _dagpb, _unixfs, cid_for_block
from deai.store._murmur3 import murmur3_x64_128
from deai.store._unixfs import NodeType, UnixFSData


def test_dagpb_canonical_order_links_then_data() -> None:
    child = cid_for_block(b"x", RAW)
    node = _dagpb.PBNode((_dagpb.PBLink(child, "a", 1),), b"\x08\x01")
    raw = _dagpb.encode(node)
    link = b"\x0a\x24" + child.to_bytes() + b"\x12\x01a" + b"\x18\x01"
    assert raw == b"\x12" + bytes([len(link)]) + link + b"\x0a\x02\x08\x01"
    assert _dagpb.decode(raw) == node
    assert _dagpb.link_encoded_len(1, 36, 1) == len(raw) - 4


@pytest.mark.parametrize(
    "raw",
    [
        b"\x0a\x02\x08\x01\x12\x00",  # a link after Data
        b"\x0a\x00\x0a\x00",  # Data twice
        b"\x1a\x00",  # unknown field 3
        b"\x12\x02\x12\x00",  # a link without Hash
        b"\x12\x05",  # truncated
    ],
)
def test_dagpb_rejects_non_canonical(raw: bytes) -> None:
    with pytest.raises(CorruptBlock):
        _dagpb.decode(raw)


def test_unixfs_roundtrip_and_field_order() -> None:
    meta = UnixFSData(NodeType.FILE, filesize=5, blocksizes=(2, 3))
    raw = _unixfs.encode(meta)
    assert raw == b"\x08\x02\x18\x05\x20\x02\x20\x03"
    assert _unixfs.decode(raw) == meta
    assert _unixfs.encode(UnixFSData(NodeType.DIRECTORY)) == b"\x08\x01"
    packed = b"\x08\x02\x18\x05\x22\x02\x02\x03"
    assert _unixfs.decode(packed).blocksizes == (2, 3)
    with pytest.raises(CorruptBlock):
        _unixfs.decode(b"\x08\x09")
    with pytest.raises(CorruptBlock):
        _unixfs.decode(b"\x18\x05")


def test_unixfs_mtime_and_mode_roundtrip() -> None:
    meta = UnixFSData(NodeType.FILE, data=b"hi", filesize=2, mode=0o600, mtime=(-5, 7))
    assert _unixfs.decode(_unixfs.encode(meta)) == meta


def test_cbor_car_header_bytes() -> None:
    cid = cid_for_block(b"x", RAW)
    raw = _cbor.encode({"version": 1, "roots": [cid]})
    # keys in DAG-CBOR order: "roots" (5 bytes) before "version" (7 bytes)
    assert raw[:7] == b"\xa2\x65roots"
    assert _cbor.decode(raw) == {"roots": [cid], "version": 1}
    with pytest.raises(_cbor.CborError):
        _cbor.decode(b"\xfa\x00\x00\x00\x00")
    with pytest.raises(_cbor.CborError):
        _cbor.decode(b"\xa1\x01\x01")


def test_murmur3_x64_128_reference_values() -> None:
    assert murmur3_x64_128(b"") == (0, 0)
    h1, h2 = murmur3_x64_128(b"hello")
    assert f"{h1:016x}{h2:016x}" == "cbd8a7b341bd9b025b1e906a48ae1d19"
    long = murmur3_x64_128(b"The quick brown fox jumps over the lazy dog")
    assert f"{long[0]:016x}{long[1]:016x}" == "e34bbc7bbc071b6c7a433ca9c49a9347"
