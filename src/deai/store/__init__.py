"""deai.store: content-addressed storage that speaks IPFS.

A CID computed here is the CID ``ipfs add --cid-version 1`` (``kubo-v1``) or an IPIP-0499
``unixfs-v1-2025`` importer gives for the same bytes, so any gateway, pinning service or
Filecoin deal can hold deai data, and deai can take theirs back, verified.

Public API (import from ``deai.store``; the ``_modules`` may change)::

    store = LocalStore(Path("~/.deai/store"), quota_bytes=...)   # or LocalStore.from_config(config)
    cid = store.add_path(Path("model/"))              # file or folder, streamed, pinned
    store.cat(cid) / store.read_bytes(cid) / store.get(cid, out) / store.ls(cid)
    store.pin(cid) / store.unpin(cid) / store.gc() / store.stat()
    store.export_car(cid, fh) / store.import_car(fh)
    cid_of_bytes(b"...") / cid_of_path(path)           # --only-hash
    parse_cid("Qm…" | "bafy…") -> CID                  # CIDv0 read, CIDv1 read/write
    app.include_router(gateway_router(store))          # a node mounts the gateway
    GatewayClient([url, ...]).cat(cid) / .fetch(cid, store)

Files:

- ``_cid.py`` — class CID, ``parse_cid``, ``cid_for_block``, ``verify_block``; sha2-256
  with the raw and dag-pb codecs only (``UnsupportedCid`` otherwise); 2 MiB block limit.
- ``_multibase.py``, ``_varint.py``, ``_protobuf.py``, ``_cbor.py`` — the encodings under
  CIDs, dag-pb/UnixFS and CAR headers, written here rather than pulled in.
- ``_dagpb.py`` — dag-pb PBNode/PBLink, canonical encode and strict decode.
- ``_unixfs.py`` — the UnixFS Data message (file, directory, HAMT shard, symlink).
- ``_profiles.py`` — ``Profile``: ``unixfs-v1-2025`` (default), ``kubo-v1``, ``unixfs-v0-2015``.
- ``_importer.py`` — streaming balanced-DAG file builder, directories, HAMT switch.
- ``_hamt.py``, ``_murmur3.py`` — HAMT-sharded directories (murmur3-x64-64, fanout 256).
- ``_dag.py`` — readers: file ranges, directory listing, path resolution, DAG walks.
- ``_blockstore.py`` — ``Blockstore`` protocol, ``MemoryBlockstore``, ``FsBlockstore``
  (sharded folders, atomic writes, every read verified).
- ``_local.py`` — ``LocalStore``: blockstore + pins + quota + GC + CAR import/export.
- ``_car.py`` — CARv1 write, CARv1/v2 streaming read with per-block verification.
- ``_gateway_server.py`` — ``gateway_router``/``gateway_app`` (FastAPI) and
  ``GatewayServer`` (uvicorn in a thread); ``_gateway_client.py`` — ``GatewayClient``.

The gateway names load lazily, so importing ``deai.store`` to add or read files does not
pull in FastAPI, uvicorn or httpx (it keeps small tools and the RSS tests lean).
Design notes and measurements: docs/store.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deai.store._blockstore import Blockstore, FsBlockstore, MemoryBlockstore
from deai.store._car import CarHeader, CarReader, write_car
from deai.store._cid import (
    CID,
    DAG_PB,
    MAX_BLOCK_SIZE,
    RAW,
    cid_for_block,
    parse_cid,
    verify_block,
)
from deai.store._dag import DirEntry
from deai.store._local import (
    CarImport,
    GcResult,
    LocalStore,
    StoreStat,
    cid_of_bytes,
    cid_of_path,
)
from deai.store._profiles import DEFAULT_PROFILE, PROFILES, Profile, get_profile

if TYPE_CHECKING:
    from deai.store._gateway_client import GatewayClient
    from deai.store._gateway_server import GatewayServer, gateway_app, gateway_router

__all__ = [
    "CID",
    "DAG_PB",
    "DEFAULT_PROFILE",
    "MAX_BLOCK_SIZE",
    "PROFILES",
    "RAW",
    "Blockstore",
    "CarHeader",
    "CarImport",
    "CarReader",
    "DirEntry",
    "FsBlockstore",
    "GatewayClient",
    "GatewayServer",
    "GcResult",
    "LocalStore",
    "MemoryBlockstore",
    "Profile",
    "StoreStat",
    "cid_for_block",
    "cid_of_bytes",
    "cid_of_path",
    "gateway_app",
    "gateway_router",
    "get_profile",
    "parse_cid",
    "verify_block",
    "write_car",
]

_LAZY = {
    "GatewayClient": "deai.store._gateway_client",
    "GatewayServer": "deai.store._gateway_server",
    "gateway_app": "deai.store._gateway_server",
    "gateway_router": "deai.store._gateway_server",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'deai.store' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
