"""CIDs: parse, format and check blocks against them (CIDv0 read, CIDv1 read/write).

deai handles sha2-256 multihashes and the ``raw`` (0x55) and ``dag-pb`` (0x70) codecs, the
two that UnixFS uses. Everything else is refused with ``UnsupportedCid`` so that no code
path ever trusts bytes it cannot verify.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from deai.errors import BlockTooLarge, CorruptBlock, InvalidCid, UnsupportedCid
from deai.store import _varint
from deai.store._multibase import MultibaseError, b32encode, b58decode, b58encode, decode_multibase
from deai.units import Cid

RAW = 0x55
DAG_PB = 0x70
SHA2_256 = 0x12
SHA2_256_LEN = 32
CODEC_NAMES = {RAW: "raw", DAG_PB: "dag-pb"}

MAX_BLOCK_SIZE = 2 * 1024 * 1024
"""Blocks above 2 MiB are refused: the limit bitswap and the gateways enforce."""

_V0_PREFIX = bytes([SHA2_256, SHA2_256_LEN])


@dataclass(frozen=True, slots=True)
class CID:
    """A content identifier: version, codec and the sha2-256 digest of the block."""

    version: int
    codec: int
    digest: bytes

    def __post_init__(self) -> None:
        if self.version not in (0, 1):
            raise UnsupportedCid(f"CID version {self.version} is not supported")
        if self.version == 0 and self.codec != DAG_PB:
            raise InvalidCid("a CIDv0 always has the dag-pb codec")
        if self.codec not in CODEC_NAMES:
            raise UnsupportedCid(f"codec 0x{self.codec:x} is not supported")
        if len(self.digest) != SHA2_256_LEN:
            raise InvalidCid(f"a sha2-256 digest has 32 bytes, not {len(self.digest)}")

    @property
    def multihash(self) -> bytes:
        return _V0_PREFIX + self.digest

    @property
    def codec_name(self) -> str:
        return CODEC_NAMES[self.codec]

    def to_bytes(self) -> bytes:
        if self.version == 0:
            return self.multihash
        return bytes([1]) + _varint.encode(self.codec) + self.multihash

    def to_v1(self) -> CID:
        return self if self.version == 1 else CID(1, self.codec, self.digest)

    def encode(self) -> Cid:
        """The canonical string: base32 ``b…`` for CIDv1, base58btc ``Qm…`` for CIDv0."""
        if self.version == 0:
            return Cid(b58encode(self.multihash))
        return Cid("b" + b32encode(self.to_bytes()))

    def __str__(self) -> str:
        return self.encode()

    def __repr__(self) -> str:
        return f"CID({self.encode()!r})"

    @property
    def key(self) -> str:
        """The blockstore key: the CIDv1 string, so v0 and v1 of one block share it."""
        return self.to_v1().encode()


def _parse_multihash(buf: bytes | memoryview, offset: int) -> tuple[bytes, int]:
    try:
        code, offset = _varint.decode(buf, offset, strict=True)
        length, offset = _varint.decode(buf, offset, strict=True)
    except _varint.VarintError as exc:
        raise InvalidCid(f"bad multihash: {exc}") from None
    if code != SHA2_256:
        raise UnsupportedCid(f"hash function 0x{code:x} is not supported (only sha2-256)")
    if length != SHA2_256_LEN:
        raise InvalidCid(f"sha2-256 multihash of length {length}")
    end = offset + length
    if end > len(buf):
        raise InvalidCid("truncated multihash")
    return bytes(buf[offset:end]), end


def decode_cid_bytes(buf: bytes | memoryview, offset: int = 0) -> tuple[CID, int]:
    """A binary CID starting at ``offset`` (as in dag-pb links and CAR sections), and its end."""
    if len(buf) - offset >= 2 and buf[offset] == SHA2_256 and buf[offset + 1] == SHA2_256_LEN:
        digest, end = _parse_multihash(buf, offset)
        return CID(0, DAG_PB, digest), end
    try:
        version, pos = _varint.decode(buf, offset, strict=True)
        codec, pos = _varint.decode(buf, pos, strict=True)
    except _varint.VarintError as exc:
        raise InvalidCid(f"bad binary CID: {exc}") from None
    if version != 1:
        raise UnsupportedCid(f"CID version {version} is not supported")
    if codec not in CODEC_NAMES:
        raise UnsupportedCid(f"codec 0x{codec:x} is not supported (deai reads raw and dag-pb)")
    digest, end = _parse_multihash(buf, pos)
    return CID(1, codec, digest), end


def cid_from_bytes(buf: bytes | memoryview) -> CID:
    cid, end = decode_cid_bytes(buf)
    if end != len(buf):
        raise InvalidCid("trailing bytes after the CID")
    return cid


def parse_cid(value: str | bytes | CID) -> CID:
    """Parse a CID from its string (``bafy…``, ``bafk…``, ``Qm…``) or binary form.

    Raises ``InvalidCid`` for text that is no CID and ``UnsupportedCid`` for a valid CID
    whose codec or hash function deai does not handle.
    """
    if isinstance(value, CID):
        return value
    if isinstance(value, bytes):
        return cid_from_bytes(value)
    if not isinstance(value, str):
        raise InvalidCid(f"expected a CID string, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise InvalidCid("empty CID")
    try:
        if len(text) == 46 and text.startswith("Qm"):
            raw = b58decode(text)
            if len(raw) != 34 or raw[:2] != _V0_PREFIX:
                raise InvalidCid(f"{text!r} is not a CIDv0 (not a base58 sha2-256 multihash)")
            return cid_from_bytes(raw)
        raw = decode_multibase(text)
    except MultibaseError as exc:
        raise InvalidCid(f"{_shorten(text)!r} is not a CID: {exc}") from None
    if raw[:1] == b"\x12":
        raise InvalidCid(f"{_shorten(text)!r}: a CIDv0 must be written in base58btc (Qm…)")
    return cid_from_bytes(raw)


def _shorten(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."


def cid_for_block(data: bytes | bytearray | memoryview, codec: int, version: int = 1) -> CID:
    """The CID of a block's bytes with the given codec."""
    if version == 0 and codec != DAG_PB:
        version = 1
    return CID(version, codec, hashlib.sha256(data).digest())


def verify_block(cid: CID, data: bytes | bytearray | memoryview) -> None:
    """Raise ``CorruptBlock`` unless ``data`` hashes to ``cid`` (and ``BlockTooLarge`` over 2 MiB)."""
    if len(data) > MAX_BLOCK_SIZE:
        raise BlockTooLarge(f"block {cid} has {len(data)} bytes, over the {MAX_BLOCK_SIZE}-byte limit")
    if hashlib.sha256(data).digest() != cid.digest:
        raise CorruptBlock(f"block bytes do not hash to {cid}")
