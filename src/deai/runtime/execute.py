"""``execute(spec, store)``: the one path a provider and a validator both run.

fetch the model and inputs by CID → check the model folder against its manifest → load it
with the runtime its framework names (kept loaded for the next call) → run → put every
output into the store → return output CIDs, a result hash and timings.

The result hash is what goes on chain: sha256 over the canonical JSON of the output list
``[[name, content_type, cid], …]`` (CIDs already hash the bytes), so two runs agree on it
exactly when their output bytes are identical. A node keeps one :class:`Executor` (it
caches model folders on disk and loaded models in memory); :func:`execute` is the
one-shot form.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from deai.config import Config
from deai.errors import BlockNotFound, InputError, ModelError, SpecError, StoreError
from deai.runtime.base import LoadedModel, get_runtime
from deai.runtime.canonical import RunSettings, torch_settings
from deai.runtime.datasets import Dataset, read_dataset
from deai.runtime.manifest import ModelManifest, verify_model_dir
from deai.runtime.spec import INFERENCE_KINDS, TRAINING_KINDS, WorkloadSpec, canonical_json
from deai.runtime.tasks import (
    OutputBlob,
    Request,
    RunOutput,
    parse_image_request,
    parse_pixels,
    parse_prompt,
    parse_texts,
)
from deai.runtime.textgen import TextGenerator, TokenScores

MODEL_DIR_CONTENT_TYPE = "application/vnd.deai.model+dir"
#: One inference input is read into memory whole; larger data belongs in a dataset folder.
MAX_INPUT_BYTES = 256 * 2**20
_KIND_TASK = {"classify": "classify", "embed": "embed", "generate": "generate", "image": "image",
              "finetune": "classify", "train": "classify", "evaluate": "classify"}


class ContentStore(Protocol):
    """The part of :class:`deai.store.LocalStore` the runtime uses."""

    def add_path(self, path: Path) -> Any: ...
    def add_bytes(self, data: bytes) -> Any: ...
    def read_bytes(self, cid: str) -> bytes: ...
    def cat(self, cid: str) -> Iterator[bytes]: ...
    def get(self, cid: str, out: Path) -> Any: ...
    def has(self, cid: str) -> bool: ...


class OutputRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    content_type: str
    cid: str
    size: int


class Timing(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    fetch_s: float = 0.0
    load_s: float = 0.0
    run_s: float = 0.0
    store_s: float = 0.0
    total_s: float = 0.0


class WorkloadResult(BaseModel):
    """What one execution produced; ``result_hash`` is the value committed on chain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spec_cid: str
    kind: str
    model: str
    outputs: tuple[OutputRef, ...]
    result_hash: str
    result: dict[str, Any] = Field(default_factory=dict)
    runtime: dict[str, Any] = Field(default_factory=dict)
    timing: Timing = Field(default_factory=Timing)
    tokens: int = 0
    # Arrays a provider may commit to but that are not stored or hashed (e.g. the per-token
    # hidden states of a generation, for a TOPLOC-style commitment); not serialised.
    _extras: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def extras(self) -> dict[str, Any]:
        """``hidden`` (T, d) and ``logprobs`` (T,) for generations; empty otherwise."""
        return self._extras

    def output(self, name: str) -> OutputRef:
        for ref in self.outputs:
            if ref.name == name:
                return ref
        raise KeyError(name)


def result_hash(outputs: tuple[OutputRef, ...] | list[OutputRef]) -> str:
    """0x-prefixed sha256 of the canonical output list: equal exactly when the outputs are."""
    doc = [[o.name, o.content_type, o.cid] for o in outputs]
    return "0x" + hashlib.sha256(canonical_json(doc)).hexdigest()


class Executor:
    """Runs workload specs against one store, caching model folders and loaded models."""

    def __init__(self, store: ContentStore, *, cache_dir: Path, settings: RunSettings | None = None,
                 max_loaded: int = 4, on_train_step: Callable[[int, int, float], None] | None = None) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self.settings = settings or RunSettings()
        self.max_loaded = max_loaded
        #: Called with (step, total steps, loss) during training workloads (progress bars).
        self.on_train_step = on_train_step
        self._loaded: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.RLock()
        self._spec_cids: dict[bytes, str] = {}
        self._versions: dict[str, dict[str, str]] = {}

    @classmethod
    def from_config(cls, config: Config, store: ContentStore, *, settings: RunSettings | None = None) -> Executor:
        """An executor whose model cache lives under the node's data directory."""
        return cls(store, cache_dir=config.data_dir / "runtime", settings=settings)

    # --- models ----------------------------------------------------------------------------

    def model_dir(self, cid: str) -> Path:
        """The model folder for a CID, fetched from the store into the cache once."""
        folder = self.cache_dir / "models" / str(cid)
        if folder.is_dir():
            return folder
        tmp = self.cache_dir / "models" / f".{cid}.{threading.get_ident()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.store.get(cid, tmp)
        except BlockNotFound:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ModelError(
                f"unknown model CID {cid}: the store does not have it",
                hint="add the model with `deai model add DIR` (or fetch it from a gateway) first",
            ) from None
        except StoreError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if not tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
            raise ModelError(f"CID {cid} is a file, not a model folder",
                             hint="a model is a folder with deai-model.json; add it with `deai model add`")
        try:
            tmp.rename(folder)
        except OSError:  # another thread or process fetched the same CID first
            shutil.rmtree(tmp, ignore_errors=True)
        return folder

    def manifest(self, cid: str) -> ModelManifest:
        loaded = self._loaded.get(cid)
        return loaded.manifest if loaded is not None else verify_model_dir(self.model_dir(cid))

    def load(self, cid: str) -> LoadedModel:
        with self._lock:
            loaded = self._loaded.get(cid)
            if loaded is not None:
                self._loaded.move_to_end(cid)
                return loaded
            folder = self.model_dir(cid)
            manifest = verify_model_dir(folder)
            runtime = get_runtime(manifest.framework)
            loaded = runtime.load(folder, manifest, self.settings)
            self._loaded[cid] = loaded
            while len(self._loaded) > self.max_loaded:
                self._loaded.popitem(last=False)
            return loaded

    # --- inputs ----------------------------------------------------------------------------

    def read_input(self, cid: str) -> bytes:
        """An input file's bytes (hash-checked by the store), refusing more than MAX_INPUT_BYTES."""
        try:
            chunks, size = [], 0
            for chunk in self.store.cat(cid):
                size += len(chunk)
                if size > MAX_INPUT_BYTES:
                    raise InputError(f"input {cid} is over the {MAX_INPUT_BYTES // 2**20} MiB limit of one input",
                                     hint="split the batch into several workloads")
                chunks.append(chunk)
            return b"".join(chunks)
        except BlockNotFound:
            raise InputError(f"unknown input CID {cid}: the store does not have it",
                             hint="put the input into the store first (`deai store add FILE`)") from None

    def dataset(self, cid: str) -> Dataset:
        folder = self.cache_dir / "datasets" / str(cid)
        if not folder.is_dir():
            tmp = folder.with_name(f".{cid}.{threading.get_ident()}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.parent.mkdir(parents=True, exist_ok=True)
            try:
                self.store.get(cid, tmp)
            except BlockNotFound:
                shutil.rmtree(tmp, ignore_errors=True)
                raise InputError(f"unknown dataset CID {cid}: the store does not have it") from None
            if not tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
                raise InputError(f"CID {cid} is a file; a dataset is a folder with x.npy, y.npy, deai-dataset.json")
            try:
                tmp.rename(folder)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
        return read_dataset(folder)

    def request(self, spec: WorkloadSpec, manifest: ModelManifest) -> Request:
        data = self.read_input(spec.inputs[0]) if spec.inputs else None
        if spec.kind == "classify":
            assert data is not None
            return parse_pixels(data, manifest)
        if spec.kind == "embed":
            assert data is not None
            return parse_texts(data)
        if spec.kind == "generate":
            assert data is not None
            return parse_prompt(data, spec.params)
        return parse_image_request(data, spec.params, classes=max(len(manifest.labels), 10))

    # --- running ---------------------------------------------------------------------------

    def spec_cid(self, spec: WorkloadSpec) -> str:
        """Store the spec's canonical bytes (once per spec: the store pins them) and name them."""
        data = spec.canonical_bytes()
        cid = self._spec_cids.get(data)
        if cid is None:
            cid = str(self.store.add_bytes(data))
            if len(self._spec_cids) >= 1024:
                self._spec_cids.clear()
            self._spec_cids[data] = cid
        return cid

    def execute(self, spec: WorkloadSpec) -> WorkloadResult:
        started = time.perf_counter()
        spec_cid = self.spec_cid(spec)
        cached = spec.model in self._loaded
        t0 = time.perf_counter()
        loaded = self.load(spec.model)
        load_s = 0.0 if cached else time.perf_counter() - t0
        manifest = loaded.manifest
        task = _KIND_TASK[spec.kind]
        if manifest.task != task:
            hint = (f"use kind {manifest.task!r} for this model" if spec.kind in INFERENCE_KINDS else
                    "fine-tuning, training and evaluation take classify models, e.g. the digits classifier")
            raise SpecError(
                f"a {spec.kind!r} workload needs a {task!r} model; {manifest.name!r} is a {manifest.task!r} model",
                hint=hint,
            )
        if spec.kind not in INFERENCE_KINDS:
            return self._execute_training(spec, spec_cid, loaded, started, load_s)
        t1 = time.perf_counter()
        request = self.request(spec, manifest)
        t2 = time.perf_counter()
        output = loaded.run(request)
        t3 = time.perf_counter()
        return self._finish(spec, spec_cid, loaded, output, started,
                            fetch_s=t2 - t1, load_s=load_s, run_s=t3 - t2)

    def _finish(self, spec: WorkloadSpec, spec_cid: str, loaded: LoadedModel, output: RunOutput,
                started: float, *, fetch_s: float, load_s: float, run_s: float,
                refs: tuple[OutputRef, ...] = ()) -> WorkloadResult:
        t0 = time.perf_counter()
        stored = refs + tuple(self._put(blob) for blob in output.blobs)
        done = time.perf_counter()
        framework = loaded.manifest.framework
        if framework not in self._versions:
            self._versions[framework] = get_runtime(framework).versions()
        runtime = {"framework": framework, **self.settings.describe(), "versions": self._versions[framework]}
        result = WorkloadResult(
            spec_cid=spec_cid, kind=spec.kind, model=spec.model, outputs=stored,
            result_hash=result_hash(stored), result=output.result, runtime=runtime,
            timing=Timing(fetch_s=fetch_s, load_s=load_s, run_s=run_s, store_s=done - t0,
                          total_s=done - started),
            tokens=output.tokens,
        )
        result._extras = dict(output.extras)
        return result

    def _put(self, blob: OutputBlob) -> OutputRef:
        return OutputRef(name=blob.name, content_type=blob.content_type,
                         cid=str(self.store.add_bytes(blob.data)), size=len(blob.data))

    # --- training and evaluation -----------------------------------------------------------

    def _execute_training(self, spec: WorkloadSpec, spec_cid: str, loaded: LoadedModel,
                          started: float, load_s: float) -> WorkloadResult:
        from deai.runtime import train

        t0 = time.perf_counter()
        dataset = self.dataset(spec.inputs[0])
        t1 = time.perf_counter()
        if spec.kind == "evaluate":
            metrics = evaluate_loaded(loaded, dataset)
            blob = OutputBlob("metrics.json", "application/json", canonical_json(metrics))
            output = RunOutput(blobs=(blob,), result=metrics)
            return self._finish(spec, spec_cid, loaded, output, started,
                                fetch_s=t1 - t0, load_s=load_s, run_s=time.perf_counter() - t1)
        folder = self.model_dir(spec.model)
        trainer, record = train.train_with_checkpoints(
            kind=spec.kind, spec_cid=spec_cid, model_cid=spec.model, dataset_cid=spec.inputs[0],
            model_dir=folder, manifest=loaded.manifest, dataset=dataset, params=spec.params,
            settings=self.settings, store=self.store, on_step=self.on_train_step,
        )
        out_dir = Path(tempfile.mkdtemp(prefix="deai-trained-", dir=self.cache_dir))
        try:
            versions = get_runtime(loaded.manifest.framework).versions() | get_runtime("torch").versions()
            child = train.write_trained_model(
                out_dir / "model", trainer, loaded.manifest, parent_cid=spec.model,
                dataset_cid=spec.inputs[0], dataset_name=dataset.manifest.name, record=record, versions=versions,
            )
            model_cid = str(self.store.add_path(out_dir / "model"))
            size = sum(f.size for f in child.files)
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)
        run_s = time.perf_counter() - t1
        model_ref = OutputRef(name="model", content_type=MODEL_DIR_CONTENT_TYPE, cid=model_cid, size=size)
        record_doc = record.model_dump(mode="json")
        result = {"model": model_cid, "name": child.name, "steps": record.total_steps,
                  "final_loss": record.final_loss, "train_accuracy": record.train_accuracy,
                  "checkpoints": len(record.checkpoints), "chain_head": record.chain_head,
                  "parents": [p.model_dump() for p in child.parents]}
        blob = OutputBlob("training.json", "application/json", canonical_json(record_doc))
        return self._finish(spec, spec_cid, loaded, RunOutput(blobs=(blob,), result=result), started,
                            fetch_s=t1 - t0, load_s=load_s, run_s=run_s, refs=(model_ref,))

    def training_record(self, result: WorkloadResult) -> Any:
        from deai.runtime.train import TrainingRecord

        return TrainingRecord.model_validate_json(self.store.read_bytes(result.output("training.json").cid))

    def rerun_segment(self, spec: WorkloadSpec, start_cid: str, end_step: int) -> str:
        """Re-run training from checkpoint ``start_cid`` to ``end_step``; the CID of the state there."""
        from deai.runtime import train

        if spec.kind not in TRAINING_KINDS:
            raise SpecError(f"a {spec.kind!r} workload has no checkpoints to re-run")
        folder = self.model_dir(spec.model)
        manifest = verify_model_dir(folder)
        data = train.rerun_segment(
            kind=spec.kind, model_dir=folder, manifest=manifest, dataset=self.dataset(spec.inputs[0]),
            params=spec.params, settings=self.settings, start_checkpoint=self.read_input(start_cid),
            end_step=end_step,
        )
        return str(self.store.add_bytes(data))

    def verify_segment(self, spec: WorkloadSpec, record: Any, index: int) -> bool:
        """Re-run checkpoint ``index`` → ``index + 1`` of a record; True when the CIDs match."""
        start, end = record.checkpoints[index], record.checkpoints[index + 1]
        return bool(self.rerun_segment(spec, start.cid, end.step) == end.cid)

    # --- rescoring -------------------------------------------------------------------------

    def score_generation(self, spec: WorkloadSpec, tokens: list[int], *, k: int = 5) -> TokenScores:
        """Teacher-forced scores of claimed tokens for a `generate` spec (one forward pass)."""
        if spec.kind != "generate":
            raise SpecError("only 'generate' workloads can be rescored")
        loaded = self.load(spec.model)
        text = text_generator_of(loaded)
        if text is None:
            raise ModelError(f"model {loaded.manifest.name!r} is not a text generator deai can rescore")
        request = parse_prompt(self.read_input(spec.inputs[0]), spec.params)
        with torch_settings(self.settings):
            return text.score(request.prompt, tokens, temperature=request.temperature,
                              top_k=request.top_k, seed=request.seed, k=k)


def text_generator_of(loaded: LoadedModel) -> TextGenerator | None:
    """The TextGenerator inside a loaded generation model (demo transformer or HF), if any."""
    text = getattr(loaded, "text", None)
    return text if isinstance(text, TextGenerator) else None


def evaluate_loaded(loaded: LoadedModel, dataset: Dataset) -> dict[str, Any]:
    """Accuracy of a classification model on a dataset, through its runtime (ONNX, int8, torch)."""
    from deai.runtime.tasks import ClassifyRequest, load_npy

    output = loaded.run(ClassifyRequest(pixels=dataset.x))
    probs = load_npy(output.blobs[0].data)
    correct = int((probs.argmax(axis=1) == dataset.y).sum())
    return {"accuracy": correct / len(dataset.y), "correct": correct, "rows": len(dataset.y),
            "dataset": dataset.manifest.name}


def execute(spec: WorkloadSpec, store: ContentStore, *, cache_dir: Path | None = None,
            settings: RunSettings | None = None) -> WorkloadResult:
    """Run one spec: the one-shot form of :meth:`Executor.execute` (nodes keep an Executor)."""
    if cache_dir is not None:
        return Executor(store, cache_dir=cache_dir, settings=settings).execute(spec)
    with tempfile.TemporaryDirectory(prefix="deai-run-") as tmp:
        return Executor(store, cache_dir=Path(tmp), settings=settings).execute(spec)
