"""Comparison functions and policies."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from deai.runtime.compare import (
    CLASSIFY_TOLERANCE,
    EXACT,
    Policy,
    compare_arrays,
    compare_exact,
    compare_output_bytes,
    compare_results,
    compare_tolerance,
    compare_topk,
    policy_for,
    topk_agreement,
)
from deai.runtime.png import encode_png
from deai.runtime.tasks import npy_bytes


def test_exact() -> None:
    assert compare_exact(b"abc", b"abc").match
    assert not compare_exact(b"abc", b"abd").match


def test_tolerance_reports_largest_differences() -> None:
    a = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    close = compare_tolerance(a, a + 1e-6, atol=1e-5)
    assert close.match and close.max_abs == pytest.approx(1e-6, rel=0.1)
    far = compare_tolerance(a, a + 1e-3, atol=1e-5)
    assert not far.match and far.max_abs == pytest.approx(1e-3, rel=0.01)
    assert compare_tolerance(a, a * 1.001, atol=0, rtol=1e-2).match
    assert not compare_tolerance(a, a[:2], atol=1).match
    assert not compare_tolerance(a, np.array([1.0, np.nan, 3.0]), atol=1).match


def test_topk_agreement_counts_rows_with_the_same_top_set() -> None:
    a = np.array([[0.1, 0.5, 0.4], [0.6, 0.3, 0.1]])
    b = np.array([[0.1, 0.4, 0.5], [0.7, 0.2, 0.1]])
    assert topk_agreement(a, b, 1) == 0.5
    assert topk_agreement(a, b, 2) == 1.0  # {1, 2} and {0, 1} in both
    assert not compare_topk(a, b, k=1, min_agreement=1.0).match
    assert compare_topk(a, b, k=1, min_agreement=0.5).match
    assert topk_agreement(a, b[:1], 1) == 0.0


def test_array_policy_checks_values_and_top_class() -> None:
    probs = np.array([[0.5000001, 0.4999999]], dtype=np.float32)
    flipped = np.array([[0.4999999, 0.5000001]], dtype=np.float32)
    # within a loose atol but the top class flipped: a mismatch
    assert not compare_arrays(probs, flipped, Policy(mode="tolerance", atol=1e-3)).match
    assert compare_arrays(probs, probs, EXACT).match
    assert not compare_arrays(probs, probs.astype(np.float64), EXACT).match


def test_output_bytes_by_content_type() -> None:
    a = np.array([[0.2, 0.8]], dtype=np.float32)
    assert compare_output_bytes("application/x-npy", npy_bytes(a), npy_bytes(a + 1e-7), CLASSIFY_TOLERANCE).match
    assert not compare_output_bytes("application/x-npy", npy_bytes(a), npy_bytes(a + 1e-7), EXACT).match
    assert not compare_output_bytes("application/x-npy", npy_bytes(a), b"garbage", CLASSIFY_TOLERANCE).match
    img = np.zeros((2, 2), dtype=np.uint8)
    img2 = img.copy()
    img2[0, 0] = 1
    assert compare_output_bytes("image/png", encode_png(img), encode_png(img2), Policy("tolerance", atol=1)).match
    img2[0, 0] = 9
    assert not compare_output_bytes("image/png", encode_png(img), encode_png(img2), Policy("tolerance", atol=1)).match
    assert not compare_output_bytes("text/plain", b"a", b"b", CLASSIFY_TOLERANCE).match


def test_policies_by_framework_and_task() -> None:
    assert policy_for("torch", "generate") == EXACT
    assert policy_for("onnx", "classify").mode == "tolerance"
    assert policy_for("made-up", "classify") == EXACT


@dataclass(frozen=True)
class _Ref:
    name: str
    content_type: str
    cid: str


@dataclass(frozen=True)
class _Result:
    result_hash: str
    outputs: tuple[_Ref, ...]


class _Store:
    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs

    def read_bytes(self, cid: str) -> bytes:
        return self.blobs[cid]


def test_compare_results_uses_hash_then_policy() -> None:
    a = np.array([[0.2, 0.8]], dtype=np.float32)
    store = _Store({"c1": npy_bytes(a), "c2": npy_bytes(a + 1e-7), "c3": npy_bytes(a[:, ::-1].copy())})
    r1 = _Result("0x1", (_Ref("probabilities.npy", "application/x-npy", "c1"),))
    r2 = _Result("0x2", (_Ref("probabilities.npy", "application/x-npy", "c2"),))
    r3 = _Result("0x3", (_Ref("probabilities.npy", "application/x-npy", "c3"),))
    assert compare_results(r1, r1, store, EXACT).match
    assert compare_results(r1, r2, store, CLASSIFY_TOLERANCE).match
    assert not compare_results(r1, r2, store, EXACT).match
    assert not compare_results(r1, r3, store, CLASSIFY_TOLERANCE).match
    other = _Result("0x4", (_Ref("other.npy", "application/x-npy", "c1"),))
    assert compare_results(r1, other, store, CLASSIFY_TOLERANCE).method == "structure"
