"""CID parsing and formatting: CIDv1 base32, CIDv0 base58, typed errors for the rest."""

from __future__ import annotations

import hashlib

import pytest

from deai.errors import BlockTooLarge, CorruptBlock, InvalidCid, UnsupportedCid
from deai.store import CID, DAG_PB, MAX_BLOCK_SIZE, RAW, cid_for_block, parse_cid, verify_block
from deai.store._multibase import b32encode, b58encode

HELLO = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
EMPTY_DIR_V0 = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
EMPTY_DIR_V1 = "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"


def test_cid_of_hello_world_block() -> None:
    cid = cid_for_block(b"hello world\n", RAW)
    assert cid.encode() == HELLO
    assert str(cid) == HELLO
    assert cid.digest == hashlib.sha256(b"hello world\n").digest()


def test_parse_roundtrips_v1_and_v0() -> None:
    v1 = parse_cid(HELLO)
    assert (v1.version, v1.codec, v1.codec_name) == (1, RAW, "raw")
    assert parse_cid(v1.to_bytes()) == v1
    v0 = parse_cid(EMPTY_DIR_V0)
    assert (v0.version, v0.codec) == (0, DAG_PB)
    assert v0.encode() == EMPTY_DIR_V0
    assert v0.to_v1().encode() == EMPTY_DIR_V1
    assert v0.key == parse_cid(EMPTY_DIR_V1).key


def test_other_multibases_read_the_same_cid() -> None:
    cid = parse_cid(HELLO)
    assert parse_cid("B" + b32encode(cid.to_bytes()).upper()) == cid
    assert parse_cid("z" + b58encode(cid.to_bytes())) == cid
    assert parse_cid("f" + cid.to_bytes().hex()) == cid
    assert parse_cid(cid) is cid


@pytest.mark.parametrize(
    "text",
    ["", "hello", "bafy", "bafk!!!!", "Qm" + "1" * 44, "bAFKrei", "notacid", HELLO[:-3], HELLO + "aa"],
)
def test_non_cids_raise_invalid_cid(text: str) -> None:
    with pytest.raises(InvalidCid):
        parse_cid(text)


def test_unsupported_codec_and_hash() -> None:
    digest = hashlib.sha256(b"x").digest()
    dag_cbor = "b" + b32encode(bytes([1, 0x71, 0x12, 32]) + digest)
    with pytest.raises(UnsupportedCid, match="codec 0x71"):
        parse_cid(dag_cbor)
    sha512 = "b" + b32encode(bytes([1, 0x55, 0x13, 0x40]) + hashlib.sha512(b"x").digest())
    with pytest.raises(UnsupportedCid, match="hash function 0x13"):
        parse_cid(sha512)
    identity = "b" + b32encode(bytes([1, 0x55, 0x00, 1]) + b"x")
    with pytest.raises(UnsupportedCid):
        parse_cid(identity)
    with pytest.raises(UnsupportedCid):
        parse_cid("b" + b32encode(bytes([2, 0x55, 0x12, 32]) + digest))


def test_cid_constructor_validates() -> None:
    with pytest.raises(InvalidCid):
        CID(0, RAW, bytes(32))
    with pytest.raises(InvalidCid):
        CID(1, RAW, bytes(31))


def test_verify_block() -> None:
    cid = cid_for_block(b"abc", RAW)
    verify_block(cid, b"abc")
    with pytest.raises(CorruptBlock):
        verify_block(cid, b"abd")
    big = bytes(MAX_BLOCK_SIZE + 1)
    with pytest.raises(BlockTooLarge):
        verify_block(cid_for_block(big, RAW), big)
