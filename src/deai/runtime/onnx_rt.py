"""The onnxruntime runtime: classification models as ONNX graphs, CPU or CUDA.

Canonical sessions run with a fixed intra-op thread count, one inter-op thread, sequential
execution and basic graph optimizations only (constant folding and redundant-node removal,
which do not change arithmetic; the extended level fuses operators into kernels that vary
with the CPU's instruction set). Graph outputs named ``probabilities`` and ``logits`` are
both returned when present (logits tell a float32 model from an int8 copy far better than
saturated probabilities do); a graph with only logits gets its softmax here, and
``extra.output`` can name another output that already holds probabilities.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from deai.errors import InputError, ModelError
from deai.runtime.base import LoadedModel, Runtime
from deai.runtime.canonical import RunSettings
from deai.runtime.device import onnx_providers
from deai.runtime.manifest import ModelManifest
from deai.runtime.tasks import ClassifyRequest, Request, RunOutput, classify_output


def session_options(settings: RunSettings) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if settings.canonical:
        options.intra_op_num_threads = settings.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    else:
        options.intra_op_num_threads = settings.threads
    return options


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    out: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
    return out.astype(np.float32)


class LoadedOnnx(LoadedModel):
    def __init__(self, session: ort.InferenceSession, manifest: ModelManifest, settings: RunSettings) -> None:
        super().__init__(manifest, settings)
        self.session = session
        self.input_name = session.get_inputs()[0].name
        outputs = [o.name for o in session.get_outputs()]
        wanted = str(manifest.extra.get("output", "probabilities"))
        self.probs_name = wanted if wanted in outputs else None
        self.logits_name = "logits" if "logits" in outputs else None
        if self.probs_name is None and self.logits_name is None:
            self.probs_name = outputs[0]  # a graph with one unnamed output: take it as probabilities
        self.fetch = [n for n in (self.probs_name, self.logits_name) if n is not None]

    def scores(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(probabilities, logits or None) for a batch."""
        try:
            outs = self.session.run(self.fetch, {self.input_name: pixels})
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad feeds
            raise InputError(f"onnxruntime rejected the input: {str(exc).splitlines()[0][:300]}") from None
        named = dict(zip(self.fetch, outs, strict=True))
        logits = np.asarray(named[self.logits_name], dtype=np.float32) if self.logits_name else None
        if self.probs_name is not None:
            return np.asarray(named[self.probs_name], dtype=np.float32), logits
        assert logits is not None
        return softmax(logits), logits

    def run(self, request: Request) -> RunOutput:
        if not isinstance(request, ClassifyRequest):
            raise self.wrong_request(request)
        probs, logits = self.scores(request.pixels)
        return classify_output(probs, self.manifest.labels, logits)


class OnnxRuntime(Runtime):
    framework = "onnx"
    tasks = frozenset({"classify"})

    def load(self, model_dir: Path, manifest: ModelManifest, settings: RunSettings) -> LoadedModel:
        self.check_task(manifest)
        path = model_dir / manifest.entrypoint
        try:
            session = ort.InferenceSession(
                str(path), sess_options=session_options(settings), providers=onnx_providers(settings.device)
            )
        except Exception as exc:  # a malformed graph: onnxruntime's errors are untyped
            raise ModelError(f"onnxruntime cannot load {manifest.entrypoint}: {str(exc)[:300]}") from None
        return LoadedOnnx(session, manifest, settings)

    def versions(self) -> dict[str, str]:
        return {"onnxruntime": str(ort.__version__)}


def describe_onnx(path: Path) -> dict[str, Any]:
    """Input and output names, dtypes and shapes of an ONNX file (for `deai model add FILE`)."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ModelError(f"{path} is not a readable ONNX model: {str(exc)[:200]}") from None
    dtypes = {1: "float32", 10: "float16", 7: "int64", 6: "int32", 2: "uint8", 3: "int8"}

    def tensors(values: Any) -> list[dict[str, Any]]:
        out = []
        for v in values:
            t = v.type.tensor_type
            shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "n") for d in t.shape.dim]
            out.append({"name": v.name, "dtype": dtypes.get(t.elem_type, "float32"), "shape": shape})
        return out

    init_names = {i.name for i in proto.graph.initializer}
    inputs = [v for v in proto.graph.input if v.name not in init_names]
    return {"inputs": tensors(inputs), "outputs": tensors(proto.graph.output)}
