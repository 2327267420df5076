"""What each task takes in and gives back, the same for every runtime.

A request is built from the input bytes (fetched by CID) and the spec's parameters and
checked against the model's input schema; a runtime answers with :class:`RunOutput`: named
output blobs (bytes with a content type, stored by CID and hashed into the result) and a
structured, JSON-able result for people (label and probability, embedding, text, image).

Input formats:

- ``classify`` (digits): ``.npy`` of shape (64,) or (N, 64); JSON of 64 numbers or a list of
  such lists; a PNG of any size (shrunk to 8×8; a light background is inverted to ink-on-black).
- ``embed``: UTF-8 text (one text), or a JSON array of strings (a batch).
- ``generate``: UTF-8 prompt text.
- ``image``: nothing, an integer label, or JSON ``{"label": 7, "seed": 1, "count": 4}``;
  spec parameters fill in what the input leaves out.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deai.errors import InputError
from deai.runtime.manifest import ModelManifest, TensorSpec
from deai.runtime.png import decode_png, encode_png, resize_area
from deai.runtime.spec import Params

MAX_BATCH = 65_536
MAX_TEXT_BYTES = 64 * 1024
MAX_TEXTS = 1024
MAX_SHOWN_ROWS = 32


# --- requests ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassifyRequest:
    pixels: np.ndarray  # float32 (N, features)


@dataclass(frozen=True)
class EmbedRequest:
    texts: tuple[str, ...]
    single: bool = False  # the input was one text, not a list


@dataclass(frozen=True)
class GenerateRequest:
    prompt: str
    max_tokens: int = 64
    temperature: float = 1.0
    top_k: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class ImageRequest:
    label: int
    seed: int = 0
    count: int = 1


Request = ClassifyRequest | EmbedRequest | GenerateRequest | ImageRequest


# --- outputs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputBlob:
    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class RunOutput:
    blobs: tuple[OutputBlob, ...]
    result: dict[str, Any]
    #: Generated tokens (generation only; for throughput figures).
    tokens: int = 0
    #: Arrays a verifier may want but that are not part of the stored result, e.g. the
    #: per-token hidden states of a generation (for a TOPLOC-style commitment).
    extras: dict[str, np.ndarray] = field(default_factory=dict)


# --- npy bytes -----------------------------------------------------------------------------


def npy_bytes(array: np.ndarray) -> bytes:
    """``.npy`` bytes; the same array always gives the same bytes."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def load_npy(data: bytes) -> np.ndarray:
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"the input is not a readable .npy array: {exc}") from None
    if not isinstance(array, np.ndarray):
        raise InputError("the input is an .npz archive; give a single .npy array")
    return array


# --- parsing inputs ------------------------------------------------------------------------


def _features(manifest: ModelManifest) -> tuple[TensorSpec, int]:
    spec = manifest.inputs[0] if manifest.inputs else TensorSpec(name="input", dtype="float32", shape=("batch", 64))
    last = spec.shape[-1] if spec.shape else 64
    return spec, int(last) if isinstance(last, int) else 64


def parse_pixels(data: bytes, manifest: ModelManifest) -> ClassifyRequest:
    """Input bytes (npy, JSON or PNG) to a float32 (N, features) batch in the model's scale."""
    spec, features = _features(manifest)
    if data.startswith(b"\x89PNG"):
        side = round(features ** 0.5)
        if side * side != features:
            raise InputError(f"this model takes {features} features, not an image")
        gray = decode_png(data)
        border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
        if border.mean() > 127.5:  # dark ink on a light page: turn it into ink intensity
            gray = 255.0 - gray
        scale = float(manifest.extra.get("pixel_max", 16.0))
        small = resize_area(gray, side, side) * (scale / 255.0)
        array = small.reshape(1, features)
    elif data.startswith(b"\x93NUMPY"):
        array = load_npy(data)
    else:
        try:
            value = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InputError(
                "the input is not a PNG, a .npy array or JSON",
                hint=f"give {features} pixel values as a JSON list, an .npy file or a PNG image",
            ) from None
        if isinstance(value, dict) and "pixels" in value:
            value = value["pixels"]
        try:
            array = np.asarray(value, dtype=np.float32)
        except (ValueError, TypeError):
            raise InputError("the JSON input must be a list of numbers or a list of such lists") from None
    if array.dtype.kind not in "fiu":
        raise InputError(f"the input array has dtype {array.dtype}; give numbers")
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2 or array.shape[1] != features:
        raise InputError(
            f"input has shape {tuple(array.shape)}; {manifest.name} takes ({features},) or (N, {features})",
            hint=f"input {spec.name!r}: {spec.dtype} {list(spec.shape)}",
        )
    if array.shape[0] == 0 or array.shape[0] > MAX_BATCH:
        raise InputError(f"a batch holds 1 to {MAX_BATCH} rows, not {array.shape[0]}")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise InputError("the input holds NaN or infinite values")
    return ClassifyRequest(pixels=array)


def _text(data: bytes) -> str:
    if len(data) > MAX_TEXT_BYTES:
        raise InputError(f"the text input is {len(data)} bytes, over the {MAX_TEXT_BYTES}-byte limit")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("the text input is not UTF-8") from None


def parse_texts(data: bytes) -> EmbedRequest:
    text = _text(data)
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list):
            if not value or not all(isinstance(v, str) for v in value):
                raise InputError("a JSON input for embeddings must be a non-empty list of strings")
            if len(value) > MAX_TEXTS:
                raise InputError(f"at most {MAX_TEXTS} texts per request, not {len(value)}")
            return EmbedRequest(texts=tuple(value))
    if not text.strip():
        raise InputError("the text to embed is empty")
    return EmbedRequest(texts=(text,), single=True)


def parse_prompt(data: bytes, params: Params) -> GenerateRequest:
    prompt = _text(data)
    if not prompt:
        raise InputError("the prompt is empty")
    return GenerateRequest(
        prompt=prompt, max_tokens=params.max_tokens, temperature=params.temperature,
        top_k=params.top_k, seed=params.seed,
    )


def parse_image_request(data: bytes | None, params: Params, classes: int) -> ImageRequest:
    label, seed, count = params.label, params.seed, params.count
    if data is not None and data.strip():
        try:
            value = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InputError('the image input must be a label like 7 or JSON {"label": 7, "seed": 1}') from None
        if isinstance(value, bool):
            raise InputError("the image label must be an integer")
        if isinstance(value, int):
            label = value
        elif isinstance(value, dict):
            unknown = set(value) - {"label", "seed", "count"}
            if unknown:
                raise InputError(f"unknown image input fields: {', '.join(sorted(unknown))}")
            label = value.get("label", label)
            seed = value.get("seed", seed)
            count = value.get("count", count)
        else:
            raise InputError('the image input must be a label like 7 or JSON {"label": 7, "seed": 1}')
    for name, v in (("label", label), ("seed", seed), ("count", count)):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
            raise InputError(f"image {name} must be an integer")
    if label is None:
        raise InputError(f"say which class to draw: a label from 0 to {classes - 1}")
    if not 0 <= label < classes:
        raise InputError(f"label {label} is out of range: this model draws 0 to {classes - 1}")
    if not 1 <= count <= 64:
        raise InputError("count must be between 1 and 64")
    if not 0 <= seed < 2**63:
        raise InputError("seed must be between 0 and 2**63 - 1")
    return ImageRequest(label=label, seed=seed, count=count)


# --- building outputs ----------------------------------------------------------------------


def classify_output(probabilities: np.ndarray, labels: tuple[str, ...], logits: np.ndarray | None = None) -> RunOutput:
    """Stored: probabilities (and logits when the model gives them) as .npy, float32 N×C.

    Shown: the top label and its probability per row.
    """
    probs = np.ascontiguousarray(probabilities, dtype=np.float32)
    shown = probs[:MAX_SHOWN_ROWS]
    best = shown.argmax(axis=1)
    top = shown[np.arange(len(best)), best]
    names = [labels[i] if i < len(labels) else str(i) for i in range(probs.shape[1])]
    predictions = [
        {"label": names[int(i)], "index": int(i), "probability": float(p)}
        for i, p in zip(best.tolist(), top.tolist(), strict=True)
    ]
    # Large batches show their first rows only: the stored .npy holds every row, and a
    # Python dict per row would cost more than the model itself.
    result: dict[str, Any] = {"rows": int(probs.shape[0]), "predictions": predictions}
    if len(predictions) == 1:
        result.update(predictions[0])
    blobs = [OutputBlob("probabilities.npy", "application/x-npy", npy_bytes(probs))]
    if logits is not None:
        blobs.append(OutputBlob("logits.npy", "application/x-npy", npy_bytes(np.asarray(logits, dtype=np.float32))))
    return RunOutput(blobs=tuple(blobs), result=result)


def embed_output(embeddings: np.ndarray, single: bool) -> RunOutput:
    emb = np.ascontiguousarray(embeddings, dtype=np.float32)
    result: dict[str, Any] = {"dim": int(emb.shape[1]), "count": int(emb.shape[0])}
    if single:
        result["embedding"] = emb[0].tolist()
    else:
        result["embeddings"] = emb.tolist()
    return RunOutput(blobs=(OutputBlob("embeddings.npy", "application/x-npy", npy_bytes(emb)),), result=result)


def image_grid(images: np.ndarray, side: int, scale: int = 8) -> np.ndarray:
    """(N, side*side) floats in [0, 1] → one uint8 row of N upscaled tiles, ink white on black."""
    count = images.shape[0]
    tiles = np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8).reshape(count, side, side)
    tiles = tiles.repeat(scale, axis=1).repeat(scale, axis=2)
    return np.concatenate(list(tiles), axis=1)


def image_output(images: np.ndarray, request: ImageRequest, side: int) -> RunOutput:
    grid = image_grid(images, side)
    png = encode_png(grid)
    result = {
        "label": request.label, "seed": request.seed, "count": request.count,
        "width": int(grid.shape[1]), "height": int(grid.shape[0]), "png_bytes": len(png),
    }
    return RunOutput(blobs=(OutputBlob("image.png", "image/png", png),), result=result)
