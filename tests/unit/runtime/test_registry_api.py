"""The framework registry, the public surface of deai.runtime, and lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

import deai.runtime
from deai.errors import ModelError
from deai.runtime.base import frameworks, get_runtime


def test_known_frameworks_load_their_runtime() -> None:
    assert {"onnx", "torch", "sentence-transformers", "transformers"} <= set(frameworks())
    runtime = get_runtime("onnx")
    assert runtime.framework == "onnx" and get_runtime("onnx") is runtime
    assert "onnxruntime" in runtime.versions()


def test_unknown_framework_says_did_you_mean() -> None:
    with pytest.raises(ModelError) as info:
        get_runtime("onnxx")
    assert "unknown framework 'onnxx'" in info.value.message
    assert "did you mean 'onnx'" in info.value.hint


def test_public_names_resolve() -> None:
    for name in deai.runtime.__all__:
        assert getattr(deai.runtime, name) is not None
    with pytest.raises(AttributeError):
        deai.runtime.nope  # noqa: B018


def test_importing_the_spec_does_not_import_torch() -> None:
    code = "import sys, deai.runtime.spec; print('torch' in sys.modules, 'onnxruntime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
