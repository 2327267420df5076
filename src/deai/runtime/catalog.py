"""The models this node knows: adding a folder or file to the store, listing, showing.

The store holds the bytes; the catalog (``<data_dir>/runtime/models.json``) remembers which
root CIDs are models, with their name, framework and task, so ``deai model ls`` need not
walk the blockstore. A single ``.onnx`` file is wrapped in a folder with a generated
manifest; any other folder must bring its own ``deai-model.json``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from deai.errors import BlockNotFound, InvalidCid, ModelError, StoreError
from deai.runtime.manifest import (
    MANIFEST_NAME,
    ModelManifest,
    TensorSpec,
    parse_manifest,
    verify_model_dir,
    write_manifest,
)
from deai.runtime.spec import check_cid


class _Store(Protocol):
    def add_path(self, path: Path) -> Any: ...
    def read_bytes(self, cid: str) -> bytes: ...


class CatalogEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cid: str
    name: str
    framework: str
    task: str
    size: int
    parents: tuple[str, ...] = ()


class ModelCatalog:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> ModelCatalog:
        return cls(data_dir / "runtime" / "models.json")

    def entries(self) -> list[CatalogEntry]:
        if not self.path.is_file():
            return []
        raw = json.loads(self.path.read_text(encoding="utf-8"))
        return [CatalogEntry.model_validate(item) for item in raw.get("models", [])]

    def _write(self, entries: list[CatalogEntry]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        doc = {"models": [e.model_dump(mode="json") for e in sorted(entries, key=lambda e: (e.name, e.cid))]}
        tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.path)

    def record(self, cid: str, manifest: ModelManifest) -> CatalogEntry:
        entry = CatalogEntry(cid=cid, name=manifest.name, framework=manifest.framework, task=manifest.task,
                             size=sum(f.size for f in manifest.files), parents=tuple(p.cid for p in manifest.parents))
        self._write([e for e in self.entries() if e.cid != cid] + [entry])
        return entry


def manifest_for_onnx_file(path: Path, task: str = "classify", name: str | None = None) -> ModelManifest:
    """A manifest for a bare ONNX file, with its inputs and outputs read from the graph."""
    from deai.runtime.onnx_rt import describe_onnx

    info = describe_onnx(path)
    return ModelManifest.model_validate({
        "name": name or path.stem, "framework": "onnx", "task": task, "license": "unknown",
        "description": f"added from {name or path.stem}.onnx", "entrypoint": "model.onnx",
        "inputs": [TensorSpec.model_validate(t).model_dump() for t in info["inputs"]],
        "outputs": [TensorSpec.model_validate(t).model_dump() for t in info["outputs"]],
    })


def add_model(store: _Store, path: Path, catalog: ModelCatalog | None = None, *,
              task: str = "classify") -> tuple[str, ModelManifest]:
    """Check a model folder (or wrap a single .onnx file), add it to the store; its CID and manifest."""
    if not path.exists():
        raise ModelError(f"{path} does not exist", hint="give a model folder or an .onnx file")
    if path.is_file():
        if path.suffix.lower() != ".onnx":
            raise ModelError(
                f"{path.name}: a single file must be an .onnx model",
                hint="for other frameworks make a folder with the weights and a deai-model.json",
            )
        tmp = Path(tempfile.mkdtemp(prefix="deai-model-"))
        try:
            folder = tmp / path.stem
            folder.mkdir()
            shutil.copyfile(path, folder / "model.onnx")
            manifest = write_manifest(folder, manifest_for_onnx_file(folder / "model.onnx", task, path.stem))
            cid = str(store.add_path(folder))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        manifest = verify_model_dir(path)
        from deai.runtime.base import get_runtime

        get_runtime(manifest.framework).check_task(manifest)  # unknown framework: refuse now, not at run time
        cid = str(store.add_path(path))
    if catalog is not None:
        catalog.record(cid, manifest)
    return cid, manifest


def read_manifest_by_cid(store: _Store, cid: str) -> ModelManifest:
    """The manifest of a stored model, read straight from the store (no full fetch)."""
    try:
        check_cid(cid)
    except ValueError as exc:
        raise ModelError(str(exc), hint="model CIDs look like bafy…; list them with `deai model ls`") from None
    try:
        data = store.read_bytes(f"{cid}/{MANIFEST_NAME}")
    except (BlockNotFound, InvalidCid):
        raise ModelError(f"unknown model CID {cid}: the store has no model by that CID",
                         hint="add it with `deai model add DIR` or list models with `deai model ls`") from None
    except StoreError as exc:
        raise ModelError(f"CID {cid} is not a model folder: {exc.message}",
                         hint="a model is a folder with deai-model.json") from None
    return parse_manifest(data, f"{cid}/{MANIFEST_NAME}")


def add_demo_models(store: _Store, catalog: ModelCatalog | None = None, *, root: Path | None = None,
                    quiet: bool = True) -> dict[str, str]:
    """Build (if needed) and add every demo model; name → CID. Used by `deai devnet up`."""
    from deai.runtime.demo_models import build_demo_models

    dirs = build_demo_models(root, quiet=quiet)
    return {name: add_model(store, folder, catalog)[0] for name, folder in dirs.items()}


def add_demo_datasets(store: _Store, *, root: Path | None = None) -> dict[str, str]:
    """Add the demo datasets (digits train/test, shifted); name → CID."""
    from deai.runtime.demo_models import demo_dataset_dirs

    return {name: str(store.add_path(folder)) for name, folder in demo_dataset_dirs(root).items()}
