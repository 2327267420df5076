"""The transformers runtime (the GPU extra's path) on a tiny GPT-2 built offline, on the CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deai.runtime.catalog import add_model
from deai.runtime.compare import rescore_check
from deai.runtime.execute import Executor
from deai.runtime.manifest import ModelManifest, TensorSpec, write_manifest
from deai.runtime.spec import WorkloadSpec
from deai.runtime.textgen import BpeTokenizer
from deai.store import LocalStore

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gpt2_cid(rt_store: LocalStore, tmp_path_factory: pytest.TempPathFactory) -> str:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("hf") / "tiny-gpt2"
    bpe = BpeTokenizer.train(["the cat sat on the mat and the dog sat on the log. " * 50], vocab_size=300)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=bpe.vocab_size, n_positions=64, n_embd=32, n_layer=2, n_head=4))
    model.save_pretrained(folder)
    PreTrainedTokenizerFast(tokenizer_object=bpe.tokenizer).save_pretrained(folder)
    write_manifest(folder, ModelManifest(
        name="tiny-gpt2", framework="transformers", task="generate", license="MIT", entrypoint=".",
        inputs=(TensorSpec(name="prompt", dtype="text"),), outputs=(TensorSpec(name="completion", dtype="text"),)))
    return add_model(rt_store, folder)[0]


def test_generate_is_reproducible_and_rescorable(gpt2_cid: str, rt_store: LocalStore, executor: Executor,
                                                executor_2t: Executor) -> None:
    spec = WorkloadSpec.parse({"kind": "generate", "model": gpt2_cid, "inputs": [rt_store.add_bytes(b"the cat")],
                               "params": {"max_tokens": 16, "temperature": 1.0, "seed": 4}})
    first = executor.execute(spec)
    assert first.tokens == 16 and first.runtime["framework"] == "transformers"
    assert executor_2t.execute(spec).result_hash == first.result_hash
    tokens = json.loads(rt_store.read_bytes(first.output("tokens.json").cid))["tokens"]
    scores = executor.score_generation(spec, tokens)
    assert rescore_check(scores.margins).match
    assert scores.hidden.shape == (16, 32)


def test_unknown_files_in_folder_fail_as_model_errors(rt_store: LocalStore, executor: Executor,
                                                      tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    write_manifest(folder, ModelManifest(name="broken", framework="transformers", task="generate",
                                         license="MIT", entrypoint="."))
    cid = add_model(rt_store, folder)[0]
    spec = WorkloadSpec.parse({"kind": "generate", "model": cid, "inputs": [rt_store.add_bytes(b"x")]})
    from deai.errors import ModelError

    with pytest.raises(ModelError, match="transformers cannot load"):
        executor.execute(spec)
