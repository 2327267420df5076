"""The UnixFS ``Data`` message carried in a dag-pb node's ``Data`` field.

Fields are written in field-number order, as the reference implementations' protobuf
encoders do; ``blocksizes`` is a non-packed repeated field (packed is accepted on read).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from deai.errors import CorruptBlock
from deai.store import _protobuf as pb
from deai.store import _varint

HAMT_HASH_MURMUR3 = 0x22


class NodeType(IntEnum):
    RAW = 0
    DIRECTORY = 1
    FILE = 2
    METADATA = 3
    SYMLINK = 4
    HAMT_SHARD = 5


@dataclass(frozen=True, slots=True)
class UnixFSData:
    type: NodeType
    data: bytes | None = None
    filesize: int | None = None
    blocksizes: tuple[int, ...] = ()
    hash_type: int | None = None
    fanout: int | None = None
    mode: int | None = None
    mtime: tuple[int, int | None] | None = None

    @property
    def is_directory(self) -> bool:
        return self.type in (NodeType.DIRECTORY, NodeType.HAMT_SHARD)


def encode(node: UnixFSData) -> bytes:
    out = pb.varint_field(1, int(node.type))
    if node.data:
        out += pb.len_field(2, node.data)
    if node.filesize is not None:
        out += pb.varint_field(3, node.filesize)
    for size in node.blocksizes:
        out += pb.varint_field(4, size)
    if node.hash_type is not None:
        out += pb.varint_field(5, node.hash_type)
    if node.fanout is not None:
        out += pb.varint_field(6, node.fanout)
    if node.mode is not None:
        out += pb.varint_field(7, node.mode)
    if node.mtime is not None:
        secs, nsecs = node.mtime
        inner = pb.varint_field(1, secs & 0xFFFFFFFFFFFFFFFF)
        if nsecs is not None:
            inner += pb.key(2, pb.FIXED32) + nsecs.to_bytes(4, "little")
        out += pb.len_field(8, inner)
    return out


def decode(buf: bytes | memoryview) -> UnixFSData:
    """Decode UnixFS Data; ``CorruptBlock`` if malformed or of an unknown type."""
    type_: int | None = None
    data: bytes | None = None
    filesize: int | None = None
    blocksizes: list[int] = []
    hash_type: int | None = None
    fanout: int | None = None
    mode: int | None = None
    mtime: tuple[int, int | None] | None = None
    try:
        for field, wire_type, value in pb.iter_fields(buf):
            if wire_type == pb.VARINT:
                assert isinstance(value, int)
                if field == 1:
                    type_ = value
                elif field == 3:
                    filesize = value
                elif field == 4:
                    blocksizes.append(value)
                elif field == 5:
                    hash_type = value
                elif field == 6:
                    fanout = value
                elif field == 7:
                    mode = value
            elif wire_type == pb.LEN:
                assert isinstance(value, memoryview)
                if field == 2:
                    data = bytes(value)
                elif field == 4:
                    pos = 0
                    while pos < len(value):
                        size, pos = _varint.decode(value, pos)
                        blocksizes.append(size)
                elif field == 8:
                    mtime = _decode_mtime(value)
    except (pb.ProtobufError, _varint.VarintError) as exc:
        raise CorruptBlock(f"not valid UnixFS data: {exc}") from None
    if type_ is None:
        raise CorruptBlock("UnixFS data without a Type")
    try:
        node_type = NodeType(type_)
    except ValueError:
        raise CorruptBlock(f"unknown UnixFS type {type_}") from None
    return UnixFSData(
        node_type, data, filesize, tuple(blocksizes), hash_type, fanout, mode, mtime
    )


def _decode_mtime(buf: memoryview) -> tuple[int, int | None]:
    secs = 0
    nsecs: int | None = None
    for field, wire_type, value in pb.iter_fields(buf):
        assert isinstance(value, int | memoryview)
        if field == 1 and wire_type == pb.VARINT and isinstance(value, int):
            secs = value - (1 << 64) if value >= 1 << 63 else value
        elif field == 2 and wire_type == pb.FIXED32 and isinstance(value, int):
            nsecs = value
    return secs, nsecs
