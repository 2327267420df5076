"""Datasets for training and evaluation: a UnixFS directory ``x.npy`` + ``y.npy`` + manifest.

``deai-dataset.json`` names the dataset, its licence, shapes and the sha256 of both arrays;
``.npy`` bytes are stable (no timestamps, unlike ``.npz`` archives), so the same arrays
always give the same dataset CID. Arrays load with ``allow_pickle=False``.

Also here: scikit-learn's bundled digits split into train and held-out parts with a fixed
seed, and the shifted variant (every image moved by one pixel) used to show that a
fine-tuned model beats its parent on data it was adapted to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deai.errors import InputError
from deai.runtime.manifest import FileEntry, sha256_file
from deai.runtime.tasks import load_npy, npy_bytes

DATASET_MANIFEST = "deai-dataset.json"
MAX_DATASET_ROWS = 10_000_000
DIGITS_SPLIT_SEED = 20_240_601
DIGITS_TEST_FRACTION = 0.25


class DatasetManifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset_version: int = 1
    name: str
    license: str
    description: str = ""
    rows: int = Field(ge=1)
    features: int = Field(ge=1)
    classes: int = Field(ge=1)
    files: tuple[FileEntry, ...] = ()


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray  # float32 (N, features)
    y: np.ndarray  # int64 (N,)
    manifest: DatasetManifest


def write_dataset(folder: Path, x: np.ndarray, y: np.ndarray, *, name: str, license: str,
                  description: str = "", classes: int | None = None) -> DatasetManifest:
    folder.mkdir(parents=True, exist_ok=True)
    xs = np.ascontiguousarray(x, dtype=np.float32)
    ys = np.ascontiguousarray(y, dtype=np.int64)
    (folder / "x.npy").write_bytes(npy_bytes(xs))
    (folder / "y.npy").write_bytes(npy_bytes(ys))
    files = tuple(
        FileEntry(path=n, sha256=sha256_file(folder / n), size=(folder / n).stat().st_size)
        for n in ("x.npy", "y.npy")
    )
    manifest = DatasetManifest(
        name=name, license=license, description=description, rows=int(xs.shape[0]),
        features=int(xs.shape[1]), classes=int(classes if classes is not None else ys.max() + 1), files=files,
    )
    text = json.dumps(manifest.model_dump(mode="json"), sort_keys=True, indent=2) + "\n"
    (folder / DATASET_MANIFEST).write_text(text, encoding="utf-8")
    return manifest


def read_dataset(folder: Path) -> Dataset:
    """Load and check a dataset folder; InputError for anything that does not fit."""
    path = folder / DATASET_MANIFEST
    if not path.is_file():
        raise InputError(
            f"the dataset has no {DATASET_MANIFEST}",
            hint="a dataset is a folder with x.npy, y.npy and deai-dataset.json (deai.runtime.datasets.write_dataset)",
        )
    try:
        manifest = DatasetManifest.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise InputError(f"{DATASET_MANIFEST} is invalid: {exc.errors()[0]['msg']}") from None
    for entry in manifest.files:
        file = folder / entry.path
        if not file.is_file() or sha256_file(file) != entry.sha256:
            raise InputError(f"dataset file {entry.path!r} is missing or does not match its sha256")
    x = load_npy((folder / "x.npy").read_bytes())
    y = load_npy((folder / "y.npy").read_bytes())
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise InputError(f"dataset arrays have shapes {x.shape} and {y.shape}; want (N, F) and (N,)")
    if not 1 <= x.shape[0] <= MAX_DATASET_ROWS:
        raise InputError(f"a dataset holds 1 to {MAX_DATASET_ROWS} rows")
    if x.dtype.kind not in "fiu" or y.dtype.kind not in "iu":
        raise InputError("dataset x must be numeric and y integer class indices")
    if (y < 0).any() or (y >= manifest.classes).any():
        raise InputError(f"dataset labels must lie in 0..{manifest.classes - 1}")
    return Dataset(np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(y, dtype=np.int64), manifest)


# --- the digits data that ships with scikit-learn --------------------------------------------


def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): pixels 0..16 as float32, a fixed 75/25 split."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = data.data.astype(np.float32)
    y = data.target.astype(np.int64)
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(y))
    n_test = int(len(y) * DIGITS_TEST_FRACTION)
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def shift_images(x: np.ndarray, dy: int = 1, dx: int = 1, side: int = 8) -> np.ndarray:
    """Move every side×side image by (dy, dx) pixels, filling the uncovered edge with zeros."""
    images = x.reshape(-1, side, side)
    out = np.zeros_like(images)
    ys = slice(max(dy, 0), side + min(dy, 0))
    xs = slice(max(dx, 0), side + min(dx, 0))
    ys_src = slice(max(-dy, 0), side + min(-dy, 0))
    xs_src = slice(max(-dx, 0), side + min(-dx, 0))
    out[:, ys, xs] = images[:, ys_src, xs_src]
    return out.reshape(x.shape)
