"""Fine-tuning and training: a better model on shifted digits, lineage, checkpoint chains,
and segment re-runs that reproduce the committed checkpoint CIDs."""

from __future__ import annotations

import pytest

from deai.errors import InputError, ModelError
from deai.runtime.catalog import read_manifest_by_cid
from deai.runtime.execute import MODEL_DIR_CONTENT_TYPE, Executor, WorkloadResult
from deai.runtime.spec import WorkloadSpec
from deai.runtime.train import TrainingRecord, check_chain
from deai.store import LocalStore

pytestmark = pytest.mark.integration

PARAMS = {"epochs": 6, "batch_size": 32, "learning_rate": 5e-3, "checkpoint_every": 40, "seed": 1}


@pytest.fixture(scope="module")
def finetune_spec(model_cids: dict[str, str], dataset_cids: dict[str, str]) -> WorkloadSpec:
    return WorkloadSpec.parse({"kind": "finetune", "model": model_cids["digits"],
                               "inputs": [dataset_cids["digits-shifted-train"]], "params": PARAMS})


@pytest.fixture(scope="module")
def finetuned(executor: Executor, finetune_spec: WorkloadSpec) -> WorkloadResult:
    return executor.execute(finetune_spec)


def _accuracy(executor: Executor, model: str, dataset: str) -> float:
    result = executor.execute(WorkloadSpec.parse({"kind": "evaluate", "model": model, "inputs": [dataset]}))
    return float(result.result["accuracy"])


def test_finetuned_model_beats_its_parent_on_held_out_shifted_digits(
        finetuned: WorkloadResult, executor: Executor, model_cids: dict[str, str],
        dataset_cids: dict[str, str]) -> None:
    child = finetuned.output("model")
    assert child.content_type == MODEL_DIR_CONTENT_TYPE
    parent_acc = _accuracy(executor, model_cids["digits"], dataset_cids["digits-shifted-test"])
    child_acc = _accuracy(executor, child.cid, dataset_cids["digits-shifted-test"])
    assert child_acc > 0.9 and child_acc > parent_acc + 0.3
    # and the parent still wins on the data it was made for? Both stay usable on plain digits
    assert _accuracy(executor, model_cids["digits"], dataset_cids["digits-test"]) > 0.95


def test_manifest_lists_both_parents(finetuned: WorkloadResult, rt_store: LocalStore,
                                     model_cids: dict[str, str], dataset_cids: dict[str, str]) -> None:
    manifest = read_manifest_by_cid(rt_store, finetuned.output("model").cid)
    parents = {(p.role, p.cid) for p in manifest.parents}
    assert parents == {("model", model_cids["digits"]), ("dataset", dataset_cids["digits-shifted-train"])}
    assert manifest.framework == "onnx" and manifest.name == "digits-finetuned"
    assert {f.path for f in manifest.files} == {"model.onnx", "weights.safetensors"}
    assert finetuned.result["parents"][0]["cid"] == model_cids["digits"]


def test_checkpoint_chain_is_recorded_and_holds(finetuned: WorkloadResult, executor: Executor,
                                                rt_store: LocalStore) -> None:
    record = executor.training_record(finetuned)
    assert isinstance(record, TrainingRecord)
    assert [c.step for c in record.checkpoints] == [0, 40, 80, 120, 160, 200, 240, 258]  # 6 epochs × 43
    assert record.spec_cid == finetuned.spec_cid and record.chain_head == finetuned.result["chain_head"]
    assert check_chain(record)
    assert all(rt_store.has(c.cid) for c in record.checkpoints)
    assert len({c.cid for c in record.checkpoints}) == len(record.checkpoints)


def test_a_validator_reruns_a_segment_on_other_threads_and_gets_the_same_cid(
        finetuned: WorkloadResult, finetune_spec: WorkloadSpec, executor: Executor, executor_2t: Executor) -> None:
    record = executor.training_record(finetuned)
    assert executor_2t.verify_segment(finetune_spec, record, 2)
    assert executor_2t.verify_segment(finetune_spec, record, len(record.checkpoints) - 2)  # the short last one


def test_a_forged_checkpoint_fails_its_segment(finetuned: WorkloadResult, finetune_spec: WorkloadSpec,
                                               executor: Executor) -> None:
    record = executor.training_record(finetuned)
    # a provider that skipped steps 40..80 and committed its step-40 state as step 80
    forged = record.model_copy(update={"checkpoints": (
        record.checkpoints[0], record.checkpoints[1],
        record.checkpoints[2].model_copy(update={"cid": record.checkpoints[1].cid}), *record.checkpoints[3:])})
    assert not executor.verify_segment(finetune_spec, forged, 1)
    with pytest.raises(InputError, match="segment end"):
        executor.rerun_segment(finetune_spec, record.checkpoints[3].cid, 10)


def test_training_twice_gives_the_same_result_hash(finetuned: WorkloadResult, finetune_spec: WorkloadSpec,
                                                   executor_2t: Executor) -> None:
    assert executor_2t.execute(finetune_spec).result_hash == finetuned.result_hash


def test_train_from_scratch_and_refusals(executor: Executor, model_cids: dict[str, str],
                                         dataset_cids: dict[str, str]) -> None:
    trained = executor.execute(WorkloadSpec.parse({
        "kind": "train", "model": model_cids["digits"], "inputs": [dataset_cids["digits-train"]],
        "params": {"epochs": 3, "checkpoint_every": 100, "learning_rate": 5e-3}}))
    assert _accuracy(executor, trained.output("model").cid, dataset_cids["digits-test"]) > 0.9
    with pytest.raises(ModelError, match="no PyTorch weights"):
        executor.execute(WorkloadSpec.parse({"kind": "finetune", "model": model_cids["digits-int8"],
                                             "inputs": [dataset_cids["digits-train"]]}))
    with pytest.raises(InputError, match="dataset"):
        executor.execute(WorkloadSpec.parse({"kind": "finetune", "model": model_cids["digits"],
                                             "inputs": [model_cids["imagegen"]]}))
