"""The checks on real runtimes: training segments, delivered models, rescoring's structure rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deai.chain.types import VerificationMode
from deai.runtime.canonical import RunSettings
from deai.runtime.demo_models import demo_dataset_dirs, demo_model_dirs
from deai.runtime.execute import Executor, OutputRef, WorkloadResult, result_hash
from deai.runtime.spec import WorkloadSpec
from deai.runtime.train import Checkpoint, chain_link
from deai.store import LocalStore
from deai.verify.checks import check_result
from deai.verify.commitment import with_commitment

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def executors(tmp_path_factory: pytest.TempPathFactory) -> tuple[Executor, Executor]:
    root = tmp_path_factory.mktemp("checks")
    store = LocalStore(root / "store")
    provider = Executor(store, cache_dir=root / "provider", settings=RunSettings(threads=2))
    return provider, Executor(store, cache_dir=root / "validator")


def _relabel(executor: Executor, result: WorkloadResult, name: str, data: bytes) -> WorkloadResult:
    """The result with output ``name`` replaced by ``data`` (and its hash made consistent)."""
    refs = tuple(OutputRef(name=r.name, content_type=r.content_type, cid=str(executor.store.add_bytes(data)),
                           size=len(data)) if r.name == name else r for r in result.outputs)
    return result.model_copy(update={"outputs": refs, "result_hash": result_hash(refs)})


def test_training_segments_reproduce_and_a_skipped_segment_is_caught(executors: tuple[Executor, Executor]) -> None:
    provider, validator = executors
    store = provider.store
    model = str(store.add_path(demo_model_dirs()["digits"]))
    data = str(store.add_path(demo_dataset_dirs()["digits-shifted-train"]))
    spec = WorkloadSpec.parse({"kind": "finetune", "model": model, "inputs": [data],
                               "params": {"epochs": 1, "checkpoint_every": 10, "max_steps": 40}})
    honest = provider.execute(spec)
    spec_cid = validator.spec_cid(spec)
    record = validator.training_record(honest)
    segments = len(record.checkpoints) - 1
    assert segments == 4
    for index in range(segments):
        verdict = check_result(validator, spec, spec_cid, honest, mode=VerificationMode.SAMPLED, ticket=index)
        assert verdict.match and verdict.facts["segment"] == index, verdict.detail

    # A provider that skipped steps 20→30: checkpoint 3 is checkpoint 2's state relabelled,
    # the chain relinked so that it still hashes up.
    fake = list(record.checkpoints)
    fake[3] = Checkpoint(step=fake[3].step, cid=fake[2].cid, link="")
    previous: str | None = None
    for i, c in enumerate(fake):
        previous = chain_link(previous, c.cid, record.spec_cid)
        fake[i] = Checkpoint(step=c.step, cid=c.cid, link=previous)
    tampered = record.model_copy(update={"checkpoints": tuple(fake), "chain_head": previous})
    claimed = _relabel(validator, honest, "training.json", json.dumps(tampered.model_dump(mode="json")).encode())
    caught = check_result(validator, spec, spec_cid, claimed, mode=VerificationMode.SAMPLED, ticket=2)
    assert not caught.match and "re-running steps 20→30" in caught.detail
    elsewhere = check_result(validator, spec, spec_cid, claimed, mode=VerificationMode.SAMPLED, ticket=0)
    assert elsewhere.match  # a segment check finds a skipped segment when it lands on it: 1 in 4 here

    broken = record.model_copy(update={"chain_head": "00" * 32})
    claimed = _relabel(validator, honest, "training.json", json.dumps(broken.model_dump(mode="json")).encode())
    assert "does not link up" in check_result(validator, spec, spec_cid, claimed, mode=VerificationMode.SAMPLED).detail

    # Honest checkpoints, but the parent model delivered as the "fine-tuned" one.
    parent = honest.model_copy(update={"outputs": tuple(
        r.model_copy(update={"cid": model}) if r.name == "model" else r for r in honest.outputs)})
    parent = parent.model_copy(update={"result_hash": result_hash(parent.outputs)})
    verdict = check_result(validator, spec, spec_cid, parent, mode=VerificationMode.SAMPLED, ticket=1)
    assert not verdict.match and "not the last checkpoint's" in verdict.detail


def test_rescoring_accepts_another_thread_count_and_refuses_doctored_generations(
    executors: tuple[Executor, Executor], tmp_path: Path,
) -> None:
    provider, validator = executors
    store = provider.store
    model = str(store.add_path(demo_model_dirs()["textgen"]))
    prompt = str(store.add_bytes(b"The Python interpreter"))
    spec = WorkloadSpec.parse({"kind": "generate", "model": model, "inputs": [prompt],
                               "params": {"max_tokens": 48, "temperature": 0.8, "top_k": 40, "seed": 5},
                               "verification": {"mode": "rescore"}})
    spec_cid = validator.spec_cid(spec)
    honest = with_commitment(provider.execute(spec), spec, store.add_bytes)
    assert honest.result["commitment"]["tokens"] == 48
    verdict = check_result(validator, spec, spec_cid, honest, mode=VerificationMode.RESCORE)
    assert verdict.match and verdict.facts["chunks"] == 2, verdict.detail

    doc = json.loads(store.read_bytes(honest.output("tokens.json").cid))
    truncated = _relabel(validator, honest, "tokens.json", json.dumps(
        {"prompt_tokens": doc["prompt_tokens"], "tokens": doc["tokens"][:10]}, separators=(",", ":")).encode())
    assert "without end-of-text" in check_result(validator, spec, spec_cid, truncated, mode=VerificationMode.RESCORE).detail
    other_text = _relabel(validator, honest, "completion.txt", b"something else entirely")
    assert "not the decoding" in check_result(validator, spec, spec_cid, other_text, mode=VerificationMode.RESCORE).detail
    bare = honest.model_copy(update={"result": {k: v for k, v in honest.result.items() if k != "commitment"}})
    verdict = check_result(validator, spec, spec_cid, bare, mode=VerificationMode.RESCORE)
    assert not verdict.match and "no activation commitment" in verdict.detail
    wrong_spec = check_result(validator, spec, "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4", honest,
                              mode=VerificationMode.RESCORE)
    assert not wrong_spec.match and wrong_spec.method == "structure"
