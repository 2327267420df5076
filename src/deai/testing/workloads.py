"""Small importable workloads for tests of worker processes (spawned workers import them by name)."""

from __future__ import annotations

import os
import time

from deai.errors import InputError


def square(x: int) -> int:
    return x * x


def worker_pid() -> int:
    return os.getpid()


def sleep_forever() -> None:
    time.sleep(3600)


def hog_memory(mib: int) -> int:
    """Allocate and touch ``mib`` MiB, then linger so the parent can see the resident size."""
    block = bytearray(mib * 2**20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    time.sleep(5)
    return len(block)


def bad_input() -> None:
    raise InputError("expected 64 pixels, got 3")


def divide_by_zero() -> float:
    return 1 / 0


def die() -> None:
    os._exit(3)
