"""Fine-tuning and training with checkpoints on a hash chain, and segment re-runs.

A training run is a pure function of (spec, parent weights, dataset): the batch for step
``s`` comes from a permutation seeded by ``(seed, epoch)`` (no RNG state to carry), the
optimizer is single-tensor Adam, and everything runs in the canonical mode on one thread
(:data:`CANONICAL_TRAIN_THREADS`). Every
``checkpoint_every`` steps (and at step 0 and the last step) the full training state —
weights, Adam moments, step — is written as safetensors bytes, put in the store, and linked:

    link_0 = sha256("deai-checkpoint-chain" ‖ spec CID ‖ CID_0)
    link_i = sha256(link_{i-1} ‖ CID_i)

The result records every (step, CID, link); the chain head commits to all of them. A
validator picks a segment i → i+1, fetches checkpoint i by CID, runs
:func:`rerun_segment`, and compares the CID it gets with CID_{i+1}
(:func:`verify_segment`); docs/runtime.md explains why the bytes match exactly.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from safetensors.torch import save_file
from torch import nn
from torch.nn import functional as F

from deai.errors import InputError, ModelError
from deai.runtime.canonical import RunSettings, torch_settings
from deai.runtime.datasets import Dataset
from deai.runtime.manifest import ModelManifest, Parent, write_manifest
from deai.runtime.nets import MlpClassifier, build_network
from deai.runtime.spec import Params
from deai.runtime.torch_rt import load_network

WEIGHTS_FILE = "weights.safetensors"
#: Canonical training runs on exactly this many threads, whatever the executor's setting:
#: a backward GEMM splits its reduction differently on two threads (measured: one weight
#: gradient differs by 4e-34 after the first step), and a training run amplifies any bit.
CANONICAL_TRAIN_THREADS = 1
CHAIN_DOMAIN = b"deai-checkpoint-chain"

StepCallback = Callable[[int, int, float], None]


class BytesStore(Protocol):
    def add_bytes(self, data: bytes) -> str: ...
    def read_bytes(self, cid: str) -> bytes: ...


class Checkpoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    step: int
    cid: str
    link: str


class TrainingRecord(BaseModel):
    """What a training workload commits to: the checkpoint chain and how it was made."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spec_cid: str
    parent_model: str
    dataset: str
    total_steps: int
    checkpoint_every: int
    checkpoints: tuple[Checkpoint, ...]
    chain_head: str
    final_loss: float
    train_accuracy: float


def chain_link(previous: str | None, cid: str, spec_cid: str) -> str:
    if previous is None:
        return hashlib.sha256(CHAIN_DOMAIN + spec_cid.encode() + cid.encode()).hexdigest()
    return hashlib.sha256(bytes.fromhex(previous) + cid.encode()).hexdigest()


def check_chain(record: TrainingRecord) -> bool:
    """True when every link follows from the previous one and its checkpoint CID."""
    previous: str | None = None
    for ckpt in record.checkpoints:
        if chain_link(previous, ckpt.cid, record.spec_cid) != ckpt.link:
            return False
        previous = ckpt.link
    return previous == record.chain_head


def checkpoint_steps(total_steps: int, every: int) -> list[int]:
    steps = list(range(0, total_steps, every))
    if steps[-1] != total_steps:
        steps.append(total_steps)
    return steps


@dataclass
class Trainer:
    """Training state plus the deterministic schedule; one instance per run or segment."""

    network: nn.Module
    dataset: Dataset
    params: Params
    settings: RunSettings

    def __post_init__(self) -> None:
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=self.params.learning_rate, foreach=False)
        self.step = 0
        rows = self.dataset.x.shape[0]
        self.steps_per_epoch = math.ceil(rows / self.params.batch_size)
        total = self.params.epochs * self.steps_per_epoch
        self.total_steps = min(total, self.params.max_steps) if self.params.max_steps else total
        self.x = torch.from_numpy(self.dataset.x)
        self.y = torch.from_numpy(self.dataset.y)
        self.last_loss = float("nan")

    def batch_indices(self, step: int) -> np.ndarray:
        epoch, offset = divmod(step, self.steps_per_epoch)
        order = np.random.default_rng([self.params.seed, epoch]).permutation(self.x.shape[0])
        start = offset * self.params.batch_size
        return order[start:start + self.params.batch_size]

    def run_until(self, end_step: int, on_step: StepCallback | None = None) -> None:
        self.network.train()
        with torch_settings(training_settings(self.settings)):
            while self.step < end_step:
                idx = torch.from_numpy(self.batch_indices(self.step))
                loss = F.cross_entropy(self.network(self.x[idx]), self.y[idx])
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                self.optimizer.step()
                self.step += 1
                self.last_loss = float(loss.detach())
                if on_step is not None:
                    on_step(self.step, self.total_steps, self.last_loss)
        self.network.eval()

    # --- checkpoints -----------------------------------------------------------------------

    def state_bytes(self) -> bytes:
        tensors: dict[str, torch.Tensor] = {
            f"model.{k}": v.detach().contiguous() for k, v in self.network.state_dict().items()
        }
        for i, param in enumerate(self.network.parameters()):
            state = self.optimizer.state.get(param)
            if state:
                tensors[f"optim.{i}.exp_avg"] = state["exp_avg"].contiguous()
                tensors[f"optim.{i}.exp_avg_sq"] = state["exp_avg_sq"].contiguous()
                tensors[f"optim.{i}.step"] = torch.as_tensor(state["step"], dtype=torch.float32).reshape(1)
        tensors["meta.step"] = torch.tensor([self.step], dtype=torch.int64)
        return bytes(save_safetensors(tensors))

    def restore(self, data: bytes) -> None:
        try:
            tensors = load_safetensors(data)
        except Exception as exc:  # safetensors raises its own error type for malformed bytes
            raise InputError(f"the checkpoint is not valid safetensors: {exc}") from None
        weights = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
        try:
            missing, unexpected = self.network.load_state_dict(weights, strict=False)
        except RuntimeError:  # tensor shapes that do not fit
            missing, unexpected = ["(shapes)"], []
        if missing or unexpected or "meta.step" not in tensors:
            raise InputError("the checkpoint does not belong to this model")
        for i, param in enumerate(self.network.parameters()):
            if f"optim.{i}.exp_avg" in tensors:
                self.optimizer.state[param] = {
                    "step": tensors[f"optim.{i}.step"].reshape(()).clone(),
                    "exp_avg": tensors[f"optim.{i}.exp_avg"].clone(),
                    "exp_avg_sq": tensors[f"optim.{i}.exp_avg_sq"].clone(),
                }
        self.step = int(tensors["meta.step"][0])


def training_settings(settings: RunSettings) -> RunSettings:
    if settings.canonical and settings.threads != CANONICAL_TRAIN_THREADS:
        return RunSettings(canonical=True, threads=CANONICAL_TRAIN_THREADS, device=settings.device)
    return settings


def _classifier(network: nn.Module, manifest: ModelManifest) -> MlpClassifier:
    if not isinstance(network, MlpClassifier):
        raise ModelError(
            f"model {manifest.name!r} ({manifest.architecture.name if manifest.architecture else 'no architecture'})"
            " cannot be fine-tuned here",
            hint="fine-tuning and training take classification models with an mlp-classifier architecture",
        )
    return network


def initial_network(kind: str, model_dir: Path, manifest: ModelManifest, params: Params) -> MlpClassifier:
    """The parent's weights (finetune) or a fresh initialisation seeded by the spec (train)."""
    if manifest.architecture is None or (manifest.extra.get("weights") is None and manifest.framework != "torch"):
        raise ModelError(
            f"model {manifest.name!r} carries no PyTorch weights to train",
            hint="fine-tune a model whose manifest has an architecture and weights (e.g. the digits classifier, "
            "not its int8 copy)",
        )
    if kind == "train":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(params.seed)
            return _classifier(build_network(manifest.architecture.name, manifest.architecture.config), manifest)
    return _classifier(load_network(model_dir, manifest), manifest)


def _check_fit(network: MlpClassifier, dataset: Dataset) -> None:
    in_features = network.hidden[0].in_features if len(network.hidden) else network.out.in_features
    if dataset.x.shape[1] != in_features or dataset.manifest.classes > network.out.out_features:
        raise InputError(
            f"dataset has {dataset.x.shape[1]} features and {dataset.manifest.classes} classes; "
            f"the model takes {in_features} features and {network.out.out_features} classes"
        )


def train_with_checkpoints(
    *, kind: str, spec_cid: str, model_cid: str, dataset_cid: str, model_dir: Path,
    manifest: ModelManifest, dataset: Dataset, params: Params, settings: RunSettings,
    store: BytesStore, on_step: StepCallback | None = None,
) -> tuple[Trainer, TrainingRecord]:
    network = initial_network(kind, model_dir, manifest, params)
    _check_fit(network, dataset)
    trainer = Trainer(network, dataset, params, settings)
    checkpoints: list[Checkpoint] = []
    previous: str | None = None
    for step in checkpoint_steps(trainer.total_steps, params.checkpoint_every):
        trainer.run_until(step, on_step)
        cid = str(store.add_bytes(trainer.state_bytes()))
        previous = chain_link(previous, cid, spec_cid)
        checkpoints.append(Checkpoint(step=step, cid=cid, link=previous))
    assert previous is not None
    accuracy, _ = accuracy_of(network, dataset)
    record = TrainingRecord(
        spec_cid=spec_cid, parent_model=model_cid, dataset=dataset_cid, total_steps=trainer.total_steps,
        checkpoint_every=params.checkpoint_every, checkpoints=tuple(checkpoints), chain_head=previous,
        final_loss=trainer.last_loss, train_accuracy=accuracy,
    )
    return trainer, record


def accuracy_of(network: nn.Module, dataset: Dataset) -> tuple[float, int]:
    with torch.inference_mode():
        predictions = network(torch.from_numpy(dataset.x)).argmax(dim=1).numpy()
    correct = int((predictions == dataset.y).sum())
    return correct / len(dataset.y), correct


def rerun_segment(
    *, kind: str, model_dir: Path, manifest: ModelManifest, dataset: Dataset, params: Params,
    settings: RunSettings, start_checkpoint: bytes, end_step: int,
) -> bytes:
    """Restore a checkpoint, train up to ``end_step``, return the checkpoint bytes there."""
    network = initial_network(kind, model_dir, manifest, params)
    trainer = Trainer(network, dataset, params, settings)
    trainer.restore(start_checkpoint)
    if not trainer.step <= end_step <= trainer.total_steps:
        raise InputError(f"segment end {end_step} is not between step {trainer.step} and {trainer.total_steps}")
    trainer.run_until(end_step)
    return trainer.state_bytes()


def write_trained_model(
    folder: Path, trainer: Trainer, parent: ModelManifest, *, parent_cid: str, dataset_cid: str,
    dataset_name: str, record: TrainingRecord, versions: dict[str, str],
) -> ModelManifest:
    """The fine-tuned model as an artifact of the parent's kind, naming both parents."""
    from deai.runtime.onnx_export import mlp_to_onnx

    folder.mkdir(parents=True, exist_ok=True)
    network = trainer.network
    assert isinstance(network, MlpClassifier)
    save_file({k: v.detach().contiguous() for k, v in network.state_dict().items()}, str(folder / WEIGHTS_FILE))
    extra: dict[str, Any] = {k: v for k, v in parent.extra.items() if k != "weights"}
    if parent.framework == "onnx":
        (folder / "model.onnx").write_bytes(mlp_to_onnx(network))
        entrypoint = "model.onnx"
        extra["weights"] = WEIGHTS_FILE
    else:
        entrypoint = WEIGHTS_FILE
    manifest = parent.model_copy(update={
        "name": f"{parent.name}-finetuned",
        "description": f"{parent.name} fine-tuned on {dataset_name} for {record.total_steps} steps",
        "entrypoint": entrypoint,
        "parents": (Parent(role="model", cid=parent_cid, name=parent.name),
                    Parent(role="dataset", cid=dataset_cid, name=dataset_name)),
        "runtime_versions": versions,
        "metrics": {"train_loss": record.final_loss, "train_accuracy": record.train_accuracy},
        "extra": extra,
    })
    return write_manifest(folder, manifest)
