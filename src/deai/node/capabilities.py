"""The capability document a provider publishes by CID in the Registry.

It tells clients and the market what a provider can run (hardware, runtimes, models) and
what it charges per workload kind. The document is canonical JSON so its CID is stable.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

CAPABILITIES_VERSION = 1


class GpuInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    memory_mb: int


class Hardware(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cpus: int = Field(ge=1)
    memory_mb: int = Field(ge=1)
    gpus: tuple[GpuInfo, ...] = ()


class Capabilities(BaseModel):
    """What one provider offers; prices are in the token's smallest unit, per job of a kind."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = CAPABILITIES_VERSION
    provider: str
    endpoint: str
    hardware: Hardware
    runtimes: tuple[str, ...]
    models: tuple[str, ...] = Field(description="CIDs of the models this provider serves.")
    prices: dict[str, int] = Field(description="Workload kind → price per job.")
    max_concurrent_jobs: int = Field(default=1, ge=1)

    def canonical_bytes(self) -> bytes:
        data = self.model_dump(mode="json")
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def _memory_mb() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError):
        pass
    return 1024


def _gpus() -> tuple[GpuInfo, ...]:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a base dependency
        return ()
    if not torch.cuda.is_available():
        return ()
    return tuple(
        GpuInfo(
            name=torch.cuda.get_device_name(i),
            memory_mb=torch.cuda.get_device_properties(i).total_memory // 2**20,
        )
        for i in range(torch.cuda.device_count())
    )


def detect_hardware() -> Hardware:
    """This machine's CPUs, memory and CUDA GPUs (none on a CPU-only machine)."""
    return Hardware(cpus=os.cpu_count() or 1, memory_mb=_memory_mb(), gpus=_gpus())
