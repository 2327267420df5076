"""dag-pb: the codec of UnixFS nodes, encoded and decoded by hand to the IPLD spec.

Encoding is canonical (spec "Strictness"): ``Links`` first, then ``Data``; inside a link
``Hash``, ``Name``, ``Tsize``. Decoding refuses anything a canonical encoder would not
write (out-of-order or repeated fields, unknown fields), because two byte strings for one
node would mean two CIDs for one directory.
"""

from __future__ import annotations

from dataclasses import dataclass

from deai.errors import CorruptBlock, InvalidCid, UnsupportedCid
from deai.store import _protobuf as pb
from deai.store import _varint
from deai.store._cid import CID, cid_from_bytes


@dataclass(frozen=True, slots=True)
class PBLink:
    hash: CID
    name: str | None = None
    tsize: int | None = None


@dataclass(frozen=True, slots=True)
class PBNode:
    links: tuple[PBLink, ...] = ()
    data: bytes | None = None


def encode_link(link: PBLink) -> bytes:
    out = pb.len_field(1, link.hash.to_bytes())
    if link.name is not None:
        out += pb.len_field(2, link.name.encode("utf-8"))
    if link.tsize is not None:
        out += pb.varint_field(3, link.tsize)
    return out


def encode(node: PBNode) -> bytes:
    parts = [pb.len_field(2, encode_link(link)) for link in node.links]
    if node.data is not None:
        parts.append(pb.len_field(1, node.data))
    return b"".join(parts)


def link_encoded_len(name_len: int, cid_len: int, tsize: int) -> int:
    """Bytes one link adds to a PBNode (the ``block-bytes`` HAMT estimate sums these)."""
    inner = 1 + _varint.encoded_len(cid_len) + cid_len
    inner += 1 + _varint.encoded_len(name_len) + name_len
    inner += 1 + _varint.encoded_len(tsize)
    return 1 + _varint.encoded_len(inner) + inner


def _decode_link(buf: memoryview) -> PBLink:
    hash_: CID | None = None
    name: str | None = None
    tsize: int | None = None
    last = 0
    for field, wire_type, value in pb.iter_fields(buf):
        if field <= last:
            raise pb.ProtobufError("PBLink fields out of order or repeated")
        last = field
        if field == 1 and wire_type == pb.LEN:
            assert isinstance(value, memoryview)
            hash_ = cid_from_bytes(value)
        elif field == 2 and wire_type == pb.LEN:
            assert isinstance(value, memoryview)
            name = bytes(value).decode("utf-8")
        elif field == 3 and wire_type == pb.VARINT:
            assert isinstance(value, int)
            tsize = value
        else:
            raise pb.ProtobufError(f"unexpected PBLink field {field}")
    if hash_ is None:
        raise pb.ProtobufError("PBLink without Hash")
    return PBLink(hash_, name, tsize)


def decode(buf: bytes | memoryview) -> PBNode:
    """Decode a dag-pb block; ``CorruptBlock`` if it is not canonical dag-pb."""
    links: list[PBLink] = []
    data: bytes | None = None
    try:
        for field, wire_type, value in pb.iter_fields(buf):
            if data is not None:
                raise pb.ProtobufError("fields after Data")
            if field == 2 and wire_type == pb.LEN:
                assert isinstance(value, memoryview)
                links.append(_decode_link(value))
            elif field == 1 and wire_type == pb.LEN:
                assert isinstance(value, memoryview)
                data = bytes(value)
            else:
                raise pb.ProtobufError(f"unexpected PBNode field {field}")
    except (pb.ProtobufError, UnicodeDecodeError, InvalidCid, UnsupportedCid) as exc:
        raise CorruptBlock(f"not a valid dag-pb node: {exc}") from None
    return PBNode(tuple(links), data)
