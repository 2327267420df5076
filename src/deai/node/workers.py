"""Run workloads in separate processes with a time and a memory budget.

A provider must never hang on a job, and one bad job must not take the node down. Each
worker is a long-lived ``spawn``ed process (so runtimes are imported once, not per job,
and no thread state leaks in through ``fork``). The parent waits for the answer while
watching the clock and the worker's resident memory (``/proc/<pid>/status``); a worker
over budget is killed with SIGKILL, replaced by a fresh one, and the caller gets
``JobTimedOut`` or ``JobOutOfMemory``. A worker that dies gives ``WorkerCrashed``. A
``DeaiError`` raised by the workload itself (bad input, unknown model) passes through
unchanged and the worker stays up.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import queue
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from deai.errors import DeaiError, JobOutOfMemory, JobTimedOut, WorkerCrashed

_POLL_S = 0.02


@dataclass(frozen=True)
class Limits:
    """A job's budget: wall-clock seconds and resident memory in MiB."""

    timeout_s: float = 600.0
    memory_mib: int = 4096


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when its node dies (kill -9 included): no orphans."""
    with contextlib.suppress(Exception):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _worker_main(conn: Connection, initializer: Callable[[], None] | None) -> None:
    _die_with_parent()
    if initializer is not None:
        initializer()
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        except Exception as exc:  # the task did not unpickle here (e.g. a function not importable)
            conn.send(("crash", f"{type(exc).__name__}: {exc}"))
            continue
        if task is None:
            return
        fn, args = task
        try:
            conn.send(("ok", fn(*args)))
        except DeaiError as exc:
            conn.send(("deai", exc))
        except BaseException as exc:  # anything else is reported, never kills the loop
            conn.send(("crash", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


class _Worker:
    def __init__(self, ctx: Any, initializer: Callable[[], None] | None) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, initializer), daemon=True)
        self.process.start()
        child.close()
        self.peak_rss_mib = 0.0

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class WorkerPool:
    """A fixed number of worker processes; ``run`` blocks until the job ends one way or another."""

    def __init__(self, size: int = 1, *, initializer: Callable[[], None] | None = None) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        self._ctx = mp.get_context("spawn")
        self._initializer = initializer
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(size):
            self._idle.put(_Worker(self._ctx, initializer))

    def run(self, fn: Callable[..., Any], *args: Any, limits: Limits = Limits()) -> Any:
        """Run ``fn(*args)`` in a worker within ``limits``; its return value must pickle."""
        if self._closed:
            raise WorkerCrashed("the worker pool is closed", hint="start the node again")
        worker = self._idle.get()
        replace = False
        try:
            worker.conn.send((fn, args))
            started = time.monotonic()
            while not worker.conn.poll(_POLL_S):
                if not worker.process.is_alive():
                    replace = True
                    raise WorkerCrashed(f"the worker died (exit code {worker.process.exitcode})")
                elapsed = time.monotonic() - started
                if elapsed > limits.timeout_s:
                    replace = True
                    raise JobTimedOut(
                        f"the job ran past its {limits.timeout_s:g} s budget and was killed"
                    )
                rss = rss_mib(worker.process.pid)
                worker.peak_rss_mib = max(worker.peak_rss_mib, rss)
                if rss > limits.memory_mib:
                    replace = True
                    raise JobOutOfMemory(
                        f"the job used {rss:.0f} MiB, over its {limits.memory_mib} MiB budget, and was killed"
                    )
            try:
                kind, payload = worker.conn.recv()
            except (EOFError, OSError):
                replace = True
                raise WorkerCrashed("the worker died before answering") from None
        finally:
            if replace:
                worker.kill()
                worker = _Worker(self._ctx, self._initializer)
            self._idle.put(worker)
        if kind == "ok":
            return payload
        if kind == "deai":
            raise payload
        raise WorkerCrashed(f"the workload raised {payload.splitlines()[0]}")

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                return
            with contextlib.suppress(Exception):
                worker.conn.send(None)
            worker.process.join(timeout=2)
            worker.kill()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
