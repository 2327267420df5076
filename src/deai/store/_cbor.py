"""The sliver of DAG-CBOR that CAR headers need: maps, arrays, strings, ints, CIDs (tag 42)."""

from __future__ import annotations

from typing import Any

from deai.store._cid import CID, cid_from_bytes

_MAX_DEPTH = 16


class CborError(ValueError):
    """Not the DAG-CBOR we expect; callers raise ``CarError``."""


def _head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes([major << 5 | value])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * size):
            return bytes([major << 5 | info]) + value.to_bytes(size, "big")
    raise CborError("integer too large")


def encode(value: Any) -> bytes:
    """Canonical DAG-CBOR for the value types CAR headers use."""
    if isinstance(value, bool) or value is None:
        return bytes([0xF5 if value is True else 0xF4 if value is False else 0xF6])
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, bytes):
        return _head(2, len(value)) + value
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _head(3, len(raw)) + raw
    if isinstance(value, CID):
        payload = b"\0" + value.to_bytes()
        return b"\xd8\x2a" + _head(2, len(payload)) + payload
    if isinstance(value, list | tuple):
        return _head(4, len(value)) + b"".join(encode(v) for v in value)
    if isinstance(value, dict):
        # DAG-CBOR map order: shorter keys first, then bytewise
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        return _head(5, len(keys)) + b"".join(encode(k) + encode(value[k]) for k in keys)
    raise CborError(f"cannot encode {type(value).__name__}")


def decode(buf: bytes) -> Any:
    value, end = _decode(memoryview(buf), 0, 0)
    if end != len(buf):
        raise CborError("trailing bytes after the CBOR value")
    return value


def _read_uint(buf: memoryview, pos: int, info: int) -> tuple[int, int]:
    if info < 24:
        return info, pos
    sizes = {24: 1, 25: 2, 26: 4, 27: 8}
    if info not in sizes:
        raise CborError("indefinite lengths are not DAG-CBOR")
    size = sizes[info]
    if pos + size > len(buf):
        raise CborError("truncated CBOR")
    return int.from_bytes(buf[pos : pos + size], "big"), pos + size


def _decode(buf: memoryview, pos: int, depth: int) -> tuple[Any, int]:
    if depth > _MAX_DEPTH:
        raise CborError("CBOR nested too deeply")
    if pos >= len(buf):
        raise CborError("truncated CBOR")
    initial = buf[pos]
    major, info = initial >> 5, initial & 0x1F
    pos += 1
    if major == 7:
        simple = {20: False, 21: True, 22: None}
        if info not in simple:
            raise CborError("floats and other simple values are not expected here")
        return simple[info], pos
    value, pos = _read_uint(buf, pos, info)
    if major == 0:
        return value, pos
    if major == 1:
        return -1 - value, pos
    if major in (2, 3):
        end = pos + value
        if end > len(buf):
            raise CborError("truncated CBOR string")
        raw = bytes(buf[pos:end])
        if major == 2:
            return raw, end
        try:
            return raw.decode("utf-8"), end
        except UnicodeDecodeError:
            raise CborError("text is not UTF-8") from None
    if major == 4:
        items = []
        for _ in range(value):
            item, pos = _decode(buf, pos, depth + 1)
            items.append(item)
        return items, pos
    if major == 5:
        out: dict[Any, Any] = {}
        for _ in range(value):
            key, pos = _decode(buf, pos, depth + 1)
            if not isinstance(key, str):
                raise CborError("map keys must be strings")
            out[key], pos = _decode(buf, pos, depth + 1)
        return out, pos
    # major 6: a tag; DAG-CBOR knows only 42, a CID
    if value != 42:
        raise CborError(f"CBOR tag {value} is not allowed")
    payload, pos = _decode(buf, pos, depth + 1)
    if not isinstance(payload, bytes) or payload[:1] != b"\0":
        raise CborError("tag 42 must wrap 0x00 + CID bytes")
    return cid_from_bytes(payload[1:]), pos
