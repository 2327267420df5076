"""Unsigned LEB128 varints, as multiformats and protobuf write them.

Multiformats varints (CIDs, CAR sections) must be minimal and at most 9 bytes; protobuf
varints may be up to 10 bytes. ``decode`` enforces the stricter rule only when asked.
"""

from __future__ import annotations

_MAX_MULTIFORMAT_BYTES = 9


class VarintError(ValueError):
    """Malformed varint; callers turn it into the typed error of their format."""


def encode(value: int) -> bytes:
    if value < 0:
        raise VarintError("varints are unsigned")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encoded_len(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)


def decode(buf: bytes | memoryview, offset: int = 0, *, strict: bool = False) -> tuple[int, int]:
    """The varint at ``offset`` and the offset just past it."""
    value = 0
    shift = 0
    limit = _MAX_MULTIFORMAT_BYTES if strict else 10
    for i in range(limit):
        pos = offset + i
        if pos >= len(buf):
            raise VarintError("truncated varint")
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if strict and i > 0 and byte == 0:
                raise VarintError("varint is not minimally encoded")
            return value, pos + 1
        shift += 7
    raise VarintError("varint too long")
