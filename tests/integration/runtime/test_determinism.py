"""The canonical mode's promises (docs/runtime.md): bit-exact where it says so, and the
comparison policies accept honest variation while rejecting a cheaper model."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from deai.runtime.compare import (
    CLASSIFY_TOLERANCE,
    EMBED_TOLERANCE,
    compare_arrays,
    compare_output_bytes,
    compare_results,
    policy_for,
    rescore_check,
)
from deai.runtime.datasets import read_dataset
from deai.runtime.execute import Executor, WorkloadResult
from deai.runtime.spec import WorkloadSpec
from deai.runtime.tasks import load_npy, npy_bytes
from deai.store import LocalStore

pytestmark = pytest.mark.integration

TEXTS = [f"Sentence {i} is about {w}." for i, w in enumerate(["cats", "tax law", "rivers", "chess"] * 4)]


@pytest.fixture(scope="module")
def workloads(rt_store: LocalStore, model_cids: dict[str, str], demo_dirs: dict) -> dict[str, WorkloadSpec]:  # type: ignore[type-arg]
    x = read_dataset(demo_dirs["digits"].parent / "datasets" / "digits-test").x
    batch = rt_store.add_bytes(npy_bytes(x))
    texts = rt_store.add_bytes(json.dumps(TEXTS).encode())
    prompt = rt_store.add_bytes(b"A class definition")

    def spec(kind: str, model: str, inputs: list[str], **params: object) -> WorkloadSpec:
        return WorkloadSpec.parse({"kind": kind, "model": model_cids[model], "inputs": inputs, "params": params})

    return {
        "digits": spec("classify", "digits", [batch]),
        "digits-int8": spec("classify", "digits-int8", [batch]),
        "minilm": spec("embed", "minilm", [texts]),
        "textgen": spec("generate", "textgen", [prompt], max_tokens=48, temperature=0.8, top_k=40, seed=3),
        "imagegen": spec("image", "imagegen", [], label=5, count=8, seed=11),
    }


@pytest.mark.parametrize("name", ["digits", "digits-int8", "minilm", "textgen", "imagegen"])
def test_bit_exact_twice_and_across_thread_counts(name: str, workloads: dict[str, WorkloadSpec],
                                                  executor: Executor, executor_2t: Executor) -> None:
    first = executor.execute(workloads[name])
    again = executor.execute(workloads[name])
    two_threads = executor_2t.execute(workloads[name])  # its own cache: loaded afresh
    assert first.result_hash == again.result_hash == two_threads.result_hash
    assert [o.cid for o in first.outputs] == [o.cid for o in two_threads.outputs]
    assert two_threads.runtime["threads"] == 2


def _arrays(store: LocalStore, result: WorkloadResult, name: str) -> np.ndarray:
    return load_npy(store.read_bytes(result.output(name).cid))


def test_int8_copy_is_caught_by_the_logits_even_on_one_row(
        workloads: dict[str, WorkloadSpec], executor: Executor, rt_store: LocalStore,
        model_cids: dict[str, str]) -> None:
    honest = executor.execute(workloads["digits"])
    cheap = executor.execute(workloads["digits-int8"])
    assert not compare_results(honest, cheap, rt_store, CLASSIFY_TOLERANCE).match
    logits_h, logits_c = _arrays(rt_store, honest, "logits.npy"), _arrays(rt_store, cheap, "logits.npy")
    per_row = np.abs(logits_h - logits_c).max(axis=1)
    assert per_row.min() > 10 * dict(CLASSIFY_TOLERANCE.atol_by_output)["logits.npy"]
    # probabilities alone would let confident rows through: that is why logits are stored
    probs_h, probs_c = _arrays(rt_store, honest, "probabilities.npy"), _arrays(rt_store, cheap, "probabilities.npy")
    assert (np.abs(probs_h - probs_c).max(axis=1) < CLASSIFY_TOLERANCE.atol).any()


def test_honest_float_noise_passes_the_tolerance(workloads: dict[str, WorkloadSpec], executor: Executor,
                                                 rt_store: LocalStore) -> None:
    honest = executor.execute(workloads["digits"])
    logits = _arrays(rt_store, honest, "logits.npy")
    # a result from other hardware: logits moved by a few float32 ulps
    noisy = np.nextafter(np.nextafter(logits, np.inf), np.inf)
    policy = policy_for("onnx", "classify")
    assert compare_output_bytes("application/x-npy", npy_bytes(logits), npy_bytes(noisy), policy, "logits.npy").match
    emb = _arrays(rt_store, executor.execute(workloads["minilm"]), "embeddings.npy")
    assert compare_arrays(emb, emb + np.float32(1e-6), EMBED_TOLERANCE).match


def test_quantized_embedder_is_caught(workloads: dict[str, WorkloadSpec], executor: Executor,
                                      rt_store: LocalStore, model_cids: dict[str, str]) -> None:
    honest = _arrays(rt_store, executor.execute(workloads["minilm"]), "embeddings.npy")
    model = executor.load(model_cids["minilm"]).model  # type: ignore[attr-defined]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the eager quantization API warns that it is deprecated
        cheap_model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        cheap = cheap_model.encode(TEXTS, convert_to_numpy=True, normalize_embeddings=True)
    per_text = np.abs(honest - cheap).max(axis=1)
    assert per_text.min() > 10 * EMBED_TOLERANCE.atol
    assert not compare_arrays(honest, cheap.astype(np.float32), EMBED_TOLERANCE).match


def test_rescoring_passes_honest_tokens_and_catches_the_small_model(
        workloads: dict[str, WorkloadSpec], executor: Executor, executor_2t: Executor, rt_store: LocalStore,
        model_cids: dict[str, str]) -> None:
    spec = workloads["textgen"]
    honest = executor.execute(spec)
    tokens = json.loads(rt_store.read_bytes(honest.output("tokens.json").cid))["tokens"]
    scores = executor_2t.score_generation(spec, tokens)  # a validator on another thread count
    assert rescore_check(scores.margins).match and scores.margins.min() == 0.0
    assert scores.hidden.shape == (48, 128) and scores.topk_ids.shape == (48, 5)
    # the provider's own activations (for its commitment) match the validator's teacher-forced ones
    np.testing.assert_allclose(honest.extras["hidden"], scores.hidden, atol=1e-5)
    np.testing.assert_allclose(honest.extras["logprobs"], scores.logprobs, atol=1e-5)
    swapped = executor.execute(spec.model_copy(update={"model": model_cids["textgen-small"]}))
    cheat_tokens = json.loads(rt_store.read_bytes(swapped.output("tokens.json").cid))["tokens"]
    check = rescore_check(executor.score_generation(spec, cheat_tokens).margins)
    assert not check.match and check.agreement is not None and check.agreement < 0.7
