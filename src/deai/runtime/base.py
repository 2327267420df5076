"""One interface for every runtime, and the registry that picks one by ``manifest.framework``.

A :class:`Runtime` turns a verified model folder into a :class:`LoadedModel`; a loaded model
answers :class:`~deai.runtime.tasks.Request` objects with a
:class:`~deai.runtime.tasks.RunOutput`. Runtime modules are imported only when first used,
so ``deai --help`` does not pay for importing sentence-transformers.
"""

from __future__ import annotations

import difflib
import importlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from deai.errors import InputError, ModelError, did_you_mean
from deai.runtime.canonical import RunSettings
from deai.runtime.manifest import ModelManifest
from deai.runtime.tasks import Request, RunOutput


class LoadedModel(ABC):
    """A model ready to run; keeps whatever the runtime needs (a session, a module)."""

    def __init__(self, manifest: ModelManifest, settings: RunSettings) -> None:
        self.manifest = manifest
        self.settings = settings

    @abstractmethod
    def run(self, request: Request) -> RunOutput:
        """Run one request; raises InputError when it does not fit the model."""

    def wrong_request(self, request: Request) -> InputError:
        return InputError(
            f"model {self.manifest.name!r} ({self.manifest.task}) cannot answer a "
            f"{type(request).__name__}",
            hint=f"use a {self.manifest.task!r} workload for this model",
        )


class Runtime(ABC):
    framework: ClassVar[str]
    tasks: ClassVar[frozenset[str]]

    @abstractmethod
    def load(self, model_dir: Path, manifest: ModelManifest, settings: RunSettings) -> LoadedModel:
        """Load a model whose folder :func:`verify_model_dir` has already checked."""

    @abstractmethod
    def versions(self) -> dict[str, str]:
        """Library versions this runtime runs with (recorded in results and manifests)."""

    def check_task(self, manifest: ModelManifest) -> None:
        if manifest.task not in self.tasks:
            raise ModelError(
                f"the {self.framework} runtime does not run {manifest.task!r} models",
                hint=f"it runs: {', '.join(sorted(self.tasks))}",
            )


# framework → "module:Class"; imported on first use.
_RUNTIMES: dict[str, str] = {
    "onnx": "deai.runtime.onnx_rt:OnnxRuntime",
    "torch": "deai.runtime.torch_rt:TorchRuntime",
    "sentence-transformers": "deai.runtime.embed_rt:SentenceTransformersRuntime",
    "transformers": "deai.runtime.hf_rt:TransformersRuntime",
}
# Names people write for the same frameworks, to suggest the right one.
_ALIASES: dict[str, str] = {
    **{name: name for name in _RUNTIMES},
    "onnxruntime": "onnx", "ort": "onnx", "pytorch": "torch", "pt": "torch",
    "sentence_transformers": "sentence-transformers", "sbert": "sentence-transformers",
    "huggingface": "transformers", "hf": "transformers",
}
_loaded: dict[str, Runtime] = {}


def frameworks() -> tuple[str, ...]:
    return tuple(sorted(_RUNTIMES))


def get_runtime(framework: str) -> Runtime:
    """The runtime for a framework name; ModelError with "did you mean" for an unknown one."""
    runtime = _loaded.get(framework)
    if runtime is not None:
        return runtime
    target = _RUNTIMES.get(framework)
    if target is None:
        close = difflib.get_close_matches(framework.lower(), _ALIASES, n=1, cutoff=0.6)
        hint = f"did you mean {_ALIASES[close[0]]!r}?" if close else did_you_mean(framework, _RUNTIMES)
        raise ModelError(
            f"the manifest names an unknown framework {framework!r}",
            hint=(hint + " " if hint else "") + f"known frameworks: {', '.join(frameworks())}",
        )
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    runtime = cls()
    assert isinstance(runtime, Runtime)
    _loaded[framework] = runtime
    return runtime
