"""Which device a run uses: CPU always works; CUDA when asked for and present.

``resolve_device("auto")`` picks CUDA when PyTorch sees a GPU and the CPU otherwise;
``"cuda"`` without a GPU is an error rather than a silent fallback, so a provider never
advertises GPU work it cannot do. onnxruntime gets the CUDA execution provider only when
its build has one. Canonical runs on CUDA also need cuBLAS's fixed workspace setting, which
cuBLAS reads from the process environment (set before the first CUDA matmul).
"""

from __future__ import annotations

import os

import torch

from deai.errors import WorkloadError


def cuda_available() -> bool:
    return bool(torch.cuda.is_available())


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device == "cpu":
        return "cpu"
    if device.startswith("cuda"):
        if not cuda_available():
            raise WorkloadError(
                f"device {device!r} asked for, but PyTorch sees no CUDA GPU",
                hint="use --device cpu, or install a CUDA build of PyTorch (deai[gpu]) on a GPU machine",
            )
        return device
    raise WorkloadError(f"unknown device {device!r}", hint="use cpu, cuda, cuda:N or auto")


def prepare_cuda_determinism() -> None:
    # cuBLAS picks reduction strategies per workspace size; a fixed one makes float32
    # matmuls repeatable (PyTorch refuses deterministic mode on CUDA without it).
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def onnx_providers(device: str) -> list[str]:
    """onnxruntime execution providers for a device, CPU always last as the fallback."""
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in available:
            raise WorkloadError(
                "onnxruntime has no CUDA execution provider",
                hint="install onnxruntime-gpu on a GPU machine, or run on the CPU",
            )
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]
