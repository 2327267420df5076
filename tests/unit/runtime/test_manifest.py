"""Model manifests: writing, checking files against their sha256, and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deai.errors import ModelError
from deai.runtime.manifest import (
    MANIFEST_NAME,
    ModelManifest,
    list_files,
    read_manifest,
    verify_model_dir,
    write_manifest,
)


def make_model(folder: Path) -> ModelManifest:
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"graph bytes")
    (folder / "sub").mkdir()
    (folder / "sub" / "extra.bin").write_bytes(b"\x00" * 10)
    (folder / ".hidden").write_text("left out, as the store leaves it out")
    return write_manifest(folder, ModelManifest(
        name="m", framework="onnx", task="classify", license="MIT", entrypoint="model.onnx"))


def test_write_lists_files_with_hashes_and_verify_accepts(tmp_path: Path) -> None:
    manifest = make_model(tmp_path / "m")
    assert [f.path for f in manifest.files] == ["model.onnx", "sub/extra.bin"]
    assert manifest.file("model.onnx") is not None and manifest.file("model.onnx").size == 11  # type: ignore[union-attr]
    assert verify_model_dir(tmp_path / "m") == manifest
    # stable bytes: writing the same folder twice gives the same manifest file
    first = (tmp_path / "m" / MANIFEST_NAME).read_bytes()
    write_manifest(tmp_path / "m", manifest)
    assert (tmp_path / "m" / MANIFEST_NAME).read_bytes() == first


def test_a_changed_file_is_refused(tmp_path: Path) -> None:
    make_model(tmp_path / "m")
    (tmp_path / "m" / "model.onnx").write_bytes(b"graph bytez")  # same size, other bytes
    with pytest.raises(ModelError, match="does not match the sha256"):
        verify_model_dir(tmp_path / "m")


def test_a_truncated_or_missing_file_is_refused(tmp_path: Path) -> None:
    make_model(tmp_path / "m")
    (tmp_path / "m" / "model.onnx").write_bytes(b"short")
    with pytest.raises(ModelError, match="bytes but its manifest says"):
        verify_model_dir(tmp_path / "m")
    (tmp_path / "m" / "model.onnx").unlink()
    with pytest.raises(ModelError, match="missing"):
        verify_model_dir(tmp_path / "m")


def test_missing_or_malformed_manifest(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"has no deai-model\.json"):
        read_manifest(tmp_path / "empty")
    make_model(tmp_path / "m")
    doc = json.loads((tmp_path / "m" / MANIFEST_NAME).read_text())
    doc["task"] = "juggle"
    (tmp_path / "m" / MANIFEST_NAME).write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="task"):
        read_manifest(tmp_path / "m")
    (tmp_path / "m" / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(ModelError, match="not a valid model manifest"):
        read_manifest(tmp_path / "m")


def test_paths_outside_the_folder_and_links_are_refused(tmp_path: Path) -> None:
    manifest = make_model(tmp_path / "m")
    doc = manifest.model_dump(mode="json")
    doc["files"][0]["path"] = "../escape"
    with pytest.raises(Exception, match="inside the model folder"):
        ModelManifest.model_validate(doc)
    (tmp_path / "secret").write_bytes(b"graph bytes")
    (tmp_path / "m" / "model.onnx").unlink()
    (tmp_path / "m" / "model.onnx").symlink_to(tmp_path / "secret")
    with pytest.raises(ModelError, match="link"):
        verify_model_dir(tmp_path / "m")


def test_entrypoint_must_be_a_listed_file(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"w")
    write_manifest(folder, ModelManifest(name="m", framework="onnx", task="classify", license="MIT",
                                         entrypoint="model.onnx"))
    with pytest.raises(ModelError, match="entrypoint"):
        verify_model_dir(folder)


def test_hidden_files_are_not_listed(tmp_path: Path) -> None:
    make_model(tmp_path / "m")
    assert all(not f.path.startswith(".") for f in list_files(tmp_path / "m"))
