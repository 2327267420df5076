"""Our CIDs against an independent implementation: the JS ``ipfs-unixfs-importer``.

Sizes 0, 1, chunk − 1, chunk, chunk + 1, many chunks and more than one tree level, for
both profiles, plus folders (nested, empty, HAMT-sharded). The JS side runs once, in one
node process, over files written to a temporary folder; any divergence fails a test.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from deai.store import cid_of_path
from deai.store._profiles import Profile

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = Path(__file__).with_name("reference_cid.mjs")
KIB256 = 256 * 1024
MIB = 1024 * 1024

# name -> (size, our profile, the JS job's options)
V1_CUSTOM = Profile("v1-1k", chunk_size=1024, max_links=1024)
KUBO_TINY = Profile("kubo-256", chunk_size=256, max_links=174, hamt_estimate="links-bytes")
FILES: dict[str, tuple[int, str | Profile, dict[str, object]]] = {
    **{
        f"kubo-v1-{label}": (size, "kubo-v1", {"profile": "kubo-v1"})
        for label, size in {
            "0": 0, "1": 1, "chunk-1": KIB256 - 1, "chunk": KIB256, "chunk+1": KIB256 + 1,
            "many": 9 * KIB256 + 7, "max-links": 174 * KIB256, "two-levels": 174 * KIB256 + 1,
        }.items()
    },
    **{
        f"unixfs-v1-2025-{label}": (size, "unixfs-v1-2025", {"profile": "unixfs-v1-2025"})
        for label, size in {
            "0": 0, "1": 1, "chunk-1": MIB - 1, "chunk": MIB, "chunk+1": MIB + 1, "many": 5 * MIB + 3,
        }.items()
    },
    # 1024 links with 1 KiB chunks: the v1-2025 layout past one level without a 1 GiB file
    "v1-layout-two-levels": (1024 * 1024 + 1, V1_CUSTOM, {
        "profile": "custom", "chunkSize": 1024, "maxChildren": 1024, "rawLeaves": True,
        "cidVersion": 1, "shardSplitStrategy": "block-bytes"}),
    # 174 links with 256-byte chunks: three levels in 7.6 MiB
    "kubo-layout-three-levels": (174 * 174 * 256 + 1, KUBO_TINY, {
        "profile": "custom", "chunkSize": 256, "maxChildren": 174, "rawLeaves": True,
        "cidVersion": 1, "shardSplitStrategy": "links-bytes"}),
}
TREES = {
    "nested-kubo-v1": "kubo-v1",
    "nested-unixfs-v1-2025": "unixfs-v1-2025",
    "hamt-kubo-v1": "kubo-v1",
    "hamt-unixfs-v1-2025": "unixfs-v1-2025",
}


def _make_nested(root: Path, rng: random.Random) -> None:
    (root / "models" / "weights").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "README.md").write_bytes(b"# model\n")
    (root / "models" / "config.json").write_bytes(b'{"layers": 4}\n')
    (root / "models" / "weights" / "part-0.bin").write_bytes(rng.randbytes(2 * MIB + 5))
    (root / "models" / "weights" / "part-1.bin").write_bytes(rng.randbytes(300_000))
    (root / "\u00fcnicode-n\u00e4me.txt").write_bytes(b"utf-8 names\n")


def _make_hamt(root: Path) -> None:
    root.mkdir()
    for i in range(3000):
        (root / f"sample-{i:05d}-{'abcdefghij' * 5}.txt").write_bytes(str(i).encode())


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str | Profile, str]]:
    """Every case's path, our profile and the JS importer's CID."""
    if shutil.which("node") is None or not (ROOT / "tools/npm/node_modules/ipfs-unixfs-importer").is_dir():
        pytest.fail("node and tools/npm/ipfs-unixfs-importer are needed: run `make setup`")
    base = tmp_path_factory.mktemp("reference")
    rng = random.Random(499)
    paths: dict[str, tuple[Path, str | Profile, dict[str, object]]] = {}
    for name, (size, profile, job) in FILES.items():
        path = base / name
        path.write_bytes(rng.randbytes(size))
        paths[name] = (path, profile, job)
    for name, profile in TREES.items():
        path = base / name
        _make_hamt(path) if name.startswith("hamt") else _make_nested(path, rng)
        paths[name] = (path, profile, {"profile": profile})
    jobs = [{"path": str(path), **job} for path, _, job in paths.values()]
    proc = subprocess.run(["node", str(SCRIPT), str(ROOT)], input=json.dumps(jobs),
                          capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    reference = json.loads(proc.stdout)
    return {name: (path, profile, ref) for (name, (path, profile, _)), ref in zip(paths.items(), reference, strict=True)}


@pytest.mark.parametrize("name", [*FILES, *TREES])
def test_cid_matches_the_js_importer(cases: dict[str, tuple[Path, str | Profile, str]], name: str) -> None:
    path, profile, reference = cases[name]
    assert cid_of_path(path, profile=profile) == reference


def test_the_hamt_cases_really_shard(cases: dict[str, tuple[Path, str | Profile, str]], tmp_path: Path) -> None:
    from deai.store import LocalStore, _dagpb, _unixfs

    store = LocalStore(tmp_path / "s")
    for name in ("hamt-kubo-v1", "hamt-unixfs-v1-2025"):
        path, profile, reference = cases[name]
        assert store.add_path(path, profile=profile) == reference
        meta = _unixfs.decode(_dagpb.decode(store.get_block(reference)).data or b"")
        assert meta.type == _unixfs.NodeType.HAMT_SHARD
