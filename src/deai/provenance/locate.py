"""Find an output's manifest and anchored record: in the file, beside it, in a store, on chain.

Where ``deai verify`` looks, in order:

1. a C2PA credential embedded in the file (the whole signed manifest is in its deai assertion);
2. a sidecar ``<file>.deai.json`` (an anchored record, or a bare manifest);
3. a provenance index (a provider's log) mapping the CID to an anchored record in the store;
4. the chain itself: the ``AnchorPosted`` events name each batch's listing by CID, and a
   listing names every manifest and output of its batch, so an output is found and its
   proof rebuilt from the chain and any gateway (or store) holding the listings.

Nothing here decides whether the output checks out; :mod:`deai.provenance.verify` does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deai.chain.anchors import AnchorPosted, Anchors
from deai.errors import DeaiError, ManifestError, StoreError
from deai.provenance.credentials import C2paReading, has_c2pa, read_c2pa, strip_c2pa
from deai.provenance.log import ProvenanceIndex
from deai.provenance.manifest import Manifest
from deai.provenance.merkle import MerkleTree
from deai.provenance.records import AnchoredRecord, AnchorInfo, BatchListing
from deai.store import LocalStore, cid_of_bytes, parse_cid

SIDECAR_SUFFIX = ".deai.json"
MAX_SCAN_BATCHES = 256
"""How many of the newest anchored batches a chain search reads before giving up."""


def sidecar_path(path: Path) -> Path:
    """``image.png`` → ``image.png.deai.json``."""
    return path.with_name(path.name + SIDECAR_SUFFIX)


class Fetcher:
    """Bytes by CID from a local store, then from gateways; every byte hash-checked."""

    def __init__(self, store: LocalStore | None, gateways: Sequence[str] = ()) -> None:
        self.store = store
        self.gateways = tuple(gateways)

    def get(self, cid: str) -> bytes | None:
        try:
            parse_cid(cid)
        except StoreError:
            return None
        if self.store is not None:
            try:
                return self.store.read_bytes(cid)
            except StoreError:
                pass
        if self.gateways:
            from deai.store import GatewayClient

            try:
                with GatewayClient(list(self.gateways)) as client:
                    return client.read_bytes(cid)
            except DeaiError:
                return None
        return None


@dataclass
class Located:
    """What the search found about one target."""

    target: str
    manifest: Manifest | None = None
    source: str = ""
    """Where the manifest came from: c2pa, sidecar, index, store, chain."""
    record: AnchoredRecord | None = None
    record_cid: str | None = None
    data: bytes | None = None
    """The bytes of the target (the file, or what its CID fetched)."""
    content: bytes | None = None
    """The bytes that must hash to ``manifest.output_cid`` (``data`` without its C2PA chunk)."""
    target_cid: str | None = None
    c2pa: C2paReading | None = None
    problems: tuple[str, ...] = ()
    """What went wrong while looking (a damaged sidecar, an unreadable credential, …)."""

    def note(self, problem: str) -> None:
        self.problems = (*self.problems, problem)


def _parse_sidecar(raw: bytes) -> tuple[Manifest, AnchoredRecord | None]:
    try:
        doc: Any = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ManifestError("the sidecar is not JSON") from None
    if isinstance(doc, dict) and "manifest" in doc:
        record = AnchoredRecord.from_json(raw)
        return record.manifest, record
    return Manifest.from_json(raw), None


def locate(
    target: Path | str,
    *,
    fetcher: Fetcher,
    anchors: Anchors,
    index: ProvenanceIndex | None = None,
    scan_batches: int = MAX_SCAN_BATCHES,
) -> Located:
    """Find the manifest and anchored record of ``target`` (a file path or a CID string)."""
    path = target if isinstance(target, Path) else None
    if path is None and isinstance(target, str):
        try:
            parse_cid(target)
        except StoreError:
            path = Path(target)
    found = Located(target=str(target))
    if path is not None:
        _from_file(found, path)
    else:
        _from_cid(found, str(target), fetcher, index)
    if found.manifest is not None and found.record is None:
        _find_record(found, fetcher, anchors, index, scan_batches)
    if found.manifest is None and found.target_cid is not None:
        _search_chain_for_output(found, fetcher, anchors, scan_batches)
    return found


def _from_file(found: Located, path: Path) -> None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        found.note(f"cannot read {path}: {exc.strerror or exc}")
        return
    found.data = data
    found.content = data
    found.target_cid = cid_of_bytes(data)
    if has_c2pa(data):
        found.content = strip_c2pa(data)
        found.c2pa = read_c2pa(data)
        if found.c2pa is not None and found.c2pa.assertion is not None:
            try:
                found.manifest, found.source = found.c2pa.manifest(), "c2pa"
            except ManifestError as exc:
                found.note(f"the C2PA credential's deai manifest is unreadable: {exc.message}")
        elif found.c2pa is not None:
            found.note("the file's C2PA credential carries no deai assertion")
    sidecar = sidecar_path(path)
    if sidecar.is_file():
        try:
            manifest, record = _parse_sidecar(sidecar.read_bytes())
        except ManifestError as exc:
            found.note(f"the sidecar {sidecar.name} is damaged: {exc.message}")
        else:
            if found.manifest is None or found.manifest == manifest:
                found.manifest, found.record = manifest, record
                found.source = found.source or "sidecar"
            else:
                found.note(f"the sidecar {sidecar.name} names another manifest than the C2PA credential")


def _from_cid(found: Located, cid: str, fetcher: Fetcher, index: ProvenanceIndex | None) -> None:
    found.target_cid = cid
    record_cid = index.record_cid(cid) if index is not None else None
    if record_cid is not None:
        raw = fetcher.get(record_cid)
        if raw is None:
            found.note(f"the index names record {record_cid}, but no store or gateway has it")
        else:
            try:
                found.record = AnchoredRecord.from_json(raw)
            except ManifestError as exc:
                found.note(f"record {record_cid} is damaged: {exc.message}")
            else:
                found.record_cid, found.manifest, found.source = record_cid, found.record.manifest, "index"
    if found.manifest is None and index is not None:
        pending = index.pending_manifest(cid)
        if pending is not None:
            found.manifest, found.source = pending, "index"
    data = fetcher.get(cid)
    if data is not None and found.manifest is None and data.startswith(b"{"):
        # The CID may name an anchored record or a manifest itself (deai verify <record CID>).
        try:
            if data.startswith(b'{"anchor":{'):  # canonical JSON: a record's first key
                found.record = AnchoredRecord.from_json(data)
                found.record_cid, found.manifest, found.source = cid, found.record.manifest, "store"
            else:
                found.manifest, found.source = Manifest.from_json(data), "store"
        except ManifestError:
            pass
    manifest = found.manifest
    if manifest is not None:
        files = {manifest.output_cid, *(d.cid for d in (found.record.derived if found.record else ()))}
        if cid not in files:  # the CID named the manifest or record: check the output itself
            found.target_cid = manifest.output_cid
            data = fetcher.get(manifest.output_cid)
    found.data = data
    found.content = data
    if data is not None and has_c2pa(data):
        found.content = strip_c2pa(data)
        found.c2pa = read_c2pa(data)




def _find_record(
    found: Located, fetcher: Fetcher, anchors: Anchors, index: ProvenanceIndex | None, scan_batches: int
) -> None:
    manifest = found.manifest
    assert manifest is not None
    manifest_cid = manifest.cid()
    if index is not None:
        record_cid = index.record_cid(manifest_cid)
        raw = fetcher.get(record_cid) if record_cid is not None else None
        if raw is not None:
            try:
                found.record, found.record_cid = AnchoredRecord.from_json(raw), record_cid
                return
            except ManifestError as exc:
                found.note(f"record {record_cid} is damaged: {exc.message}")
    for event, listing in _listings(anchors, fetcher, manifest.provider, scan_batches):
        if manifest_cid in listing.manifests:
            found.record = _record_from_listing(manifest, manifest_cid, event, listing)
            found.source = found.source or "chain"
            return


def _search_chain_for_output(found: Located, fetcher: Fetcher, anchors: Anchors, scan_batches: int) -> None:
    """The manifest of an output known only by its bytes or CID, from the batch listings on chain."""
    wanted = {c for c in (found.target_cid, cid_of_bytes(found.content) if found.content else None) if c}
    for event, listing in _listings(anchors, fetcher, None, scan_batches):
        for i, output in enumerate(listing.outputs):
            if output not in wanted:
                continue
            raw = fetcher.get(listing.manifests[i])
            if raw is None:
                continue
            try:
                manifest = Manifest.from_json(raw)
            except ManifestError:
                continue
            found.manifest, found.source = manifest, "chain"
            found.record = _record_from_listing(manifest, listing.manifests[i], event, listing)
            return


def _listings(
    anchors: Anchors, fetcher: Fetcher, provider: str | None, limit: int
) -> list[tuple[AnchorPosted, BatchListing]]:
    out: list[tuple[AnchorPosted, BatchListing]] = []
    events = anchors.events(provider=provider)
    for event in reversed(events[-limit:]):  # newest first: recent outputs are asked about most
        raw = fetcher.get(event.uri) if event.uri else None
        if raw is None:
            continue
        try:
            out.append((event, BatchListing.from_json(raw)))
        except ManifestError:
            continue
    return out


def _record_from_listing(
    manifest: Manifest, manifest_cid: str, event: AnchorPosted, listing: BatchListing
) -> AnchoredRecord:
    leaves = [bytes.fromhex(leaf[2:]) for leaf in listing.leaves]
    position = listing.manifests.index(manifest_cid)
    tree = MerkleTree(leaves)
    return AnchoredRecord(
        manifest=manifest, manifest_cid=manifest_cid, proof=tree.proof(position).as_dict(),
        anchor=AnchorInfo(
            chain_id=listing.chain_id, anchors=listing.anchors, provider=event.provider,
            sequence=event.sequence, root="0x" + event.root.hex(), count=event.count,
            tx=event.transaction_hash, block=event.block_number, batch=event.uri,
        ),
    )
