"""Comparing two runs of the same workload: exact, tolerance, and top-k agreement.

Use :func:`compare_results` on two :class:`~deai.runtime.execute.WorkloadResult` objects:
equal result hashes match at once (the bit-exact case); otherwise each output pair is
compared by the :class:`Policy` for the model's framework and task. The policies and their
thresholds come from the measurements in docs/runtime.md (``bench/runtime.py`` prints them;
``tests/integration/runtime/test_determinism.py`` holds them): each tolerance sits two or
more orders of magnitude above the largest honest difference measured (other thread counts,
other batch compositions) and more than ten times below the smallest dishonest one (an int8
model passed off as float32, a smaller text model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from deai.runtime.png import decode_png
from deai.runtime.tasks import load_npy


@dataclass(frozen=True)
class Comparison:
    match: bool
    method: str
    detail: str = ""
    max_abs: float | None = None
    max_rel: float | None = None
    agreement: float | None = None


@dataclass(frozen=True)
class Policy:
    """How to compare outputs of one kind of model when the bytes differ."""

    mode: Literal["exact", "tolerance"]
    atol: float = 0.0
    rtol: float = 0.0
    #: For class probabilities and logits: the fraction of rows whose top-k class sets must agree.
    topk: int = 1
    min_agreement: float = 1.0
    #: Output name → atol, where one output needs another bound (logits vs probabilities).
    atol_by_output: tuple[tuple[str, float], ...] = ()

    def for_output(self, name: str) -> Policy:
        for output, atol in self.atol_by_output:
            if output == name:
                return Policy(self.mode, atol, self.rtol, self.topk, self.min_agreement)
        return self


EXACT = Policy(mode="exact")
# Thresholds: see docs/runtime.md, "Tolerances and the measurements behind them".
#: Probabilities saturate (an int8 copy can differ by < 1e-6 on a confident row), so the
#: logits carry the check: an int8 copy moves every row's logits by ≥ 0.04.
CLASSIFY_TOLERANCE = Policy(mode="tolerance", atol=1e-5, topk=1, min_agreement=1.0,
                            atol_by_output=(("logits.npy", 1e-3),))
#: Unit-norm 384-float embeddings: an int8 MiniLM moves every text by ≥ 0.05.
EMBED_TOLERANCE = Policy(mode="tolerance", atol=1e-4, min_agreement=0.0)
#: uint8 pixels: one grey level of slack for a rounding flip at .5.
IMAGE_TOLERANCE = Policy(mode="tolerance", atol=1.0)
#: Rescoring: a claimed token passes when its Gumbel-max margin is at least this (0 = it won).
RESCORE_MARGIN_TOLERANCE = 1e-3

#: (framework, task) → policy. Bit-exact pairs compare bytes only; the others fall back to a
#: tolerance when bytes differ (a result from other hardware, or another batch composition).
POLICIES: dict[tuple[str, str], Policy] = {
    ("onnx", "classify"): CLASSIFY_TOLERANCE,
    ("torch", "classify"): CLASSIFY_TOLERANCE,
    ("sentence-transformers", "embed"): EMBED_TOLERANCE,
    ("torch", "image"): IMAGE_TOLERANCE,
    # Generated text is compared exactly; a validator that wants slack rescores instead.
    ("torch", "generate"): EXACT,
    ("transformers", "generate"): EXACT,
}


def policy_for(framework: str, task: str) -> Policy:
    return POLICIES.get((framework, task), EXACT)


def compare_exact(a: bytes, b: bytes) -> Comparison:
    if a == b:
        return Comparison(True, "exact", "identical bytes", max_abs=0.0, max_rel=0.0)
    return Comparison(False, "exact", f"bytes differ ({len(a)} vs {len(b)} bytes)")


def _diffs(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    max_abs = float(diff.max()) if diff.size else 0.0
    scale = np.maximum(np.abs(b.astype(np.float64)), np.finfo(np.float32).tiny)
    max_rel = float((diff / scale).max()) if diff.size else 0.0
    return max_abs, max_rel


def compare_tolerance(a: np.ndarray, b: np.ndarray, *, atol: float, rtol: float = 0.0) -> Comparison:
    """Elementwise ``|a - b| <= atol + rtol * |b|``, reporting the largest differences."""
    if a.shape != b.shape:
        return Comparison(False, "tolerance", f"shapes differ: {a.shape} vs {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return Comparison(False, "tolerance", "non-finite values")
    max_abs, max_rel = _diffs(a, b)
    ok = bool(np.all(np.abs(a.astype(np.float64) - b.astype(np.float64)) <= atol + rtol * np.abs(b)))
    detail = f"max |a-b| = {max_abs:.3g} (atol {atol:g}, rtol {rtol:g})"
    return Comparison(ok, "tolerance", detail, max_abs=max_abs, max_rel=max_rel)


def topk_agreement(a: np.ndarray, b: np.ndarray, k: int = 1) -> float:
    """Fraction of rows whose k highest-scoring indices are the same set in ``a`` and ``b``."""
    if a.shape != b.shape or a.ndim != 2:
        return 0.0
    k = min(k, a.shape[1])
    top_a = np.sort(np.argsort(-a, axis=1, kind="stable")[:, :k], axis=1)
    top_b = np.sort(np.argsort(-b, axis=1, kind="stable")[:, :k], axis=1)
    return float((top_a == top_b).all(axis=1).mean())


def compare_topk(a: np.ndarray, b: np.ndarray, *, k: int = 1, min_agreement: float = 1.0) -> Comparison:
    agreement = topk_agreement(a, b, k)
    ok = agreement >= min_agreement
    return Comparison(ok, "topk", f"top-{k} agreement {agreement:.4f} (need {min_agreement:g})",
                      agreement=agreement)


def compare_arrays(a: np.ndarray, b: np.ndarray, policy: Policy) -> Comparison:
    """Tolerance on every value, plus top-k agreement of rows for 2-D class scores."""
    if policy.mode == "exact":
        same = a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)
        return Comparison(same, "exact", "identical arrays" if same else "arrays differ")
    tol = compare_tolerance(a, b, atol=policy.atol, rtol=policy.rtol)
    if not tol.match or a.ndim != 2 or policy.min_agreement <= 0:
        return tol
    top = compare_topk(a, b, k=policy.topk, min_agreement=policy.min_agreement)
    return Comparison(top.match, "tolerance+topk", f"{tol.detail}; {top.detail}",
                      max_abs=tol.max_abs, max_rel=tol.max_rel, agreement=top.agreement)


def compare_output_bytes(content_type: str, a: bytes, b: bytes, policy: Policy, name: str = "") -> Comparison:
    """Compare two stored outputs of one content type under a policy."""
    if a == b:
        return compare_exact(a, b)
    policy = policy.for_output(name)
    if policy.mode == "exact":
        return compare_exact(a, b)
    try:
        if content_type == "application/x-npy":
            return compare_arrays(load_npy(a), load_npy(b), policy)
        if content_type == "image/png":
            return compare_arrays(decode_png(a), decode_png(b), Policy(mode="tolerance", atol=policy.atol))
    except Exception as exc:  # unreadable bytes from a cheater are a mismatch, not a crash
        return Comparison(False, "decode", f"cannot decode output: {exc}")
    return compare_exact(a, b)


class _ReadStore(Protocol):
    def read_bytes(self, cid: str) -> bytes: ...


def compare_results(a: Any, b: Any, store: _ReadStore, policy: Policy) -> Comparison:
    """Compare two WorkloadResults output by output (bytes fetched from ``store``)."""
    if a.result_hash == b.result_hash:
        return Comparison(True, "exact", "identical result hash", max_abs=0.0, max_rel=0.0)
    names_a = [(o.name, o.content_type) for o in a.outputs]
    names_b = [(o.name, o.content_type) for o in b.outputs]
    if names_a != names_b:
        return Comparison(False, "structure", f"outputs differ: {names_a} vs {names_b}")
    worst: Comparison | None = None
    for out_a, out_b in zip(a.outputs, b.outputs, strict=True):
        if out_a.cid == out_b.cid:
            continue
        if out_a.content_type == "application/vnd.deai.model+dir":
            return Comparison(False, "exact", f"output {out_a.name!r} differs (a model folder must match exactly)")
        cmp = compare_output_bytes(out_a.content_type, store.read_bytes(out_a.cid), store.read_bytes(out_b.cid),
                                   policy, out_a.name)
        if not cmp.match:
            return Comparison(False, cmp.method, f"{out_a.name}: {cmp.detail}", cmp.max_abs, cmp.max_rel, cmp.agreement)
        if worst is None or (cmp.max_abs or 0.0) > (worst.max_abs or 0.0):
            worst = cmp
    assert worst is not None
    return worst


def rescore_check(margins: np.ndarray, tolerance: float = RESCORE_MARGIN_TOLERANCE) -> Comparison:
    """Did every claimed token win the sampling rule under the validator's own logits?

    ``margins`` come from :meth:`deai.runtime.textgen.TextGenerator.score` (or
    :meth:`deai.runtime.execute.Executor.score_generation`).
    """
    failing = int((margins < -tolerance).sum())
    worst = float(margins.min()) if margins.size else 0.0
    agreement = 1.0 - failing / max(len(margins), 1)
    return Comparison(failing == 0, "rescore",
                      f"{failing} of {len(margins)} tokens lose the sampling rule (worst margin {worst:.3g})",
                      agreement=agreement)
