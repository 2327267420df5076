"""Minimal PNG writing and reading with zlib and struct (no imaging library needed).

Writing is deterministic (fixed zlib level, no timestamps or text chunks), so the same
pixels always give the same bytes and CID. Reading handles what people hand the digits
classifier: 8-bit grayscale, RGB and RGBA (with or without alpha), non-interlaced, all five
scanline filters.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from deai.errors import InputError

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PNG_PIXELS = 4096 * 4096


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(pixels: np.ndarray) -> bytes:
    """A grayscale (H, W) or RGB (H, W, 3) uint8 array as PNG bytes."""
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
        raise ValueError("encode_png takes a uint8 array of shape (H, W) or (H, W, 3)")
    height, width = pixels.shape[:2]
    color_type = 0 if pixels.ndim == 2 else 2
    rows = pixels.reshape(height, -1)
    raw = b"".join(b"\x00" + rows[i].tobytes() for i in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes to a float32 grayscale (H, W) array in [0, 255]; InputError if unreadable."""
    if not data.startswith(_SIGNATURE):
        raise InputError("the input is not a PNG file")
    pos, header, idat = len(_SIGNATURE), b"", bytearray()
    try:
        while pos < len(data):
            (length,) = struct.unpack(">I", data[pos:pos + 4])
            kind = data[pos + 4:pos + 8]
            body = data[pos + 8:pos + 8 + length]
            pos += 12 + length
            if kind == b"IHDR":
                header = body
            elif kind == b"IDAT":
                idat += body
            elif kind == b"IEND":
                break
        width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    except struct.error:
        raise InputError("the PNG file is truncated or malformed") from None
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(color)
    if depth != 8 or channels is None or interlace != 0:
        raise InputError(
            "unsupported PNG: use 8-bit grayscale, RGB or RGBA without interlacing",
            hint="re-save the image as an 8-bit PNG",
        )
    if width * height > MAX_PNG_PIXELS or width == 0 or height == 0:
        raise InputError(f"PNG of {width}x{height} pixels is empty or too large")
    try:
        raw = zlib.decompress(bytes(idat))
    except zlib.error:
        raise InputError("the PNG file's image data is corrupt") from None
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise InputError("the PNG file's image data has the wrong length")
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=y * (stride + 1) + 1).astype(np.int32)
        if ftype == 0:
            cur = line
        elif ftype == 2:
            cur = (line + prev) & 0xFF
        elif ftype in (1, 3, 4):
            # Sub, Average and Paeth depend on the pixel just decoded: a Python loop, fine
            # for the small images this reader is for.
            cur = np.zeros(stride, dtype=np.int32)
            for x in range(stride):
                left = int(cur[x - channels]) if x >= channels else 0
                up = int(prev[x])
                if ftype == 1:
                    pred = left
                elif ftype == 3:
                    pred = (left + up) // 2
                else:
                    upleft = int(prev[x - channels]) if x >= channels else 0
                    pred = _paeth(left, up, upleft)
                cur[x] = (int(line[x]) + pred) & 0xFF
        else:
            raise InputError(f"the PNG file uses an unknown scanline filter {ftype}")
        out[y] = cur
        prev = cur
    pixels = out.reshape(height, width, channels).astype(np.float32)
    if channels in (2, 4):  # composite over white, as an image viewer would show it
        alpha = pixels[..., -1:] / 255.0
        pixels = pixels[..., :-1] * alpha + 255.0 * (1.0 - alpha)
    gray = pixels.mean(axis=2) if pixels.shape[2] > 1 else pixels[..., 0]
    return gray.astype(np.float32)


def resize_area(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Shrink (or nearest-grow) a 2-D image to ``height``×``width`` by averaging pixel areas."""
    h, w = image.shape
    ys = (np.arange(h) * height) // h
    xs = (np.arange(w) * width) // w
    out = np.zeros((height, width), dtype=np.float64)
    count = np.zeros((height, width), dtype=np.float64)
    np.add.at(out, (ys[:, None], xs[None, :]), image)
    np.add.at(count, (ys[:, None], xs[None, :]), 1.0)
    if (count == 0).any():  # growing: fill empty cells from their nearest source pixel
        src_y = np.minimum((np.arange(height) * h) // height, h - 1)
        src_x = np.minimum((np.arange(width) * w) // width, w - 1)
        nearest = image[src_y[:, None], src_x[None, :]]
        return np.where(count > 0, out / np.maximum(count, 1), nearest).astype(np.float32)
    return (out / count).astype(np.float32)
