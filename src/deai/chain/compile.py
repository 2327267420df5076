"""Compile the Vyper contracts in-process, caching artifacts by source hash.

An artifact is JSON with the ABI, the deploy bytecode, and where it came from: the
generator, the compiler version and the source path and hash. A source change (or a new
compiler) makes a new cache entry; an unchanged tree compiles nothing.

A contract may import a Vyper module from its own folder (``from . import committee``):
modules are the sources whose name starts in lower case; they are not contracts of their
own, and the sources a contract imports are part of its hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from deai.errors import ContractCompileError, did_you_mean

CONTRACTS_PACKAGE = "deai.chain.contracts"


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    compiler: str
    source_sha256: str


_MODULE_IMPORT = re.compile(r"^from \. import (\w+)", re.MULTILINE)


def contract_names() -> list[str]:
    root = resources.files(CONTRACTS_PACKAGE)
    return sorted(p.name[:-3] for p in root.iterdir() if p.name.endswith(".vy") and p.name[0].isupper())


def _imported_sources(source: str) -> str:
    """The text of the sibling modules ``source`` imports (and theirs), for the cache key."""
    root = resources.files(CONTRACTS_PACKAGE)
    seen: dict[str, str] = {}
    pending = _MODULE_IMPORT.findall(source)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        path = root / f"{name}.vy"
        seen[name] = path.read_text() if path.is_file() else ""
        pending.extend(_MODULE_IMPORT.findall(seen[name]))
    return "".join(f"\n{name}\n{seen[name]}" for name in sorted(seen))


def _source(name: str) -> tuple[str, str]:
    names = contract_names()
    if name not in names:
        raise ContractCompileError(
            f"no contract named {name!r}", hint=did_you_mean(name, names) or f"known: {names}"
        )
    path = resources.files(CONTRACTS_PACKAGE) / f"{name}.vy"
    return path.read_text(), str(path)


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "deai" / "contracts"


def compile_contract(name: str, cache_dir: Path | None = None) -> Artifact:
    """The compiled artifact of ``contracts/<name>.vy``, from the cache when the source is unchanged."""
    import vyper

    source, path = _source(name)
    compiler = f"vyper {vyper.__version__}"
    digest = hashlib.sha256(f"{compiler}\n{source}{_imported_sources(source)}".encode()).hexdigest()
    cache = (cache_dir or default_cache_dir()) / f"{name}-{digest[:16]}.json"
    if cache.is_file():
        data = json.loads(cache.read_text())
        return Artifact(name, data["abi"], bytes.fromhex(data["bytecode"]), compiler, digest)
    try:
        out = vyper.compile_code(source, output_formats=["abi", "bytecode"], contract_path=path)
    except Exception as exc:  # vyper raises many exception types, all compile failures
        raise ContractCompileError(f"{name}.vy failed to compile: {exc}") from None
    artifact = Artifact(name, out["abi"], bytes.fromhex(out["bytecode"][2:]), compiler, digest)
    _write_atomic(
        cache,
        {
            "generator": "deai.chain.compile",
            "compiler": compiler,
            "source": path,
            "source_sha256": digest,
            "abi": artifact.abi,
            "bytecode": artifact.bytecode.hex(),
        },
    )
    return artifact


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)
