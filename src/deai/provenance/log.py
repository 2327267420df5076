"""The provider's provenance log: store signed manifests, anchor them in batches, index them.

``ProvenanceLog.add(manifest)`` stores the manifest JSON by CID (pinned) and queues its
leaf in SQLite; ``flush()`` turns everything queued into one Merkle tree, writes the
``BatchListing`` by CID, posts the root to ``Anchors`` with the provider's next sequence
number (the listing's CID as the event's ``uri``), then writes every manifest's
``AnchoredRecord`` by CID and indexes output CID / manifest CID / derived CIDs → record
CID. A batch of 1,000 manifests costs one ``Anchors.post`` (about 50k gas).

Crash safety, in order:

1. a manifest is in the store and in ``pending`` before ``add`` returns (WAL, one
   transaction), so a restart never loses a signed, unanchored manifest;
2. a batch is written as ``prepared`` (rows assigned, listing stored) and marked
   ``sent`` *before* its transaction goes out;
3. on the next ``flush`` (or ``recover``) a ``sent`` batch is looked up on chain by its
   root (the ``AnchorPosted`` event indexes it): if it is there, the records are finished
   from that event; if not, it is posted again with a fresh sequence number. The
   sequence is always the chain's ``lastSequence + 1`` read under ``anchor_lock``, so a
   sequence is never posted twice, and a fast-path receipt batcher sharing the provider
   key stays in step by taking the same lock (``ProvenanceLog(..., anchor_lock=lock)``).

``ProvenanceIndex`` is the read side (CID → anchored record CID) that ``deai verify`` opens.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3 import Web3

from deai.chain.anchors import AnchorPosted, Anchors
from deai.errors import ContractRevert, ManifestError, SignatureError
from deai.identity.signing import Eip712Domain
from deai.provenance.manifest import Manifest, provenance_domain, recover_manifest_signer
from deai.provenance.merkle import MerkleTree
from deai.provenance.records import AnchoredRecord, AnchorInfo, BatchListing, DerivedFile
from deai.sqlite_rows import connect, transaction
from deai.store import LocalStore
from deai.units import Cid

DB_NAME = "log.sqlite"
DEFAULT_MAX_BATCH = 4096
"""Leaves per anchored batch: proofs stay 12 siblings deep and a listing stays below 1 MiB."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    manifest_cid TEXT NOT NULL UNIQUE,
    output_cid TEXT NOT NULL,
    leaf BLOB NOT NULL,
    manifest BLOB NOT NULL,
    derived TEXT NOT NULL DEFAULT '[]',
    batch_id INTEGER
);
CREATE INDEX IF NOT EXISTS pending_batch ON pending(batch_id);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    root BLOB NOT NULL,
    listing_cid TEXT NOT NULL,
    count INTEGER NOT NULL,
    state TEXT NOT NULL,              -- prepared | sent | anchored
    from_block INTEGER NOT NULL,      -- chain head when prepared: where a recovery looks from
    sequence INTEGER,
    tx TEXT,
    block INTEGER,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    cid TEXT NOT NULL,                -- output, manifest or derived CID
    record_cid TEXT NOT NULL,
    manifest_cid TEXT NOT NULL,
    role TEXT NOT NULL,               -- output | manifest | c2pa
    sequence INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS records_cid ON records(cid);
"""


def default_db_path(data_dir: Path) -> Path:
    """Where a node keeps its provenance log: ``<data dir>/provenance/log.sqlite``."""
    return Path(data_dir) / "provenance" / DB_NAME


@dataclass(frozen=True)
class LoggedManifest:
    """A manifest the log holds: stored by CID, queued for the next anchor."""

    manifest: Manifest
    manifest_cid: Cid
    derived: tuple[str, ...] = ()


@dataclass(frozen=True)
class AnchoredBatch:
    """One batch ``flush`` anchored."""

    sequence: int
    root: bytes
    count: int
    listing_cid: str
    tx: str
    block: int
    record_cids: tuple[str, ...]


class ProvenanceIndex:
    """CID (output, manifest or derived file) → anchored record CID, read from a log's SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ManifestError(
                f"no provenance log at {self.path}",
                hint="a provider writes it under its data directory; pass that with --data-dir",
            )
        # Read-only and immutable=0: a running provider may be writing (WAL) at the same time.
        self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)

    def record_cid(self, cid: str) -> str | None:
        row = self._db.execute(
            "SELECT record_cid FROM records WHERE cid = ? ORDER BY rowid DESC LIMIT 1", (str(cid),)
        ).fetchone()
        return None if row is None else str(row[0])

    def pending_manifest(self, cid: str) -> Manifest | None:
        """A manifest that is logged but not anchored yet, by output or manifest CID."""
        row = self._db.execute(
            "SELECT manifest FROM pending WHERE output_cid = ? OR manifest_cid = ? ORDER BY id DESC LIMIT 1",
            (str(cid), str(cid)),
        ).fetchone()
        return None if row is None else Manifest.from_json(bytes(row[0]))

    def close(self) -> None:
        self._db.close()


class ProvenanceLog:
    """One provider's log of signed manifests, anchored in batches (see the module docstring)."""

    def __init__(
        self,
        *,
        store: LocalStore,
        db_path: Path,
        anchors: Anchors,
        account: LocalAccount,
        chain_id: int | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
        anchor_lock: threading.Lock | threading.RLock | None = None,
    ) -> None:
        if not 1 <= max_batch <= 2**20:
            raise ValueError("max_batch must be between 1 and 1,048,576")
        self.store = store
        self.anchors = anchors
        self.account = account
        self.provider: str = to_checksum_address(account.address)
        self.chain_id = chain_id if chain_id is not None else anchors.w3.eth.chain_id
        self.max_batch = max_batch
        self.anchor_lock = anchor_lock if anchor_lock is not None else threading.Lock()
        self.db_path = Path(db_path)
        self._db = connect(self.db_path, _SCHEMA, synchronous="NORMAL")
        self._lock = threading.RLock()
        self._flush_lock = threading.Lock()

    @classmethod
    def open(
        cls, data_dir: Path, *, store: LocalStore, w3: Web3, anchors_address: str, account: LocalAccount,
        **kwargs: Any,
    ) -> ProvenanceLog:
        """The log under a node's data directory (``default_db_path``)."""
        return cls(store=store, db_path=default_db_path(data_dir), anchors=Anchors(w3, anchors_address),
                   account=account, **kwargs)

    @property
    def domain(self) -> Eip712Domain:
        """The EIP-712 domain this provider signs its manifests under."""
        return provenance_domain(self.chain_id, self.anchors.address)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ProvenanceLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self._db, self._lock)

    # --- adding ----------------------------------------------------------------------------

    def add(self, manifest: Manifest, *, derived: Sequence[str] = ()) -> LoggedManifest:
        """Store ``manifest`` by CID (pinned) and queue it for the next anchor.

        ``derived`` names files made from the output after signing (the PNG carrying the
        C2PA credential): they are indexed to the same anchored record. Adding the same
        manifest again is harmless and returns the entry already queued.
        """
        self._check_own(manifest)
        data = manifest.to_json()
        manifest_cid = self.store.add_bytes(data)
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO pending (manifest_cid, output_cid, leaf, manifest, derived) "
                "VALUES (?, ?, ?, ?, ?)",
                (manifest_cid, manifest.output_cid, manifest.leaf(), data, json.dumps(list(derived))),
            )
            if derived:
                # A second add with more derived files (the C2PA copy made later) extends the entry.
                row = db.execute("SELECT derived FROM pending WHERE manifest_cid = ?", (manifest_cid,)).fetchone()
                if row is not None:
                    known = list(json.loads(row[0]))
                    merged = known + [d for d in derived if d not in known]
                    db.execute("UPDATE pending SET derived = ? WHERE manifest_cid = ?",
                               (json.dumps(merged), manifest_cid))
        return LoggedManifest(manifest, manifest_cid, tuple(str(d) for d in derived))

    def _check_own(self, manifest: Manifest) -> None:
        if manifest.provider != self.provider:
            raise ManifestError(
                f"the manifest names provider {manifest.provider}; this log anchors for {self.provider}",
                hint="each provider anchors only the manifests it signed",
            )
        if (manifest.chain_id, manifest.anchors) != (self.chain_id, self.anchors.address):
            raise ManifestError(
                f"the manifest is for chain {manifest.chain_id} / Anchors {manifest.anchors}; this log "
                f"anchors on chain {self.chain_id} / {self.anchors.address}",
                hint="sign with provenance_domain(chain_id, anchors_address) of this deployment",
            )
        try:
            signer = recover_manifest_signer(manifest)
        except SignatureError as exc:
            raise ManifestError(f"the manifest's signature is unreadable: {exc.message}") from None
        if signer != self.provider:
            raise ManifestError(f"the manifest is signed by {signer}, not by this provider {self.provider}")

    def pending_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM pending").fetchone()[0])

    # --- anchoring ---------------------------------------------------------------------------

    def flush(self) -> list[AnchoredBatch]:
        """Anchor everything queued (one post per ``max_batch`` manifests); returns the batches."""
        with self._flush_lock:
            done = self._recover()
            while True:
                batch_id = self._prepare()
                if batch_id is None:
                    return done
                done.append(self._anchor(batch_id))

    def recover(self) -> list[AnchoredBatch]:
        """Finish batches a crash left between prepare and anchored (``flush`` does this first)."""
        with self._flush_lock:
            return self._recover()

    def _recover(self) -> list[AnchoredBatch]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM batches WHERE state != 'anchored' ORDER BY id"
            ).fetchall()
        return [self._anchor(int(row[0])) for row in rows]

    def _prepare(self) -> int | None:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, manifest_cid, output_cid, leaf FROM pending WHERE batch_id IS NULL "
                "ORDER BY id LIMIT ?", (self.max_batch,)
            ).fetchall()
        if not rows:
            return None
        tree = MerkleTree(bytes(r[3]) for r in rows)
        listing = BatchListing(
            provider=self.provider, chain_id=self.chain_id, anchors=self.anchors.address,
            root="0x" + tree.root.hex(), manifests=tuple(str(r[1]) for r in rows),
            outputs=tuple(str(r[2]) for r in rows), leaves=tuple("0x" + bytes(r[3]).hex() for r in rows),
        )
        listing_cid = self.store.add_bytes(listing.to_json())
        head = int(self.anchors.w3.eth.block_number)
        with self._tx() as db:
            cursor = db.execute(
                "INSERT INTO batches (root, listing_cid, count, state, from_block, created) "
                "VALUES (?, ?, ?, 'prepared', ?, ?)",
                (tree.root, listing_cid, len(rows), head, time.time()),
            )
            batch_id = int(cursor.lastrowid or 0)
            db.execute(
                "UPDATE pending SET batch_id = ? WHERE batch_id IS NULL AND id BETWEEN ? AND ?",
                (batch_id, int(rows[0][0]), int(rows[-1][0])),
            )
        return batch_id

    def _anchor(self, batch_id: int) -> AnchoredBatch:
        with self._lock:
            batch = self._db.execute(
                "SELECT root, listing_cid, count, state, from_block FROM batches WHERE id = ?", (batch_id,)
            ).fetchone()
            rows = self._db.execute(
                "SELECT manifest_cid, leaf, manifest, derived FROM pending WHERE batch_id = ? ORDER BY id",
                (batch_id,),
            ).fetchall()
        root, listing_cid, count, state, from_block = bytes(batch[0]), str(batch[1]), int(batch[2]), str(batch[3]), int(batch[4])
        tree = MerkleTree(bytes(r[1]) for r in rows)
        if tree.root != root or len(rows) != count:
            raise ManifestError(
                f"provenance batch {batch_id} no longer matches its rows (root or count changed)",
                hint=f"the log at {self.db_path} was edited by hand; restore it from a backup",
            )
        posted = self._post(batch_id, root, count, listing_cid, state, from_block)
        anchor = AnchorInfo(
            chain_id=self.chain_id, anchors=self.anchors.address, provider=self.provider,
            sequence=posted.sequence, root="0x" + root.hex(), count=count, tx=posted.transaction_hash,
            block=posted.block_number, batch=listing_cid,
        )
        record_cids: list[str] = []
        index_rows: list[tuple[str, str, str, str, int]] = []
        for i, (manifest_cid, _leaf, data, derived_json) in enumerate(rows):
            derived = tuple(DerivedFile(cid=str(c)) for c in json.loads(derived_json))
            record = AnchoredRecord(
                manifest=Manifest.from_json(bytes(data)), manifest_cid=str(manifest_cid),
                proof=tree.proof(i).as_dict(), anchor=anchor, derived=derived,
            )
            record_cid = self.store.add_bytes(record.to_json())
            record_cids.append(record_cid)
            index_rows.append((record.manifest.output_cid, record_cid, str(manifest_cid), "output", posted.sequence))
            index_rows.append((str(manifest_cid), record_cid, str(manifest_cid), "manifest", posted.sequence))
            index_rows.extend((d.cid, record_cid, str(manifest_cid), d.relation, posted.sequence) for d in derived)
        with self._tx() as db:
            db.executemany(
                "INSERT INTO records (cid, record_cid, manifest_cid, role, sequence) VALUES (?, ?, ?, ?, ?)",
                index_rows,
            )
            db.execute(
                "UPDATE batches SET state = 'anchored', sequence = ?, tx = ?, block = ? WHERE id = ?",
                (posted.sequence, posted.transaction_hash, posted.block_number, batch_id),
            )
            db.execute("DELETE FROM pending WHERE batch_id = ?", (batch_id,))
        return AnchoredBatch(posted.sequence, root, count, listing_cid, posted.transaction_hash,
                             posted.block_number, tuple(record_cids))

    def _post(self, batch_id: int, root: bytes, count: int, uri: str, state: str, from_block: int) -> AnchorPosted:
        with self.anchor_lock:
            if state == "sent":
                # A crash after sending: the root may be on chain already (posted once, never twice).
                found = self._find_posted(root, from_block)
                if found is not None:
                    return found
            with self._tx() as db:
                db.execute("UPDATE batches SET state = 'sent' WHERE id = ?", (batch_id,))
            for attempt in range(3):
                sequence = self.anchors.last_sequence(self.provider) + 1
                try:
                    return self.anchors.post(self.account, root, sequence, count, uri)
                except ContractRevert as exc:
                    # Another poster with this key (outside anchor_lock) took the sequence first.
                    if "sequence must increase" not in exc.reason or attempt == 2:
                        raise
            raise AssertionError("unreachable")  # pragma: no cover

    def _find_posted(self, root: bytes, from_block: int) -> AnchorPosted | None:
        topics: list[Any] = [
            "0x" + bytes(Web3.keccak(text="AnchorPosted(address,uint256,bytes32,uint256,string)")).hex(),
            "0x" + bytes(12).hex() + self.provider[2:].lower(),
            None,
            "0x" + root.hex(),
        ]
        logs = self.anchors.w3.eth.get_logs({
            "address": to_checksum_address(self.anchors.address), "fromBlock": from_block,
            "toBlock": "latest", "topics": topics,
        })
        found = self.anchors.decode(logs)
        return found[-1] if found else None

    # --- reading -----------------------------------------------------------------------------

    def record_cid(self, cid: str) -> str | None:
        """The anchored record CID for an output, manifest or derived CID (None: not anchored yet)."""
        with self._lock:
            row = self._db.execute(
                "SELECT record_cid FROM records WHERE cid = ? ORDER BY rowid DESC LIMIT 1", (str(cid),)
            ).fetchone()
        return None if row is None else str(row[0])

    def record(self, cid: str) -> AnchoredRecord | None:
        record_cid = self.record_cid(cid)
        if record_cid is None:
            return None
        return AnchoredRecord.from_json(self.store.read_bytes(record_cid))

    def batches(self) -> list[dict[str, Any]]:
        """Every batch with its state (for a node's status page)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, sequence, count, state, listing_cid, tx, block FROM batches ORDER BY id"
            ).fetchall()
        keys = ("id", "sequence", "count", "state", "listing", "tx", "block")
        return [dict(zip(keys, row, strict=True)) for row in rows]
