"""PNG reading/writing and the per-task input parsers and output builders."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest

from deai.errors import InputError
from deai.runtime.manifest import ModelManifest, TensorSpec
from deai.runtime.png import decode_png, encode_png, resize_area
from deai.runtime.spec import Params
from deai.runtime.tasks import (
    classify_output,
    embed_output,
    image_grid,
    load_npy,
    npy_bytes,
    parse_image_request,
    parse_pixels,
    parse_prompt,
    parse_texts,
)

DIGITS = ModelManifest(
    name="digits", framework="onnx", task="classify", license="MIT", entrypoint="model.onnx",
    inputs=(TensorSpec(name="pixels", dtype="float32", shape=("batch", 64)),),
    labels=tuple(str(i) for i in range(10)), extra={"pixel_max": 16.0},
)


def _png_with_filter(gray: np.ndarray, ftype: int) -> bytes:
    """A grayscale PNG whose every scanline uses one filter type (to test the decoder)."""
    h, w = gray.shape
    rows = []
    prev = np.zeros(w, dtype=np.int32)
    for y in range(h):
        cur = gray[y].astype(np.int32)
        left = np.concatenate([[0], cur[:-1]])
        upleft = np.concatenate([[0], prev[:-1]])
        if ftype == 1:
            pred = left
        elif ftype == 2:
            pred = prev
        elif ftype == 3:
            pred = (left + prev) // 2
        else:
            p = left + prev - upleft
            pa, pb, pc = abs(p - left), abs(p - prev), abs(p - upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
        rows.append(bytes([ftype]) + ((cur - pred) & 0xFF).astype(np.uint8).tobytes())
        prev = cur

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows)))
            + chunk(b"IEND", b""))


def test_png_round_trip_gray_and_rgb_and_stable_bytes() -> None:
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8) * 3
    data = encode_png(gray)
    assert data == encode_png(gray)
    assert np.array_equal(decode_png(data), gray.astype(np.float32))
    rgb = np.stack([gray, gray, gray], axis=2)
    assert np.array_equal(decode_png(encode_png(rgb)), gray.astype(np.float32))


@pytest.mark.parametrize("ftype", [1, 2, 3, 4])
def test_png_decoder_handles_every_filter(ftype: int) -> None:
    gray = np.random.default_rng(ftype).integers(0, 256, size=(6, 9)).astype(np.uint8)
    assert np.array_equal(decode_png(_png_with_filter(gray, ftype)), gray.astype(np.float32))


def test_png_errors() -> None:
    with pytest.raises(InputError, match="not a PNG"):
        decode_png(b"GIF89a")
    good = encode_png(np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(InputError):
        decode_png(good[:30])


def test_resize_area_averages_and_grows() -> None:
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    small = resize_area(image, 2, 2)
    assert small.tolist() == [[2.5, 4.5], [10.5, 12.5]]
    big = resize_area(np.array([[1.0, 2.0]], dtype=np.float32), 2, 4)
    assert big.tolist() == [[1, 1, 2, 2], [1, 1, 2, 2]]


def test_pixels_from_json_npy_and_png() -> None:
    row = list(range(64))
    assert parse_pixels(json.dumps(row).encode(), DIGITS).pixels.shape == (1, 64)
    assert parse_pixels(json.dumps({"pixels": [row, row]}).encode(), DIGITS).pixels.shape == (2, 64)
    batch = np.ones((3, 64), dtype=np.float64)
    parsed = parse_pixels(npy_bytes(batch), DIGITS).pixels
    assert parsed.dtype == np.float32 and parsed.shape == (3, 64)
    # dark ink on a white page, 32×32: shrunk to 8×8, inverted to ink intensity 0..16
    page = np.full((32, 32), 255, dtype=np.uint8)
    page[8:24, 12:16] = 0
    pixels = parse_pixels(encode_png(page), DIGITS).pixels.reshape(8, 8)
    assert pixels[0, 0] == 0.0 and pixels[3, 3] == pytest.approx(16.0) and pixels.max() == pytest.approx(16.0)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (json.dumps(list(range(63))).encode(), "shape"),
        (json.dumps([[1, 2], [3, 4]]).encode(), "shape"),
        (b"hello", "not a PNG, a .npy array or JSON"),
        (json.dumps(["a"] * 64).encode(), "list of numbers"),
        (json.dumps([float("nan")] * 64).replace("NaN", "NaN").encode(), "NaN"),
        (npy_bytes(np.array(["x"] * 64)), "dtype"),
        (b"\x93NUMPY garbage", "not a readable .npy"),
    ],
)
def test_bad_pixels_raise_input_error(data: bytes, words: str) -> None:
    with pytest.raises(InputError, match=words):
        parse_pixels(data, DIGITS)


def test_texts_prompt_and_image_requests() -> None:
    assert parse_texts(b"one text").texts == ("one text",)
    assert parse_texts(b'["a", "b"]').texts == ("a", "b")
    assert parse_texts(b"[not json").single
    with pytest.raises(InputError):
        parse_texts(b"   ")
    with pytest.raises(InputError):
        parse_texts(b'[1, 2]')
    with pytest.raises(InputError, match="UTF-8"):
        parse_texts(b"\xff\xfe")
    prompt = parse_prompt(b"Once", Params(max_tokens=5, seed=3))
    assert (prompt.prompt, prompt.max_tokens, prompt.seed) == ("Once", 5, 3)
    assert parse_image_request(b"7", Params(), 10).label == 7
    req = parse_image_request(b'{"label": 2, "seed": 9, "count": 3}', Params(), 10)
    assert (req.label, req.seed, req.count) == (2, 9, 3)
    assert parse_image_request(None, Params(label=4), 10).label == 4
    for bad, words in [(b"12", "out of range"), (b'{"lable": 1}', "unknown"), (None, "which class"),
                       (b'"seven"', "label like 7"), (b'{"label": 1, "count": 99}', "count"), (b"true", "integer")]:
        with pytest.raises(InputError, match=words):
            parse_image_request(bad, Params(), 10)


def test_outputs_are_named_typed_and_stable() -> None:
    probs = np.array([[0.1, 0.9], [0.7, 0.3]], dtype=np.float32)
    out = classify_output(probs, ("cat", "dog"))
    assert out.blobs[0].content_type == "application/x-npy"
    assert np.array_equal(load_npy(out.blobs[0].data), probs)
    assert [p["label"] for p in out.result["predictions"]] == ["dog", "cat"]
    single = classify_output(probs[:1], ("cat", "dog")).result
    assert single["label"] == "dog" and single["probability"] == pytest.approx(0.9)
    emb = embed_output(np.ones((1, 4), dtype=np.float32), single=True)
    assert emb.result["dim"] == 4 and emb.result["embedding"] == [1.0] * 4
    grid = image_grid(np.ones((3, 4), dtype=np.float32), side=2, scale=2)
    assert grid.shape == (4, 12) and grid.dtype == np.uint8 and grid.max() == 255
