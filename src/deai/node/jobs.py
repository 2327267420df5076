"""What a worker process runs for one job: execute the spec, store the result document.

``run_job`` executes in a worker process (see workers.py), so its arguments and return
value are plain data. It keeps one ``Executor`` per store per process, so a model loaded
for one job stays loaded for the next. The result document is the ``WorkloadResult`` as
canonical JSON, stored (and pinned) by CID: that CID is the ``outputCid`` a provider
commits, and ``result_hash`` (over the output CIDs alone, never timings) is the value
validators compare. For ``rescore`` jobs the document also names the TOPLOC-style
commitment of the generation's activations (``deai.verify.commitment.with_commitment``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from deai.runtime.execute import Executor, WorkloadResult
from deai.runtime.spec import WorkloadSpec, canonical_json
from deai.store import LocalStore
from deai.verify.commitment import with_commitment

_EXECUTORS: dict[str, Executor] = {}


@dataclass(frozen=True)
class JobOutcome:
    """A finished run: the result document's CID and the hash to commit."""

    output_cid: str
    result_hash: str
    run_s: float
    cpu_s: float


def executor_for(store_root: str, cache_dir: str) -> Executor:
    key = f"{store_root}\0{cache_dir}"
    if key not in _EXECUTORS:
        _EXECUTORS[key] = Executor(LocalStore(Path(store_root)), cache_dir=Path(cache_dir))
    return _EXECUTORS[key]


def result_document(result: WorkloadResult) -> bytes:
    return canonical_json(result.model_dump(mode="json"))


def run_job(store_root: str, cache_dir: str, spec_bytes: bytes, delay_s: float = 0.0) -> JobOutcome:
    """Execute one spec against the node's store; ``delay_s`` models a slow machine (demo)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    spec = WorkloadSpec.parse(spec_bytes)
    executor = executor_for(store_root, cache_dir)
    store = executor.store
    assert isinstance(store, LocalStore)
    # rescore jobs: the TOPLOC-style activation commitment rides in the committed document
    result = with_commitment(executor.execute(spec), spec, store.add_bytes)
    if delay_s > 0:
        time.sleep(delay_s)
    output_cid = str(store.add_bytes(result_document(result)))
    return JobOutcome(
        output_cid=output_cid,
        result_hash=result.result_hash,
        run_s=time.perf_counter() - started,
        cpu_s=time.process_time() - cpu_started,
    )


def warm_up() -> None:
    """Worker initializer: import the heavy runtimes once, before the first job arrives."""
    import torch  # noqa: F401

    import deai.runtime.execute  # noqa: F401
