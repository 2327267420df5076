"""Job path benchmark: latency and throughput of real jobs, and what the node costs in CPU.

Starts a devnet mining a block every second (as a real chain would, not on demand) and
three provider processes, then measures in one run:

- ``job_latency_s_p50``: one job at a time, from posting to the client holding the
  verified result (bid window, assignment, run, commit, fetch). The challenge window that
  follows is excluded (it is a chosen wait, not work: 4 s here) and so is finalization.
- ``jobs_per_minute``: a burst of jobs from two clients across the three providers, from
  the first post until every result is committed.
- ``node_overhead_ratio``: CPU time of a provider's whole process tree (daemon and worker)
  per job, over the CPU time the runtime itself needs for the same workload when called
  directly in this process (embeddings of 64 sentences with MiniLM, so the work is real).

Run: ``.venv/bin/python bench/jobpath.py [--json] [--jobs N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from deai.chain.devnet import demo_account
from deai.chain.types import JobStatus
from deai.client import Client, Job
from deai.runtime.demo_models import demo_model_dirs
from deai.runtime.execute import Executor
from deai.runtime.spec import WorkloadSpec
from deai.store import LocalStore
from deai.testing.network import LocalNetwork, ProviderSpec
from deai.units import tokens

SENTENCES = [f"sentence number {i} about verifiable decentralized inference" for i in range(64)]


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and all its live descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        stats[int(entry)] = (int(fields[11]) + int(fields[12])) / ticks
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        total += stats.get(current, 0.0)
        stack.extend(children.get(current, []))
    return total


def embed_spec(client: Client, model: str, salt: int) -> dict[str, object]:
    texts = [f"{s} ({salt})" for s in SENTENCES]
    return {"kind": "embed", "model": model, "inputs": [client.add_bytes(json.dumps(texts).encode())]}


def wait_committed(job: Job, timeout: float = 120.0) -> None:
    status = job.wait(until=JobStatus.COMMITTED, timeout=timeout, poll_s=0.05)
    if status < JobStatus.COMMITTED or status in (JobStatus.EXPIRED, JobStatus.REJECTED):
        raise SystemExit(f"job {job.id} did not commit: {job.why()}")


def direct_runtime_cpu_s(model_dir: Path, work: Path) -> float:
    """CPU seconds of the runtime alone for one embedding workload (model already loaded)."""
    store = LocalStore(work / "direct")
    model = str(store.add_path(model_dir))
    inputs = str(store.add_bytes(json.dumps(SENTENCES).encode()))
    executor = Executor(store, cache_dir=work / "direct-cache")
    spec = WorkloadSpec.parse({"kind": "embed", "model": model, "inputs": [inputs]})
    executor.execute(spec)  # load once, as a provider's worker keeps it loaded
    runs = []
    for _ in range(5):
        started = time.process_time()
        executor.execute(spec)
        runs.append(time.process_time() - started)
    return statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    parser.add_argument("--jobs", type=int, default=12, help="jobs in the throughput burst")
    parser.add_argument("--latency-jobs", type=int, default=5, help="sequential jobs for latency")
    args = parser.parse_args()

    minilm = demo_model_dirs()["minilm"]
    with tempfile.TemporaryDirectory(prefix="deai-bench-jobpath-") as tmp:
        work = Path(tmp)
        direct_cpu = direct_runtime_cpu_s(minilm, work)
        prices = ("embed=1",)
        network = LocalNetwork(
            work / "net", challenge_window_s=4, block_time=1.0,
            providers=[ProviderSpec(f"provider{i}", prices, (minilm,), max_jobs=4) for i in (1, 2, 3)],
        )
        with network:
            alice = Client.from_config(network.client_config("client1"), demo_account("client1"))
            bob = Client.from_config(network.client_config("client2"), demo_account("client2"))
            model = alice.add_path(minilm)
            bob.add_path(minilm)

            # Latency: one job at a time.
            latencies = []
            for i in range(args.latency_jobs):
                spec = embed_spec(alice, model, salt=i)
                started = time.perf_counter()
                job = alice.submit(spec, max_price=tokens(2), bid_window_s=3)
                wait_committed(job)
                job.result()
                latencies.append(time.perf_counter() - started)

            # Throughput and CPU: a burst across three providers.
            pids = [p.process.pid for p in network.running if p.process is not None]
            cpu_before = sum(tree_cpu_s(pid) for pid in pids)
            started = time.perf_counter()
            jobs = [
                (alice if i % 2 == 0 else bob).submit(
                    embed_spec(alice if i % 2 == 0 else bob, model, salt=1000 + i),
                    max_price=tokens(2), bid_window_s=4,
                )
                for i in range(args.jobs)
            ]
            for job in jobs:
                wait_committed(job)
            burst_s = time.perf_counter() - started
            cpu_after = sum(tree_cpu_s(pid) for pid in pids)
            runs = sum(httpx.get(f"{p.url}/v1/stats").json()["jobs_run"] for p in network.running)
            node_cpu_per_job = (cpu_after - cpu_before) / max(1, args.jobs)

    result = {
        "job_latency_s_p50": round(statistics.median(latencies), 3),
        "jobs_per_minute": round(args.jobs / burst_s * 60, 1),
        "node_overhead_ratio": round(node_cpu_per_job / direct_cpu, 2),
        "node_cpu_s_per_job": round(node_cpu_per_job, 4),
        "runtime_cpu_s_per_job": round(direct_cpu, 4),
        "jobs_run": runs,
        "challenge_window_s_excluded": 4,
        "block_time_s": 1.0,
    }
    print(f"{'measure':<32}{'value':>12}")
    for key, value in result.items():
        print(f"{key:<32}{value:>12}")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
