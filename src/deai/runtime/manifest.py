"""``deai-model.json``: the manifest that makes a folder of weights a deai model artifact.

A model artifact is a UnixFS directory holding the weights and this manifest; its CID is the
model's CID. The manifest names the framework that runs it (which picks the runtime), the
task, the input/output schema, the licence, the parents (model and dataset CIDs it came
from), every file with its sha256, and the runtime versions it was built with.
:func:`verify_model_dir` checks the folder against the manifest before anything loads it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from deai.errors import ModelError

MANIFEST_NAME = "deai-model.json"
MANIFEST_VERSION = 1
MAX_MANIFEST_BYTES = 1024 * 1024

Task = Literal["classify", "embed", "generate", "image"]
TASKS: tuple[str, ...] = ("classify", "embed", "generate", "image")
Dtype = Literal["float32", "float16", "int64", "int32", "uint8", "int8", "text", "png"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(_Model):
    """One input or output: a name, a dtype and a shape (a string for a free dimension)."""

    name: str
    dtype: Dtype
    shape: tuple[int | str, ...] = ()
    description: str = ""


class FileEntry(_Model):
    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        pure = PurePosixPath(value)
        if pure.is_absolute() or ".." in pure.parts or value in ("", "."):
            raise ValueError(f"file path {value!r} must be relative and inside the model folder")
        return value


class Parent(_Model):
    """Lineage: a model this one was fine-tuned from, or a dataset it was trained on."""

    role: Literal["model", "dataset"]
    cid: str
    name: str = ""


class Architecture(_Model):
    """How the PyTorch runtime rebuilds the network: a name from deai.runtime.nets and its config."""

    name: str
    config: dict[str, Any] = Field(default_factory=dict)


class ModelManifest(_Model):
    manifest_version: Literal[1] = 1
    name: str = Field(min_length=1, max_length=200)
    framework: str = Field(min_length=1, max_length=100, description="Picks the runtime: onnx, torch, …")
    task: Task
    description: str = ""
    license: str = Field(min_length=1, description="SPDX identifier or a short licence name.")
    entrypoint: str = Field(description="The main weights file, e.g. model.onnx, or '.' for a folder.")
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    labels: tuple[str, ...] = ()
    architecture: Architecture | None = None
    parents: tuple[Parent, ...] = ()
    files: tuple[FileEntry, ...] = ()
    runtime_versions: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict, description="Runtime-specific settings.")

    def to_bytes(self) -> bytes:
        # Indented for people who open the file, sorted for stable bytes (and so a stable CID).
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=2, ensure_ascii=False)
        return (text + "\n").encode("utf-8")

    def file(self, path: str) -> FileEntry | None:
        return next((f for f in self.files if f.path == path), None)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def list_files(model_dir: Path) -> tuple[FileEntry, ...]:
    """Every file under ``model_dir`` except the manifest, sorted, with sha256 and size.

    Hidden files (a name starting with ".") are left out, as the store leaves them out of
    the folder's CID.
    """
    entries = []
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(model_dir).as_posix()
        if rel == MANIFEST_NAME or any(part.startswith(".") for part in rel.split("/")):
            continue
        entries.append(FileEntry(path=rel, sha256=sha256_file(path), size=path.stat().st_size))
    return tuple(entries)


def write_manifest(model_dir: Path, manifest: ModelManifest) -> ModelManifest:
    """Fill in ``files`` from the folder's contents and write ``deai-model.json``."""
    complete = manifest.model_copy(update={"files": list_files(model_dir)})
    (model_dir / MANIFEST_NAME).write_bytes(complete.to_bytes())
    return complete


def parse_manifest(data: bytes, where: str = MANIFEST_NAME) -> ModelManifest:
    if len(data) > MAX_MANIFEST_BYTES:
        raise ModelError(f"{where} is {len(data)} bytes, over the {MAX_MANIFEST_BYTES}-byte limit")
    try:
        return ModelManifest.model_validate_json(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "manifest"
        raise ModelError(
            f"{where} is not a valid model manifest: {loc}: {err['msg']}",
            hint="fix deai-model.json (see docs/runtime.md for its fields)",
        ) from None


def read_manifest(model_dir: Path) -> ModelManifest:
    path = model_dir / MANIFEST_NAME
    if not path.is_file():
        raise ModelError(
            f"{model_dir} has no {MANIFEST_NAME}",
            hint="a model artifact is a folder with weights and a deai-model.json; "
            "`deai model add FILE` writes one for a single .onnx file",
        )
    return parse_manifest(path.read_bytes(), str(path))


def verify_model_dir(model_dir: Path, *, check_hashes: bool = True) -> ModelManifest:
    """The folder's manifest, after checking that every listed file is there and hashes right."""
    manifest = read_manifest(model_dir)
    root = model_dir.resolve()
    for entry in manifest.files:
        path = model_dir / entry.path
        if path.is_symlink() or not path.resolve().is_relative_to(root):
            raise ModelError(f"model file {entry.path!r} is a link or lies outside the model folder",
                             hint="a model folder holds plain files only")
        if not path.is_file():
            raise ModelError(f"model file {entry.path!r} named in {MANIFEST_NAME} is missing")
        size = path.stat().st_size
        if size != entry.size:
            raise ModelError(
                f"model file {entry.path!r} is {size} bytes but its manifest says {entry.size}",
                hint="the file was changed or truncated; fetch the model again by its CID",
            )
        if check_hashes and sha256_file(path) != entry.sha256:
            raise ModelError(
                f"model file {entry.path!r} does not match the sha256 in its manifest",
                hint="the file was changed or corrupted; fetch the model again by its CID",
            )
    if manifest.entrypoint != "." and manifest.file(manifest.entrypoint) is None:
        raise ModelError(f"the manifest's entrypoint {manifest.entrypoint!r} is not among its files")
    return manifest
