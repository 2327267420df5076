"""Streaming: adding and getting a large file keeps the process small.

A child process writes a 256 MiB file (distinct chunks, so nothing deduplicates), adds it
to a LocalStore, writes it back out with ``get``, checks the bytes, and reports its peak
RSS from ``getrusage``. bench/store.py runs the same child with 2 GiB.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import hashlib, json, os, resource, sys
from pathlib import Path
from deai.store import LocalStore

size_mib, work, profile = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
src = work / "big.bin"
block = os.urandom(1 << 20)
digest = hashlib.sha256()
with open(src, "wb") as out:
    for i in range(size_mib):
        chunk = i.to_bytes(8, "little") + block[8:]
        out.write(chunk)
        digest.update(chunk)
def peak():
    # VmHWM: this address space's high-water mark. ru_maxrss would do, but Linux carries it
    # over fork and exec, so a child of a big pytest process would report its parent's peak.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
baseline = peak()
store = LocalStore(work / "store")
cid = store.add_path(src, profile=profile)
after_add = peak()
src.unlink()
store.get(cid, work / "copy.bin")
check = hashlib.sha256()
with open(work / "copy.bin", "rb") as handle:
    while chunk := handle.read(1 << 20):
        check.update(chunk)
print(json.dumps({"cid": cid, "baseline_mib": baseline, "add_peak_mib": after_add, "peak_mib": peak(),
                  "same": check.digest() == digest.digest()}))
"""


def run_child(size_mib: int, work: Path, profile: str = "unixfs-v1-2025") -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(size_mib), str(work), profile],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_add_and_get_256_mib_stay_under_100_mib_rss(tmp_path: Path) -> None:
    result = run_child(256, tmp_path)
    assert result["same"] is True
    assert float(result["peak_mib"]) < 100, result  # type: ignore[arg-type]
