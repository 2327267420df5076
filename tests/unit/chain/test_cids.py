"""CID strings ↔ binary CIDs ↔ digests, as the contracts take and keep them."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deai.chain.cids import (
    CODEC_DAG_PB,
    CODEC_RAW,
    bytes_to_cid,
    check_binary_cid,
    cid_digest,
    cid_from_digest,
    cid_to_bytes,
)
from deai.errors import InvalidCid, UnsupportedCid

HELLO = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"  # `ipfs add` of "hello world\n"


def test_reference_cid_digest_is_sha256_of_the_bytes() -> None:
    assert cid_digest(HELLO) == hashlib.sha256(b"hello world\n").digest()
    assert cid_to_bytes(HELLO)[:4] == bytes([0x01, CODEC_RAW, 0x12, 0x20])
    assert bytes_to_cid(cid_to_bytes(HELLO)) == HELLO
    assert cid_from_digest(hashlib.sha256(b"hello world\n").digest()) == HELLO


def test_cidv0_round_trips() -> None:
    v0 = "QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs8u"
    data = cid_to_bytes(v0)
    assert len(data) == 34 and data[:2] == b"\x12\x20"
    assert bytes_to_cid(data) == v0
    assert cid_digest(data) == data[2:]


@settings(max_examples=50)
@given(st.binary(min_size=32, max_size=32), st.sampled_from([CODEC_RAW, CODEC_DAG_PB, 0x71, 0x0129]))
def test_any_digest_and_codec_round_trip(digest: bytes, codec: int) -> None:
    cid = cid_from_digest(digest, codec)
    assert cid.startswith("b")
    assert cid_digest(cid) == digest
    assert bytes_to_cid(cid_to_bytes(cid)) == cid


@pytest.mark.parametrize("bad", ["", "zb2rh", "Qm123", "b!!!!", "bafkrei"])
def test_malformed_strings_are_refused(bad: str) -> None:
    with pytest.raises(InvalidCid):
        cid_to_bytes(bad)


def test_other_hashes_and_bad_lengths_are_refused() -> None:
    with pytest.raises(UnsupportedCid):
        check_binary_cid(b"\x01\x55\x13\x20" + b"\x00" * 32)  # sha2-512 code
    with pytest.raises(UnsupportedCid):
        check_binary_cid(b"\x01\x55\x12\x10" + b"\x00" * 16)  # a 16-byte digest
    with pytest.raises(InvalidCid):
        check_binary_cid(b"\x01\x55\x12\x20" + b"\x00" * 31)
    with pytest.raises(InvalidCid):
        check_binary_cid(b"\x02\x55\x12\x20" + b"\x00" * 32)
    with pytest.raises(InvalidCid):
        cid_from_digest(b"\x00" * 31)
