"""Cheating providers, for tests and benchmarks: what a validator must catch.

A provider started with ``--cheat MODE`` runs ``run_job_cheating`` in its workers instead
of ``deai.node.jobs.run_job``; everything else about the node (bidding, committing,
serving its outputs) stays honest, so the only difference a validator can see is the
result itself. The modes:

- ``lazy`` — runs nothing: outputs of the right names and shapes, filled with noise (a
  fresh draw per job);
- ``partial:Q`` — honest, except on a fraction Q of jobs (chosen by a hash of the spec, so a
  test can tell in advance which) where it is lazy;
- ``swap`` — runs the cheapest model it serves for the same task (``textgen-small`` for
  ``textgen``, ``digits-int8`` for ``digits``) and labels the result with the model the job
  asked for; for rescored generations it commits the activations of the model it ran,
  which are all it has;
- ``collude`` — lazy, but the noise is seeded by the spec, so two providers in this mode
  commit the same wrong result for the same job: a colluding redundant pair;
- ``fastpath-lazy`` — honest on jobs; on the fast path it answers embedding requests with
  unit-norm noise of the right shape instead of running the model, and is still paid and
  receipted (``lazy_embeddings``, hooked into ``FastPathService.run_embeddings``): what
  validators sampling anchored receipts must catch.

The honest path is untouched: ``ProviderSettings.cheat`` is None unless a test sets it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable

import numpy as np

from deai.errors import ConfigError
from deai.node.jobs import JobOutcome, executor_for, result_document, run_job
from deai.runtime.execute import Executor, OutputRef, WorkloadResult, result_hash
from deai.runtime.spec import INFERENCE_KINDS, WorkloadSpec
from deai.runtime.tasks import (
    ImageRequest,
    OutputBlob,
    RunOutput,
    classify_output,
    embed_output,
    image_output,
    parse_pixels,
    parse_texts,
)
from deai.store import LocalStore
from deai.verify.commitment import with_commitment

MODES = ("lazy", "partial", "swap", "collude", "fastpath-lazy")
FASTPATH_MODES = ("fastpath-lazy",)
"""Modes that cheat on the fast path only: their job path is honest ``run_job``."""


def parse_cheat(text: str) -> tuple[str, float]:
    """``MODE`` or ``MODE:Q`` → (mode, q); q is the fraction cheated on (1 unless partial)."""
    mode, _, rest = text.partition(":")
    if mode not in MODES:
        raise ConfigError(f"unknown cheat {text!r}", hint=f"one of {', '.join(MODES)} (partial takes :Q)")
    q = 1.0
    if mode == "partial":
        try:
            q = float(rest)
        except ValueError:
            raise ConfigError(f"partial needs a fraction, e.g. partial:0.2, not {text!r}") from None
        if not 0.0 < q <= 1.0:
            raise ConfigError(f"the fraction cheated on is in (0, 1], not {q}")
    elif rest:
        raise ConfigError(f"{mode} takes no parameter")
    return mode, q


def cheats_on(spec_bytes: bytes, q: float) -> bool:
    """Whether a ``partial:q`` provider cheats on this spec (public, so tests can aim)."""
    digest = hashlib.sha256(b"deai-partial-cheat:" + spec_bytes).digest()
    return int.from_bytes(digest[:8], "big") < q * 2**64


def run_job_cheating(
    store_root: str, cache_dir: str, spec_bytes: bytes, delay_s: float, cheat: str, served: tuple[str, ...],
) -> JobOutcome:
    """``run_job``'s dishonest twin (same arguments, plus the mode and the models served)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    mode, q = parse_cheat(cheat)
    spec = WorkloadSpec.parse(spec_bytes)
    executor = executor_for(store_root, cache_dir)
    store = executor.store
    assert isinstance(store, LocalStore)
    if mode == "swap":
        result = swapped_result(executor, spec, served)
    elif mode == "partial" and not cheats_on(spec_bytes, q):
        result = with_commitment(executor.execute(spec), spec, store.add_bytes)
    else:
        seed = int.from_bytes(hashlib.sha256(spec_bytes).digest()[:8], "big") if mode == "collude" else None
        result = noise_result(executor, spec, np.random.default_rng(seed))
    if delay_s > 0:
        time.sleep(delay_s)
    output_cid = str(store.add_bytes(result_document(result)))
    return JobOutcome(output_cid=output_cid, result_hash=result.result_hash,
                      run_s=time.perf_counter() - started, cpu_s=time.process_time() - cpu_started)


def _forged(executor: Executor, spec: WorkloadSpec, output: RunOutput) -> WorkloadResult:
    refs = tuple(
        OutputRef(name=b.name, content_type=b.content_type, cid=str(executor.store.add_bytes(b.data)), size=len(b.data))
        for b in output.blobs
    )
    return WorkloadResult(spec_cid=executor.spec_cid(spec), kind=spec.kind, model=spec.model, outputs=refs,
                          result_hash=result_hash(refs), result=output.result,
                          runtime={"framework": "none", **executor.settings.describe()})


def noise_result(executor: Executor, spec: WorkloadSpec, rng: np.random.Generator) -> WorkloadResult:
    """Outputs shaped like the real ones, without running the model."""
    if spec.kind not in INFERENCE_KINDS:
        doc = {"steps": int(rng.integers(1, 1000)), "note": "no training happened"}
        blob = OutputBlob("training.json", "application/json", json.dumps(doc).encode())
        return _forged(executor, spec, RunOutput(blobs=(blob,), result=doc))
    manifest = executor.manifest(spec.model)
    data = executor.read_input(spec.inputs[0]) if spec.inputs else b""
    if spec.kind == "classify":
        rows = parse_pixels(data, manifest).pixels.shape[0]
        logits = rng.normal(0, 3, (rows, max(len(manifest.labels), 10))).astype(np.float32)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        output = classify_output(probs / probs.sum(axis=1, keepdims=True), manifest.labels, logits)
    elif spec.kind == "embed":
        texts = parse_texts(data)
        emb = rng.normal(0, 1, (len(texts.texts), 384)).astype(np.float32)
        output = embed_output(emb / np.linalg.norm(emb, axis=1, keepdims=True), texts.single)
    elif spec.kind == "generate":
        tokens = rng.integers(0, 1000, spec.params.max_tokens).tolist()
        doc = {"prompt_tokens": [], "tokens": tokens}
        blobs = (OutputBlob("completion.txt", "text/plain; charset=utf-8", b"lorem ipsum " * 8),
                 OutputBlob("tokens.json", "application/json", json.dumps(doc, separators=(",", ":")).encode()))
        output = RunOutput(blobs=blobs, result={"text": "lorem ipsum", "tokens": len(tokens)}, tokens=len(tokens))
    else:
        drawing = ImageRequest(label=spec.params.label or 0, seed=spec.params.seed, count=spec.params.count)
        output = image_output(rng.random((drawing.count, 64)).astype(np.float32), drawing, 8)
    return _forged(executor, spec, output)


def cheated_result(executor: Executor, spec: WorkloadSpec, served: tuple[str, ...],
                   rng: np.random.Generator) -> WorkloadResult:
    """What a partial cheater delivers when it cheats: a cheaper model if it has one, else noise."""
    if cheaper_model(executor, spec.model, served) is not None:
        return swapped_result(executor, spec, served)
    return noise_result(executor, spec, rng)


def cheaper_model(executor: Executor, model: str, served: tuple[str, ...]) -> str | None:
    """The smallest served model for the same task that is smaller than ``model`` (bytes of its files)."""
    wanted = executor.manifest(model)
    size = sum(f.size for f in wanted.files)
    options = []
    for cid in served:
        manifest = executor.manifest(cid)
        other = sum(f.size for f in manifest.files)
        if cid != model and manifest.task == wanted.task and other < size:
            options.append((other, cid))
    return min(options)[1] if options else None


def swapped_result(executor: Executor, spec: WorkloadSpec, served: tuple[str, ...]) -> WorkloadResult:
    store = executor.store
    assert isinstance(store, LocalStore)
    cheaper = cheaper_model(executor, spec.model, served)
    if cheaper is None:  # nothing cheaper to run: a swapper with one model is just honest
        return with_commitment(executor.execute(spec), spec, store.add_bytes)
    ran = executor.execute(spec.model_copy(update={"model": cheaper}))
    labelled = ran.model_copy(update={"spec_cid": executor.spec_cid(spec), "model": spec.model})
    labelled._extras = dict(ran.extras)
    return with_commitment(labelled, spec, store.add_bytes)



def cheating(cheat: str, served: tuple[str, ...]) -> tuple[Callable[..., JobOutcome], tuple[object, ...]]:
    """The worker function and extra arguments a provider with ``--cheat`` runs instead of run_job."""
    mode, _ = parse_cheat(cheat)  # a bad mode fails here, in the node, not in a worker
    if mode in FASTPATH_MODES:
        return run_job, ()
    return run_job_cheating, (cheat, served)


def fastpath_cheat(cheat: str | None) -> str | None:
    """The fast-path cheat of a provider's ``--cheat`` mode (None: its fast path is honest)."""
    if cheat is None:
        return None
    mode, _ = parse_cheat(cheat)
    return mode if mode in FASTPATH_MODES else None


def lazy_embeddings(count: int, dim: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """What a ``fastpath-lazy`` provider returns for ``count`` texts: unit-norm noise, no model run."""
    rng = rng or np.random.default_rng()
    vectors = rng.normal(0, 1, (count, dim)).astype(np.float32)
    normalised: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return normalised
