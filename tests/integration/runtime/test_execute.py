"""execute() on every demo model: real results, outputs in the store, typed errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from deai.errors import InputError, ModelError, SpecError
from deai.runtime.catalog import add_model
from deai.runtime.datasets import read_dataset
from deai.runtime.execute import Executor, execute
from deai.runtime.manifest import MANIFEST_NAME, read_manifest
from deai.runtime.png import decode_png
from deai.runtime.spec import WorkloadSpec
from deai.runtime.tasks import load_npy, npy_bytes
from deai.store import LocalStore

pytestmark = pytest.mark.integration


def spec(kind: str, model: str, inputs: list[str] | None = None, **params: object) -> WorkloadSpec:
    return WorkloadSpec.parse({"kind": kind, "model": model, "inputs": inputs or [], "params": params})


@pytest.fixture(scope="module")
def test_digits(demo_dirs: dict[str, Path]) -> tuple[np.ndarray, np.ndarray]:
    data = read_dataset(demo_dirs["digits"].parent / "datasets" / "digits-test")
    return data.x, data.y


@pytest.mark.parametrize("name", ["digits", "digits-int8"])
def test_digit_label_and_probability(name: str, executor: Executor, rt_store: LocalStore,
                                     model_cids: dict[str, str], test_digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = test_digits
    one = rt_store.add_bytes(json.dumps(x[0].tolist()).encode())
    result = executor.execute(spec("classify", model_cids[name], [one]))
    assert result.result["label"] == str(y[0]) and 0.5 < result.result["probability"] <= 1.0
    batch = rt_store.add_bytes(npy_bytes(x))
    out = executor.execute(spec("classify", model_cids[name], [batch]))
    probs = load_npy(rt_store.read_bytes(out.output("probabilities.npy").cid))
    assert probs.shape == (len(y), 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (probs.argmax(axis=1) == y).mean() > 0.95
    assert result.result_hash.startswith("0x") and len(result.result_hash) == 66
    assert result.runtime["framework"] == "onnx" and result.runtime["canonical"] is True


def test_embedding_of_384_floats(executor: Executor, rt_store: LocalStore, model_cids: dict[str, str]) -> None:
    texts = ["A cat sits on the mat.", "A kitten rests on a rug.", "Interest rates rose by a quarter point."]
    result = executor.execute(spec("embed", model_cids["minilm"], [rt_store.add_bytes(json.dumps(texts).encode())]))
    emb = load_npy(rt_store.read_bytes(result.output("embeddings.npy").cid))
    assert emb.shape == (3, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.2  # cats are closer to kittens than to rates
    single = executor.execute(spec("embed", model_cids["minilm"], [rt_store.add_bytes(texts[0].encode())]))
    assert len(single.result["embedding"]) == 384


def test_generated_text_is_a_real_continuation(executor: Executor, rt_store: LocalStore,
                                               model_cids: dict[str, str]) -> None:
    prompt = rt_store.add_bytes(b"The import statement")
    result = executor.execute(spec("generate", model_cids["textgen"], [prompt], max_tokens=40, temperature=0.7,
                                   seed=1))
    text = result.result["text"]
    assert result.tokens == 40 and len(text) > 60
    words = text.split()
    assert len(words) > 8 and sum(w.strip('."(),:').isalpha() for w in words) > len(words) / 2
    assert rt_store.read_bytes(result.output("completion.txt").cid).decode() == text
    tokens = json.loads(rt_store.read_bytes(result.output("tokens.json").cid))
    assert len(tokens["tokens"]) == 40 and tokens["prompt_tokens"]


def test_image_is_a_png_of_the_asked_digit(executor: Executor, rt_store: LocalStore,
                                           model_cids: dict[str, str]) -> None:
    correct = 0
    for label in range(10):
        image = executor.execute(spec("image", model_cids["imagegen"], label=label, seed=label))
        png = rt_store.read_bytes(image.output("image.png").cid)
        assert png.startswith(b"\x89PNG") and decode_png(png).shape == (64, 64)
        # the digits classifier reads the generated PNG back (ink on black, shrunk to 8×8)
        back = executor.execute(spec("classify", model_cids["digits"], [image.output("image.png").cid]))
        correct += back.result["label"] == str(label)
    assert correct >= 8
    grid = executor.execute(spec("image", model_cids["imagegen"], [rt_store.add_bytes(b'{"label": 3, "count": 4}')]))
    assert grid.result["width"] == 256 and grid.result["height"] == 64


def test_one_shot_execute(rt_store: LocalStore, model_cids: dict[str, str], tmp_path: Path) -> None:
    result = execute(spec("image", model_cids["imagegen"], label=1), rt_store)
    again = execute(spec("image", model_cids["imagegen"], label=1), rt_store, cache_dir=tmp_path)
    assert result.result_hash == again.result_hash


def test_unknown_model_cid(executor: Executor) -> None:
    with pytest.raises(ModelError, match="unknown model CID"):
        executor.execute(spec("image", "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi", label=1))


def test_a_file_is_not_a_model(executor: Executor, rt_store: LocalStore) -> None:
    with pytest.raises(ModelError, match=r"not a model folder|is a file"):
        executor.execute(spec("image", str(rt_store.add_bytes(b"just bytes")), label=1))


def test_wrong_shape_and_type(executor: Executor, rt_store: LocalStore, model_cids: dict[str, str]) -> None:
    bad_shape = rt_store.add_bytes(json.dumps(list(range(10))).encode())
    with pytest.raises(InputError, match="shape"):
        executor.execute(spec("classify", model_cids["digits"], [bad_shape]))
    text = rt_store.add_bytes(b"seven")
    with pytest.raises(InputError):
        executor.execute(spec("classify", model_cids["digits"], [text]))
    with pytest.raises(InputError, match="unknown input CID"):
        executor.execute(spec("classify", model_cids["digits"],
                              ["bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"]))


def test_kind_must_fit_the_model(executor: Executor, rt_store: LocalStore, model_cids: dict[str, str]) -> None:
    with pytest.raises(SpecError, match="needs a 'embed' model"):
        executor.execute(spec("embed", model_cids["digits"], [rt_store.add_bytes(b"hello")]))


def _copy(demo: Path, tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(demo, folder)
    return folder


def test_manifest_with_unknown_framework(executor: Executor, rt_store: LocalStore, demo_dirs: dict[str, Path],
                                         tmp_path: Path) -> None:
    folder = _copy(demo_dirs["digits"], tmp_path, "odd")
    doc = json.loads((folder / MANIFEST_NAME).read_text())
    doc["framework"] = "onnxruntim"
    (folder / MANIFEST_NAME).write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="unknown framework") as info:
        add_model(rt_store, folder)
    assert "did you mean 'onnx'" in info.value.hint
    # a peer may still put such a folder in a store: running it fails the same way
    cid = rt_store.add_path(folder)
    with pytest.raises(ModelError, match="unknown framework"):
        executor.execute(spec("classify", cid, [rt_store.add_bytes(b"[" + b"0," * 63 + b"0]")]))


def test_model_file_not_matching_its_manifest(executor: Executor, rt_store: LocalStore,
                                              demo_dirs: dict[str, Path], tmp_path: Path) -> None:
    folder = _copy(demo_dirs["digits"], tmp_path, "tampered")
    weights = bytearray((folder / "model.onnx").read_bytes())
    weights[-10] ^= 0xFF
    (folder / "model.onnx").write_bytes(bytes(weights))
    with pytest.raises(ModelError, match="does not match the sha256"):
        add_model(rt_store, folder)
    cid = rt_store.add_path(folder)
    with pytest.raises(ModelError, match="does not match the sha256"):
        executor.execute(spec("classify", cid, [rt_store.add_bytes(b"[" + b"0," * 63 + b"0]")]))


def test_demo_manifests_name_what_they_are(demo_dirs: dict[str, Path], model_cids: dict[str, str]) -> None:
    expected = {"digits": ("onnx", "classify"), "digits-int8": ("onnx", "classify"),
                "textgen": ("torch", "generate"), "imagegen": ("torch", "image"),
                "minilm": ("sentence-transformers", "embed")}
    for name, (framework, task) in expected.items():
        manifest = read_manifest(demo_dirs[name])
        assert (manifest.framework, manifest.task) == (framework, task)
        assert manifest.license and manifest.files
    int8 = read_manifest(demo_dirs["digits-int8"])
    assert int8.parents[0].cid == model_cids["digits"]


def test_onnx_export_matches_the_pytorch_network(executor: Executor, rt_store: LocalStore,
                                                 demo_dirs: dict[str, Path], tmp_path: Path,
                                                 test_digits: tuple[np.ndarray, np.ndarray],
                                                 model_cids: dict[str, str]) -> None:
    from deai.runtime.manifest import write_manifest

    folder = _copy(demo_dirs["digits"], tmp_path, "digits-torch")
    (folder / "model.onnx").unlink()
    onnx_manifest = read_manifest(demo_dirs["digits"])
    write_manifest(folder, onnx_manifest.model_copy(update={
        "name": "digits-torch", "framework": "torch", "entrypoint": "weights.safetensors", "extra": {}}))
    torch_cid = add_model(rt_store, folder)[0]
    batch = rt_store.add_bytes(npy_bytes(test_digits[0]))
    via_torch = executor.execute(spec("classify", torch_cid, [batch]))
    via_onnx = executor.execute(spec("classify", model_cids["digits"], [batch]))
    logits_t = load_npy(rt_store.read_bytes(via_torch.output("logits.npy").cid))
    logits_o = load_npy(rt_store.read_bytes(via_onnx.output("logits.npy").cid))
    assert via_torch.runtime["framework"] == "torch"
    np.testing.assert_allclose(logits_t, logits_o, atol=1e-4)
    assert (logits_t.argmax(1) == logits_o.argmax(1)).all()


def test_oversized_input_is_refused(executor: Executor, rt_store: LocalStore, model_cids: dict[str, str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import deai.runtime.execute as execute_module

    monkeypatch.setattr(execute_module, "MAX_INPUT_BYTES", 100)
    big = rt_store.add_bytes(json.dumps([1.0] * 64).encode())
    with pytest.raises(InputError, match="limit"):
        executor.execute(spec("classify", model_cids["digits"], [big]))
