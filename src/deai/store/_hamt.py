"""HAMT-sharded UnixFS directories: build them and look names up in them.

A name sits at the shallowest level where its murmur3 hash prefix is unique among the
directory's names, so the structure (and the CID) depends only on the set of entries, not
on the order they were added. Bits are taken from the top of the 64-bit hash,
``log2(fanout)`` per level; link names are the upper-case hex bucket index, followed by
the entry name for entries (``"0Afile.txt"``) and alone for sub-shards (``"0A"``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from deai.errors import CorruptBlock, StoreError
from deai.store import _dagpb, _unixfs
from deai.store._cid import CID, DAG_PB, cid_for_block
from deai.store._murmur3 import murmur3_x64_64

HASH_BITS = 64


@dataclass(frozen=True, slots=True)
class Entry:
    """A directory entry as its parent links to it."""

    name: str
    cid: CID
    tsize: int


PutBlock = Callable[[CID, bytes], None]


def _bucket(hash_: int, depth: int, bits: int) -> int:
    shift = HASH_BITS - bits * (depth + 1)
    if shift < 0:
        # 64 bits give 8 levels at fanout 256: two names would need equal 64-bit hashes.
        raise StoreError("HAMT hash exhausted: two names share all 64 hash bits")
    return (hash_ >> shift) & ((1 << bits) - 1)


def build_hamt(
    entries: list[Entry], *, fanout: int, cid_version: int, put: PutBlock
) -> tuple[CID, int]:
    """Write the shards of a HAMT directory; returns the root CID and its cumulative size."""
    bits = fanout.bit_length() - 1
    hashed = [(murmur3_x64_64(e.name.encode("utf-8")), e) for e in entries]
    return _build_shard(hashed, 0, bits, fanout, cid_version, put)


def _build_shard(
    hashed: list[tuple[int, Entry]],
    depth: int,
    bits: int,
    fanout: int,
    cid_version: int,
    put: PutBlock,
) -> tuple[CID, int]:
    buckets: dict[int, list[tuple[int, Entry]]] = {}
    for item in hashed:
        buckets.setdefault(_bucket(item[0], depth, bits), []).append(item)
    width = len(f"{fanout - 1:X}")
    links: list[_dagpb.PBLink] = []
    bitfield = 0
    for index in sorted(buckets):
        items = buckets[index]
        bitfield |= 1 << index
        prefix = f"{index:0{width}X}"
        if len(items) == 1:
            entry = items[0][1]
            links.append(_dagpb.PBLink(entry.cid, prefix + entry.name, entry.tsize))
        else:
            sub_cid, sub_size = _build_shard(items, depth + 1, bits, fanout, cid_version, put)
            links.append(_dagpb.PBLink(sub_cid, prefix, sub_size))
    data = _unixfs.UnixFSData(
        _unixfs.NodeType.HAMT_SHARD,
        data=bitfield.to_bytes((bitfield.bit_length() + 7) // 8, "big"),
        hash_type=_unixfs.HAMT_HASH_MURMUR3,
        fanout=fanout,
    )
    block = _dagpb.encode(_dagpb.PBNode(tuple(links), _unixfs.encode(data)))
    cid = cid_for_block(block, DAG_PB, cid_version)
    put(cid, block)
    return cid, len(block) + sum(link.tsize or 0 for link in links)


def check_shard(meta: _unixfs.UnixFSData) -> tuple[int, int]:
    """(bits per level, hex width) of a shard node, refusing parameters that could DoS us."""
    fanout = meta.fanout or 0
    if meta.hash_type != _unixfs.HAMT_HASH_MURMUR3:
        raise CorruptBlock(f"HAMT hash type {meta.hash_type} is not murmur3-x64-64")
    if fanout < 8 or fanout > 1024 or fanout & (fanout - 1):
        raise CorruptBlock(f"HAMT fanout {fanout} is invalid")
    return fanout.bit_length() - 1, len(f"{fanout - 1:X}")


def bucket_for(name: str, depth: int, bits: int) -> int:
    return _bucket(murmur3_x64_64(name.encode("utf-8")), depth, bits)
