"""CAR (Content Addressable aRchive) v1 read/write and v2 read, streaming both ways.

A CARv1 is ``varint(len) | dag-cbor {"roots": [CID…], "version": 1}`` followed by
sections ``varint(len) | CID | block``. A CARv2 wraps a CARv1 behind an 11-byte pragma and
a 40-byte header that says where the inner CARv1 starts and how long it is; deai reads the
inner payload and ignores the index. The reader checks every block against its CID and
the 2 MiB limit before handing it out, so a caller never sees an unverified block.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from deai.errors import BlockTooLarge, CarError
from deai.store import _cbor, _varint
from deai.store._cid import CID, MAX_BLOCK_SIZE, decode_cid_bytes, verify_block

MAX_HEADER_SIZE = 1024 * 1024
_MAX_SECTION = MAX_BLOCK_SIZE + 128  # the block plus the largest CID we accept
_V2_PRAGMA = bytes.fromhex("0aa16776657273696f6e02")
_V2_HEADER_SIZE = 40

CAR_CONTENT_TYPE = "application/vnd.ipld.car"


def car_header(roots: Sequence[CID]) -> bytes:
    payload = _cbor.encode({"roots": list(roots), "version": 1})
    return _varint.encode(len(payload)) + payload


def car_section(cid: CID, block: bytes | memoryview) -> bytes:
    cid_bytes = cid.to_bytes()
    return _varint.encode(len(cid_bytes) + len(block)) + cid_bytes + bytes(block)


def write_car(out: BinaryIO, roots: Sequence[CID], blocks: Iterable[tuple[CID, bytes]]) -> int:
    """Write a CARv1; returns the number of blocks written."""
    out.write(car_header(roots))
    count = 0
    for cid, block in blocks:
        out.write(car_section(cid, block))
        count += 1
    return count


class IterStream(io.RawIOBase):
    """A readable stream over an iterator of byte chunks (an HTTP body, for instance)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


class _Limited:
    """At most ``limit`` bytes of ``stream`` (the inner CARv1 of a CARv2)."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self._stream = stream
        self._left = limit

    def read(self, n: int) -> bytes:
        data = self._stream.read(min(n, self._left))
        self._left -= len(data)
        return data


@dataclass(frozen=True, slots=True)
class CarHeader:
    version: int
    roots: tuple[CID, ...]


class CarReader:
    """Read a CAR from a binary stream: the header at once, then verified blocks lazily."""

    def __init__(self, stream: BinaryIO) -> None:
        if isinstance(stream, io.RawIOBase):
            # lengths are read a byte at a time: never do that on an unbuffered stream
            stream = io.BufferedReader(stream, 1 << 16)
        self._stream: BinaryIO | _Limited = stream
        payload = self._read_header_payload()
        if payload == _V2_PRAGMA[1:]:
            self._enter_v2(stream)
            payload = self._read_header_payload()
        self.header = self._parse_v1_header(payload)

    @property
    def roots(self) -> tuple[CID, ...]:
        return self.header.roots

    def _read_exact(self, n: int, what: str) -> bytes:
        chunks = []
        left = n
        while left:
            data = self._stream.read(left)
            if not data:
                raise CarError(f"the CAR ends in the middle of {what}")
            chunks.append(data)
            left -= len(data)
        return b"".join(chunks)

    def _read_varint(self, what: str) -> int | None:
        """A varint, or None at a clean end of stream."""
        value = 0
        for i in range(9):
            byte = self._stream.read(1)
            if not byte:
                if i == 0:
                    return None
                raise CarError(f"the CAR ends inside the length of {what}")
            value |= (byte[0] & 0x7F) << (7 * i)
            if byte[0] < 0x80:
                return value
        raise CarError(f"the length of {what} is not a valid varint")

    def _read_header_payload(self) -> bytes:
        length = self._read_varint("the header")
        if length is None or length == 0:
            raise CarError("the CAR is empty or has no header")
        if length > MAX_HEADER_SIZE:
            raise CarError(f"the CAR header claims {length} bytes; not a CAR")
        return self._read_exact(length, "the header")

    def _enter_v2(self, stream: BinaryIO) -> None:
        fixed = self._read_exact(_V2_HEADER_SIZE, "the CARv2 header")
        data_offset = int.from_bytes(fixed[16:24], "little")
        data_size = int.from_bytes(fixed[24:32], "little")
        consumed = len(_V2_PRAGMA) + _V2_HEADER_SIZE
        if data_offset < consumed or data_size == 0:
            raise CarError("the CARv2 header points outside the file")
        skip = data_offset - consumed
        while skip:
            data = stream.read(min(skip, 1 << 16))
            if not data:
                raise CarError("the CARv2 data offset is past the end of the file")
            skip -= len(data)
        self._stream = _Limited(stream, data_size)

    @staticmethod
    def _parse_v1_header(payload: bytes) -> CarHeader:
        try:
            header = _cbor.decode(payload)
        except (_cbor.CborError, ValueError) as exc:
            raise CarError(f"the CAR header is not valid DAG-CBOR: {exc}") from None
        if not isinstance(header, dict) or header.get("version") != 1:
            raise CarError("the CAR header has no version 1")
        roots = header.get("roots")
        if not isinstance(roots, list) or not all(isinstance(r, CID) for r in roots):
            raise CarError("the CAR header's roots are not a list of CIDs")
        return CarHeader(1, tuple(roots))

    def blocks(self) -> Iterator[tuple[CID, bytes]]:
        """Each (CID, block) in file order, verified; raises on the first bad one."""
        while True:
            length = self._read_varint("a section")
            if length is None:
                return
            if length == 0:
                raise CarError("a CAR section of length 0")
            if length > _MAX_SECTION:
                raise BlockTooLarge(f"a CAR section of {length} bytes is over the 2 MiB block limit")
            section = self._read_exact(length, "a block")
            cid, offset = decode_cid_bytes(section)
            block = section[offset:]
            verify_block(cid, block)
            yield cid, block
