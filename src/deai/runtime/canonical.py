"""The canonical deterministic mode that providers and validators share.

What it fixes (docs/runtime.md says per runtime what this buys):

- threads: a fixed intra-op thread count for PyTorch and onnxruntime, and one inter-op
  thread, so reductions are split the same way on every run;
- kernels: ``torch.use_deterministic_algorithms(True)``, onnxruntime's sequential
  execution mode with its default graph optimizations (the same on every run);
- seeds: every random draw comes from a ``torch.Generator`` seeded from the spec, never from
  the global RNG, so a concurrent caller cannot shift another's stream;
- dtypes: float32 weights and activations (no autocast, no TF32 on CUDA).

PyTorch keeps its thread count and determinism switch in process-wide state; the
:class:`TorchSettings` context applies and restores them, and callers hold its lock so two
runs in one process cannot interleave their settings.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

#: Threads used by canonical runs unless a caller asks for more (outputs the doc lists as
#: bit-exact do not depend on it).
CANONICAL_THREADS = 1

_torch_lock = threading.RLock()


@dataclass(frozen=True)
class RunSettings:
    """How one run executes: canonical or not, how many threads, on which device."""

    canonical: bool = True
    threads: int = CANONICAL_THREADS
    device: str = "cpu"

    def describe(self) -> dict[str, object]:
        return {"canonical": self.canonical, "threads": self.threads, "device": self.device}


@contextmanager
def torch_settings(settings: RunSettings) -> Iterator[None]:
    """Apply thread count and determinism for the duration of one run, then restore them."""
    with _torch_lock:
        threads_before = torch.get_num_threads()
        deterministic_before = torch.are_deterministic_algorithms_enabled()
        tf32_before = torch.backends.cuda.matmul.allow_tf32
        try:
            if threads_before != settings.threads:
                torch.set_num_threads(settings.threads)
            if settings.canonical:
                torch.use_deterministic_algorithms(True)
                # TF32 changes float32 matmul results on Ampere+ GPUs: never in canonical mode.
                torch.backends.cuda.matmul.allow_tf32 = False
            yield
        finally:
            if torch.get_num_threads() != threads_before:
                torch.set_num_threads(threads_before)
            torch.use_deterministic_algorithms(deterministic_before)
            torch.backends.cuda.matmul.allow_tf32 = tf32_before


def generator(seed: int, device: str = "cpu") -> torch.Generator:
    """A private RNG stream for one run (CPU streams are the same on every machine)."""
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen
