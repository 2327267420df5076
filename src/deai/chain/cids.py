"""CID strings ↔ the binary CIDs contracts take ↔ the 32-byte digests contracts store.

Contracts accept a CID in binary form (``Bytes[64]``: version varint, codec varint,
multihash), keep only the sha2-256 digest in storage and emit the binary CID in events.
This is the small local codec for that boundary: CIDv1 in base32 (``b…``) and CIDv0
(``Qm…``, base58btc), sha2-256 only. ``deai.store`` owns CIDs in full.
"""

from __future__ import annotations

import base64

from deai.errors import InvalidCid, UnsupportedCid
from deai.units import Cid

SHA2_256 = 0x12
DIGEST_LENGTH = 32
MAX_BINARY_CID = 64
"""The contracts' ``Bytes[64]`` bound."""
CODEC_RAW = 0x55
CODEC_DAG_PB = 0x70

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while at < len(data):
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7
        if shift > 63:
            break
    raise InvalidCid("the CID's varint is truncated or too long")


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        index = _B58_ALPHABET.find(char)
        if index < 0:
            raise InvalidCid(f"{text!r} is not base58btc")
        number = number * 58 + index
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\x00" * (len(text) - len(text.lstrip("1"))) + body


def _b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rest = divmod(number, 58)
        out = _B58_ALPHABET[rest] + out
    return "1" * (len(data) - len(data.lstrip(b"\x00"))) + out


def check_binary_cid(data: bytes) -> bytes:
    """``data`` if it is a CIDv0/CIDv1 binary CID with a sha2-256 digest, else an error."""
    if len(data) == 34 and data[0] == SHA2_256:
        at = 0
    elif data[:1] == b"\x01":
        _codec, at = _varint(data, 1)
    else:
        raise InvalidCid(f"not a binary CID: {data[:4].hex()}…")
    code, at = _varint(data, at)
    length, at = _varint(data, at)
    if code != SHA2_256 or length != DIGEST_LENGTH:
        raise UnsupportedCid(f"the CID's hash is multihash code {code:#x} of {length} bytes, not sha2-256")
    if len(data) - at != DIGEST_LENGTH:
        raise InvalidCid("the CID's digest has the wrong length")
    if len(data) > MAX_BINARY_CID:
        raise UnsupportedCid(f"the binary CID is {len(data)} bytes; contracts take at most 64")
    return data


def cid_to_bytes(cid: str) -> bytes:
    """The binary form of a CID string (``bafy…`` base32 CIDv1 or ``Qm…`` CIDv0)."""
    if cid.startswith("Qm") and len(cid) == 46:
        return check_binary_cid(_b58decode(cid))
    if not cid.startswith("b"):
        raise InvalidCid(f"{cid!r} is not a base32 CIDv1 or a CIDv0")
    body = cid[1:].upper()
    try:
        data = base64.b32decode(body + "=" * (-len(body) % 8))
    except ValueError:
        raise InvalidCid(f"{cid!r} is not valid base32") from None
    return check_binary_cid(data)


def bytes_to_cid(data: bytes) -> Cid:
    """The canonical string of a binary CID: base32 ``b…`` for CIDv1, ``Qm…`` for CIDv0."""
    check_binary_cid(data)
    if data[0] == SHA2_256:
        return Cid(_b58encode(data))
    return Cid("b" + base64.b32encode(data).decode().lower().rstrip("="))


def cid_digest(cid: str | bytes) -> bytes:
    """The 32-byte sha2-256 digest a contract stores for ``cid`` (string or binary)."""
    data = check_binary_cid(cid) if isinstance(cid, bytes) else cid_to_bytes(cid)
    return data[-DIGEST_LENGTH:]


def cid_from_digest(digest: bytes, codec: int = CODEC_RAW) -> Cid:
    """The CIDv1 of a sha2-256 ``digest`` under ``codec`` (raw by default)."""
    if len(digest) != DIGEST_LENGTH:
        raise InvalidCid(f"a sha2-256 digest is 32 bytes, not {len(digest)}")
    return bytes_to_cid(b"\x01" + _encode_varint(codec) + bytes([SHA2_256, DIGEST_LENGTH]) + digest)
