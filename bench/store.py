"""deai.store benchmark: CID hashing vs raw sha256, peak RSS of a 2 GiB add, gateway speed.

- ``cid_throughput_ratio``: ``cid_of_path`` (``deai store add --only-hash``) over a file,
  divided into raw ``hashlib.sha256`` over the same bytes read the same way, in this run
  (throughput of the importer / throughput of sha256; best of 3 each, page cache warm).
- ``add_peak_rss_mib``: a child process adds the file to a fresh LocalStore and reports
  its peak RSS (VmHWM); ``get_peak_rss_mib`` the same child writing it back out.
- ``gateway_fetch_mb_s``: a real uvicorn gateway on a loopback port serves that store;
  ``GatewayClient.cat`` streams the file as a CAR and verifies every block.
- ``--backends``: one-file-per-block folders vs a SQLite blob table, put and get of
  1 MiB blocks (the measurement behind FsBlockstore's design).

    .venv/bin/python bench/store.py [--size-mib 2048] [--backends] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from deai.store import (
    RAW,
    FsBlockstore,
    GatewayClient,
    GatewayServer,
    LocalStore,
    cid_for_block,
    cid_of_path,
)

MIB = 1024 * 1024

CHILD = r"""
import json, sys
from pathlib import Path
from deai.store import LocalStore

def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0

src, root, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
baseline = peak()
store = LocalStore(root)
started = __import__("time").perf_counter()
cid = store.add_path(src)
add_s = __import__("time").perf_counter() - started
add_peak = peak()
store.get(cid, out)
print(json.dumps({"cid": cid, "baseline": baseline, "add_peak": add_peak, "get_peak": peak(), "add_s": add_s}))
"""


def make_file(path: Path, size_mib: int) -> None:
    """Distinct 1 MiB chunks (a counter over random bytes), so nothing deduplicates."""
    block = os.urandom(MIB)
    with open(path, "wb") as out:
        for i in range(size_mib):
            out.write(i.to_bytes(8, "little") + block[8:])


def raw_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(MIB)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while n := handle.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def best_of(runs: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def measure_hashing(path: Path) -> dict[str, float]:
    size = path.stat().st_size / MIB
    raw_sha256(path)  # warm the page cache
    raw_s = best_of(3, lambda: raw_sha256(path))
    cid_s = best_of(3, lambda: cid_of_path(path))
    return {"raw_mb_s": size / raw_s, "cid_mb_s": size / cid_s, "ratio": raw_s / cid_s}


def measure_rss(path: Path, work: Path) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), str(work / "store"), str(work / "copy.bin")],
                          capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    (work / "copy.bin").unlink()
    return result


def measure_gateway(store_root: Path, cid: str, size_bytes: int) -> float:
    store = LocalStore(store_root)
    with GatewayServer(store) as server, GatewayClient([server.url], timeout=120) as client:
        started = time.perf_counter()
        received = 0
        for chunk in client.cat(cid):
            received += len(chunk)
        elapsed = time.perf_counter() - started
    assert received == size_bytes
    return size_bytes / MIB / elapsed


def measure_backends(work: Path, blocks: int = 256) -> dict[str, dict[str, float]]:
    payloads = [i.to_bytes(8, "little") + os.urandom(MIB - 8) for i in range(blocks)]
    cids = [cid_for_block(p, RAW) for p in payloads]
    out: dict[str, dict[str, float]] = {}

    fs = FsBlockstore(work / "fs")
    put_s = best_of(1, lambda: [fs.put(c, p) for c, p in zip(cids, payloads, strict=True)])
    get_s = best_of(1, lambda: [fs.get(c) for c in cids])
    out["sharded folders"] = {"put_mb_s": blocks / put_s, "get_mb_s": blocks / get_s}

    db = sqlite3.connect(work / "blocks.sqlite")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE blocks (key TEXT PRIMARY KEY, data BLOB)")

    def sqlite_put() -> None:
        for c, p in zip(cids, payloads, strict=True):
            with db:
                db.execute("INSERT OR IGNORE INTO blocks VALUES (?, ?)", (c.key, p))

    def sqlite_get() -> None:
        for c in cids:
            (data,) = db.execute("SELECT data FROM blocks WHERE key = ?", (c.key,)).fetchone()
            hashlib.sha256(data).digest()  # the same verification FsBlockstore.get does

    put_s = best_of(1, sqlite_put)
    get_s = best_of(1, sqlite_get)
    db.close()
    out["sqlite blobs"] = {"put_mb_s": blocks / put_s, "get_mb_s": blocks / get_s}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=2048, help="file size (default 2048 = 2 GiB)")
    parser.add_argument("--backends", action="store_true", help="also compare folders vs SQLite")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="deai-bench-store-"))
    try:
        src = work / "data.bin"
        make_file(src, args.size_mib)
        hashing = measure_hashing(src)
        rss = measure_rss(src, work)
        src.unlink()
        gateway = measure_gateway(work / "store", str(rss["cid"]), args.size_mib * MIB)
        backends = measure_backends(work) if args.backends else {}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"deai.store, {args.size_mib} MiB file, profile unixfs-v1-2025")
    print(f"{'measure':<40} {'value':>12}")
    print(f"{'raw sha256 (MB/s)':<40} {hashing['raw_mb_s']:>12.0f}")
    print(f"{'add --only-hash (MB/s)':<40} {hashing['cid_mb_s']:>12.0f}")
    print(f"{'cid_throughput_ratio (target >= 0.7)':<40} {hashing['ratio']:>12.3f}")
    print(f"{'add to disk (MB/s)':<40} {args.size_mib / rss['add_s']:>12.0f}")
    print(f"{'add_peak_rss_mib (target <= 100)':<40} {rss['add_peak']:>12.1f}")
    print(f"{'get_peak_rss_mib':<40} {rss['get_peak']:>12.1f}")
    print(f"{'gateway_fetch_mb_s (verified)':<40} {gateway:>12.0f}")
    for name, figures in backends.items():
        print(f"{'blockstore ' + name + ' put/get (MB/s)':<40} {figures['put_mb_s']:>6.0f}/{figures['get_mb_s']:<5.0f}")
    if args.json:
        print(json.dumps({
            "size_mib": args.size_mib,
            "cid_throughput_ratio": round(hashing["ratio"], 3),
            "raw_sha256_mb_s": round(hashing["raw_mb_s"], 1),
            "cid_only_hash_mb_s": round(hashing["cid_mb_s"], 1),
            "add_peak_rss_mib": round(rss["add_peak"], 1),
            "get_peak_rss_mib": round(rss["get_peak"], 1),
            "gateway_fetch_mb_s": round(gateway, 1),
            "backends": backends,
        }))


if __name__ == "__main__":
    main()
