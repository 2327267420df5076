"""The few protobuf wire-format helpers dag-pb and UnixFS need (no generated code)."""

from __future__ import annotations

from collections.abc import Iterator

from deai.store import _varint

VARINT = 0
FIXED64 = 1
LEN = 2
FIXED32 = 5


class ProtobufError(ValueError):
    """Malformed protobuf; callers turn it into ``CorruptBlock``."""


def key(field: int, wire_type: int) -> bytes:
    return _varint.encode((field << 3) | wire_type)


def len_field(field: int, payload: bytes) -> bytes:
    return key(field, LEN) + _varint.encode(len(payload)) + payload


def varint_field(field: int, value: int) -> bytes:
    return key(field, VARINT) + _varint.encode(value)


def iter_fields(buf: bytes | memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) for each field; LEN values are memoryviews."""
    view = memoryview(buf)
    pos = 0
    end = len(view)
    try:
        while pos < end:
            tag, pos = _varint.decode(view, pos)
            field, wire_type = tag >> 3, tag & 7
            if field == 0:
                raise ProtobufError("field number 0")
            if wire_type == VARINT:
                value, pos = _varint.decode(view, pos)
                yield field, wire_type, value
            elif wire_type == LEN:
                length, pos = _varint.decode(view, pos)
                if pos + length > end:
                    raise ProtobufError("length-delimited field runs past the end")
                yield field, wire_type, view[pos : pos + length]
                pos += length
            elif wire_type == FIXED32:
                if pos + 4 > end:
                    raise ProtobufError("truncated fixed32")
                yield field, wire_type, int.from_bytes(view[pos : pos + 4], "little")
                pos += 4
            elif wire_type == FIXED64:
                if pos + 8 > end:
                    raise ProtobufError("truncated fixed64")
                yield field, wire_type, int.from_bytes(view[pos : pos + 8], "little")
                pos += 8
            else:
                raise ProtobufError(f"unsupported wire type {wire_type}")
    except _varint.VarintError as exc:
        raise ProtobufError(str(exc)) from None
