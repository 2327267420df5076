"""Checking one committed result: re-execution, rescoring, or a training segment re-run.

``check_result`` is what a validator runs on a result it sampled, on a result a committee
asked it to judge, and on a redundant group that disagreed. It never trusts the claimed
document beyond what the chain binds (the output CID and the result hash):

1. **structure** — the document is for this job's spec (spec CID, model, kind) and its
   outputs hash to the committed result hash;
2. then, by workload and mode:

   - ``generate`` under ``rescore``: ``rescore.rescore_generation`` (one teacher-forced
     pass, the sampling rule per token, the TOPLOC-style activation commitment);
   - ``finetune``/``train``: the checkpoint hash chain must link up from the spec, and one
     segment, chosen by the validator's ticket, is re-run from its first checkpoint and must
     reproduce the next checkpoint's CID (``Executor.verify_segment``);
   - everything else: re-execute in the canonical mode and compare output by output with
     the policy for the model's framework and task (``deai.runtime.compare``: bytes first,
     then the measured tolerance where one is allowed).

The answer is a ``Verdict`` with the detail a challenge's evidence carries and the CPU time
the check took (the overhead the benchmark reports).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from deai.chain.types import VerificationMode
from deai.errors import DeaiError
from deai.runtime.compare import compare_results, policy_for
from deai.runtime.execute import Executor, WorkloadResult, result_hash
from deai.runtime.spec import TRAINING_KINDS, WorkloadSpec
from deai.runtime.train import WEIGHTS_FILE, TrainingRecord, check_chain
from deai.verify.rescore import commitment_of, rescore_generation
from deai.verify.sampling import pick

Fetch = Callable[[list[str]], None]
"""Make sure these CIDs are in the executor's store (from the provider's gateway)."""


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check. ``match`` False means the committed result is wrong."""

    match: bool
    method: str
    detail: str
    recomputed_hash: str = ""
    cpu_s: float = 0.0
    facts: dict[str, Any] = field(default_factory=dict)


def _structure(spec: WorkloadSpec, spec_cid: str, claimed: WorkloadResult) -> str:
    if claimed.spec_cid != spec_cid:
        return f"the result is for spec {claimed.spec_cid}, the job's spec is {spec_cid}"
    if claimed.model != spec.model or claimed.kind != spec.kind:
        return "the result names another model or workload kind than the spec"
    if result_hash(list(claimed.outputs)) != claimed.result_hash:
        return "the result document's outputs do not hash to its result hash"
    return ""


def check_result(
    executor: Executor, spec: WorkloadSpec, spec_cid: str, claimed: WorkloadResult, *,
    mode: VerificationMode, ticket: int = 0, fetch: Fetch | None = None,
) -> Verdict:
    """Judge ``claimed`` (its outputs already in the executor's store) against ``spec``."""
    started = time.thread_time()
    verdict = _check(executor, spec, spec_cid, claimed, mode=mode, ticket=ticket, fetch=fetch)
    return Verdict(verdict.match, verdict.method, verdict.detail, verdict.recomputed_hash,
                   time.thread_time() - started, verdict.facts)


def _check(executor: Executor, spec: WorkloadSpec, spec_cid: str, claimed: WorkloadResult, *,
           mode: VerificationMode, ticket: int, fetch: Fetch | None) -> Verdict:
    problem = _structure(spec, spec_cid, claimed)
    if problem:
        return Verdict(False, "structure", problem)
    if spec.kind == "generate" and mode is VerificationMode.RESCORE:
        return _rescore(executor, spec, claimed, fetch)
    if spec.kind in TRAINING_KINDS:
        return _segment(executor, spec, spec_cid, claimed, ticket, fetch)
    return reexecute(executor, spec, claimed)


def reexecute(executor: Executor, spec: WorkloadSpec, claimed: WorkloadResult) -> Verdict:
    """Run the spec in the canonical mode and compare under the model's policy."""
    mine = executor.execute(spec)
    manifest = executor.manifest(spec.model)
    comparison = compare_results(claimed, mine, executor.store, policy_for(manifest.framework, manifest.task))
    facts: dict[str, Any] = {"comparison": comparison.method}
    if comparison.max_abs is not None:
        facts["max_abs"] = comparison.max_abs
    return Verdict(comparison.match, "reexecute", comparison.detail, mine.result_hash, facts=facts)


def _rescore(executor: Executor, spec: WorkloadSpec, claimed: WorkloadResult, fetch: Fetch | None) -> Verdict:
    try:
        info = commitment_of(claimed)
    except DeaiError as exc:
        return Verdict(False, "rescore", exc.message)
    commitment: bytes | None = None
    if info is not None:
        try:
            if fetch is not None:
                fetch([info.cid])
            commitment = executor.store.read_bytes(info.cid)
        except DeaiError as exc:
            return Verdict(False, "rescore", f"the activation commitment {info.cid} cannot be read: {exc.message}")
    report = rescore_generation(executor, spec, claimed, commitment=commitment)
    facts = {"tokens": report.tokens, "failing_tokens": report.failing_tokens,
             "failing_chunks": report.failing_chunks, "chunks": len(report.chunks)}
    return Verdict(report.match, "rescore", report.detail, facts=facts)


def _segment(executor: Executor, spec: WorkloadSpec, spec_cid: str, claimed: WorkloadResult, ticket: int,
             fetch: Fetch | None) -> Verdict:
    try:
        record = TrainingRecord.model_validate_json(executor.store.read_bytes(claimed.output("training.json").cid))
    except (KeyError, ValueError, DeaiError) as exc:
        return Verdict(False, "segment", f"no readable training record: {exc}")
    if record.spec_cid != spec_cid or record.parent_model != spec.model or record.dataset != spec.inputs[0]:
        return Verdict(False, "segment", "the training record is for another spec, model or dataset")
    if not check_chain(record):
        return Verdict(False, "segment", "the checkpoint hash chain does not link up")
    steps = [c.step for c in record.checkpoints]
    if steps[0] != 0 or steps[-1] != record.total_steps or steps != sorted(set(steps)):
        return Verdict(False, "segment", "the checkpoints do not run from step 0 to the last step")
    if len(record.checkpoints) < 2:
        return Verdict(False, "segment", "a training record needs at least two checkpoints")
    index = pick(ticket, len(record.checkpoints) - 1)
    start, end = record.checkpoints[index], record.checkpoints[index + 1]
    facts = {"segment": index, "segments": len(record.checkpoints) - 1, "from_step": start.step,
             "to_step": end.step}
    try:
        if fetch is not None:
            fetch([start.cid])
        mine = executor.rerun_segment(spec, start.cid, end.step)
    except DeaiError as exc:
        return Verdict(False, "segment", f"checkpoint {index} (step {start.step}) cannot be re-run: {exc.message}",
                       facts=facts)
    if mine != end.cid:
        return Verdict(False, "segment",
                       f"re-running steps {start.step}→{end.step} gives {mine}, the record says {end.cid}",
                       facts=facts | {"recomputed": mine})
    problem = _final_model(executor, claimed, record, fetch)
    if problem:
        return Verdict(False, "segment", problem, facts=facts)
    return Verdict(True, "segment", f"steps {start.step}→{end.step} reproduce checkpoint {index + 1}; "
                   "the model holds the last checkpoint's weights", facts=facts)


def _final_model(executor: Executor, claimed: WorkloadResult, record: TrainingRecord, fetch: Fetch | None) -> str:
    """The delivered model must carry the weights of the chain's last checkpoint, bit for bit."""
    from safetensors import SafetensorError
    from safetensors.numpy import load, load_file

    try:
        model_cid = claimed.output("model").cid
        last = record.checkpoints[-1].cid
        if fetch is not None:
            fetch([model_cid, last])
        weights = load_file(str(executor.model_dir(model_cid) / WEIGHTS_FILE))
        state = load(executor.store.read_bytes(last))
    except (KeyError, OSError, SafetensorError, DeaiError) as exc:
        return f"the delivered model cannot be read: {exc}"
    expected = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    if expected.keys() != weights.keys() or any(
        expected[k].dtype != weights[k].dtype or expected[k].shape != weights[k].shape
        or expected[k].tobytes() != weights[k].tobytes() for k in expected
    ):
        return "the delivered model's weights are not the last checkpoint's"
    return ""
