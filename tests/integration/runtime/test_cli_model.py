"""`deai model add|ls|show|run` through the real CLI entry point, on the demo models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deai.cli.main import run
from deai.runtime.datasets import read_dataset
from deai.runtime.png import decode_png

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-data")


def cli(data_dir: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(["--data-dir", str(data_dir), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def last_json(out: str) -> dict:  # type: ignore[type-arg]
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def added(data_dir: Path, demo_dirs: dict[str, Path]) -> dict[str, str]:
    cids = {}
    for name in ("digits", "imagegen", "textgen", "minilm"):
        assert run(["--data-dir", str(data_dir), "model", "add", str(demo_dirs[name]), "--json"]) == 0
    from deai.runtime.catalog import ModelCatalog

    for entry in ModelCatalog.for_data_dir(data_dir).entries():
        cids[entry.name] = entry.cid
    return cids


def test_ls_and_show(added: dict[str, str], data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code, out, _ = cli(data_dir, capsys, "model", "ls", "--json")
    assert code == 0
    names = {m["name"] for m in last_json(out)["models"]}
    assert names == {"digits", "imagegen", "textgen", "all-MiniLM-L6-v2"}
    code, out, _ = cli(data_dir, capsys, "model", "show", added["digits"], "--json")
    shown = last_json(out)
    assert code == 0 and shown["framework"] == "onnx" and shown["inputs"][0]["shape"] == ["batch", 64]
    code, out, _ = cli(data_dir, capsys, "model", "show", added["digits"])
    assert code == 0 and "onnx / classify" in out and "test_accuracy" in out


def test_run_digits_from_json_and_png(added: dict[str, str], data_dir: Path, demo_dirs: dict[str, Path],
                                      tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = read_dataset(demo_dirs["digits"].parent / "datasets" / "digits-test")
    pixels = tmp_path / "digit.json"
    pixels.write_text(json.dumps(data.x[3].tolist()))
    code, out, _ = cli(data_dir, capsys, "model", "run", added["digits"], "--input", str(pixels), "--json")
    result = last_json(out)
    assert code == 0 and result["result"]["label"] == str(data.y[3]) and result["result"]["probability"] > 0.5
    code, out, _ = cli(data_dir, capsys, "model", "run", added["digits"], "--input", str(pixels))
    assert code == 0 and f"label {data.y[3]}" in out and "probability" in out


def test_run_image_writes_a_png_that_classifies_as_its_label(
        added: dict[str, str], data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "four.png"
    code, out, _ = cli(data_dir, capsys, "model", "run", added["imagegen"], "--input", "4", "--seed", "2",
                       "--out", str(png))
    assert code == 0 and "PNG 64×64" in out
    assert decode_png(png.read_bytes()).shape == (64, 64)
    code, out, _ = cli(data_dir, capsys, "model", "run", added["digits"], "--input", str(png), "--json")
    assert code == 0 and last_json(out)["result"]["label"] == "4"


def test_run_generate_and_embed(added: dict[str, str], data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(data_dir, capsys, "model", "run", added["textgen"], "--input", "The import statement",
                       "--max-tokens", "24", "--json")
    result = last_json(out)
    assert code == 0 and result["tokens"] == 24 and len(result["result"]["text"]) > 20
    code, out, _ = cli(data_dir, capsys, "model", "run", added["all-MiniLM-L6-v2"], "--input", "hello world",
                       "--json")
    assert code == 0 and len(last_json(out)["result"]["embedding"]) == 384
    code, out, _ = cli(data_dir, capsys, "model", "run", added["all-MiniLM-L6-v2"], "--input", "hello world")
    assert code == 0 and "embedding of 384 floats" in out


def test_typed_errors_and_exit_codes(added: dict[str, str], data_dir: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "short.json"
    bad.write_text("[1, 2, 3]")
    code, _, err = cli(data_dir, capsys, "model", "run", added["digits"], "--input", str(bad))
    assert code == 6 and "shape" in err and "hint" in err
    code, _, err = cli(data_dir, capsys, "model", "run",
                       "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi", "--input", "x")
    assert code == 6 and "unknown model CID" in err
    code, _, err = cli(data_dir, capsys, "model", "show", "not-a-cid")
    assert code == 6 and "not a CID" in err
    code, _, err = cli(data_dir, capsys, "model", "run", added["textgen"])
    assert code == 6 and "needs --input" in err
    code, _, err = cli(data_dir, capsys, "model", "run", added["textgen"], "--input", "x", "--temperature", "50")
    assert code == 6 and "temperature" in err
    code, _, err = cli(data_dir, capsys, "model", "add", str(tmp_path / "nothing"))
    assert code == 6 and "does not exist" in err
    code, _, err = cli(data_dir, capsys, "model", "run", added["imagegen"], "--input", "1", "--device", "cuda")
    assert code == 6 and "CUDA" in err  # this machine has no GPU: refused, never a silent CPU run


def test_add_a_bare_onnx_file(data_dir: Path, demo_dirs: dict[str, Path], tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    onnx_file = tmp_path / "mnistish.onnx"
    onnx_file.write_bytes((demo_dirs["digits"] / "model.onnx").read_bytes())
    code, out, _ = cli(data_dir, capsys, "model", "add", str(onnx_file), "--json")
    cid = last_json(out)["cid"]
    assert code == 0 and last_json(out)["name"] == "mnistish"
    code, out, _ = cli(data_dir, capsys, "model", "run", cid, "--input", json.dumps([0] * 64), "--json")
    assert code == 0 and len(last_json(out)["result"]["predictions"]) == 1


def test_finetune_from_a_dataset_folder(added: dict[str, str], data_dir: Path, demo_dirs: dict[str, Path],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    shifted = demo_dirs["digits"].parent / "datasets" / "digits-shifted-train"
    code, out, _ = cli(data_dir, capsys, "model", "finetune", added["digits"], "--dataset", str(shifted),
                       "--epochs", "2", "--checkpoint-every", "30", "--json")
    result = last_json(out)
    assert code == 0 and result["result"]["steps"] == 86 and result["result"]["checkpoints"] == 4
    child = result["result"]["model"]
    code, out, _ = cli(data_dir, capsys, "model", "show", child, "--json")
    parents = {p["role"] for p in last_json(out)["parents"]}
    assert parents == {"model", "dataset"}
    code, out, _ = cli(data_dir, capsys, "model", "ls", "--json")
    assert "digits-finetuned" in {m["name"] for m in last_json(out)["models"]}
    code, out, err = cli(data_dir, capsys, "model", "finetune", added["textgen"], "--dataset", str(shifted))
    assert code == 6 and "needs a 'classify' model" in err and "fine-tuning" in err
