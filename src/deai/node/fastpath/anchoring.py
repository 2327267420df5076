"""Anchor receipt batches: a Merkle root per batch on ``Anchors``, the leaves by CID, proofs.

``ReceiptBatcher.flush`` takes the receipts in no batch yet (oldest first, up to
``max_batch``), builds the tree over their leaves (``deai.provenance.merkle``, the rule the
contract checks), stores the batch **listing** in the node's blockstore (its CID is the
anchor's ``uri``, so anyone can fetch the leaves from the provider's IPFS gateway and
check them against the root) and posts the root. A listing names the receipt sequence
range it covers, which is what makes *non*-inclusion provable: a receipt whose sequence
falls in an anchored range but whose leaf is not at its place was left out.

Crash safety follows ``ProvenanceLog``: a batch is ``prepared`` (receipts assigned,
listing stored), then ``sent`` before its transaction goes out; a ``sent`` batch is first
looked up on chain by its root and only posted again when absent. The sequence number is
``Anchors.lastSequence(provider) + 1`` read under the node's ``anchor_lock``, the lock the
provenance log takes too, since both anchor with the same key.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3 import Web3

from deai.chain.anchors import AnchorPosted, Anchors
from deai.errors import ContractRevert, ProvenanceError
from deai.node.fastpath.store import BatchRow, ReceiptStore
from deai.provenance.merkle import MerkleTree
from deai.store import LocalStore

LISTING_KIND = "deai-receipt-batch"
DEFAULT_MAX_BATCH = 4096
_ANCHOR_TOPIC = "0x" + bytes(Web3.keccak(text="AnchorPosted(address,uint256,bytes32,uint256,string)")).hex()


@dataclass(frozen=True)
class AnchoredReceipts:
    """One batch ``flush`` anchored."""

    anchor_sequence: int
    first: int
    last: int
    root: bytes
    listing_cid: str
    tx: str
    block: int


def listing_document(provider: str, chain_id: int, anchors: str, first: int, last: int,
                     root: bytes, leaves: list[bytes]) -> dict[str, Any]:
    return {"kind": LISTING_KIND, "version": 1, "provider": provider, "chain_id": chain_id,
            "anchors": anchors, "first_sequence": first, "last_sequence": last,
            "root": "0x" + root.hex(), "leaves": ["0x" + leaf.hex() for leaf in leaves]}


class ReceiptBatcher:
    """Batches, anchors and proves one provider's receipts."""

    def __init__(self, store: ReceiptStore, blocks: LocalStore, anchors: Anchors, account: LocalAccount,
                 anchor_lock: threading.Lock | threading.RLock, *, chain_id: int,
                 max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self.store = store
        self.blocks = blocks
        self.anchors = anchors
        self.account = account
        self.provider: str = to_checksum_address(account.address)
        self.anchor_lock = anchor_lock
        self.chain_id = chain_id
        self.max_batch = max_batch
        self._flush_lock = threading.Lock()
        self._trees: OrderedDict[int, MerkleTree] = OrderedDict()
        self._trees_lock = threading.Lock()

    def flush(self) -> list[AnchoredReceipts]:
        """Anchor every unbatched receipt (finishing batches a crash left half-done first)."""
        with self._flush_lock:
            done = [self._anchor(b) for b in self.store.batches(unfinished=True)]
            while True:
                rows = self.store.unbatched(self.max_batch)
                if not rows:
                    return done
                leaves = [leaf for _, leaf in rows]
                tree = MerkleTree(leaves)
                first, last = rows[0][0], rows[-1][0]
                listing = listing_document(self.provider, self.chain_id, self.anchors.address,
                                           first, last, tree.root, leaves)
                cid = str(self.blocks.add_bytes(json.dumps(listing, separators=(",", ":")).encode()))
                head = int(self.anchors.w3.eth.block_number)
                batch_id = self.store.prepare_batch(first, last, tree.root, cid, head)
                batch = self.store.batch(batch_id)
                assert batch is not None
                done.append(self._anchor(batch))

    def _anchor(self, batch: BatchRow) -> AnchoredReceipts:
        with self.anchor_lock:
            posted = self._find_posted(batch) if batch.state == "sent" else None
            if posted is None:
                self.store.mark_batch(batch.id, "sent")
                posted = self._post(batch)
        self.store.mark_batch(batch.id, "anchored", anchor_seq=posted.sequence,
                              tx=posted.transaction_hash, block=posted.block_number)
        return AnchoredReceipts(posted.sequence, batch.first, batch.last, batch.root,
                                batch.listing_cid, posted.transaction_hash, posted.block_number)

    def _post(self, batch: BatchRow) -> AnchorPosted:
        count = batch.last - batch.first + 1
        for attempt in range(3):
            sequence = self.anchors.last_sequence(self.provider) + 1
            try:
                return self.anchors.post(self.account, batch.root, sequence, count, batch.listing_cid)
            except ContractRevert as exc:
                # Someone posting with this key outside anchor_lock took the number first.
                if "sequence must increase" not in exc.reason or attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _find_posted(self, batch: BatchRow) -> AnchorPosted | None:
        logs = self.anchors.w3.eth.get_logs({
            "address": to_checksum_address(self.anchors.address), "fromBlock": batch.from_block,
            "toBlock": "latest",
            "topics": [_ANCHOR_TOPIC, "0x" + bytes(12).hex() + self.provider[2:].lower(), None,
                       "0x" + batch.root.hex()],
        })
        found = self.anchors.decode(logs)
        return found[-1] if found else None

    # --- proofs ------------------------------------------------------------------------------

    def _tree(self, batch: BatchRow) -> MerkleTree:
        with self._trees_lock:
            tree = self._trees.get(batch.id)
            if tree is not None:
                self._trees.move_to_end(batch.id)
                return tree
        tree = MerkleTree(self.store.leaves(batch.id))
        if tree.root != batch.root:
            raise ProvenanceError(f"receipt batch {batch.id} no longer matches its root",
                                  hint=f"the receipt database {self.store.path} was edited; restore it")
        with self._trees_lock:
            self._trees[batch.id] = tree
            while len(self._trees) > 8:
                self._trees.popitem(last=False)
        return tree

    def proof(self, sequence: int) -> dict[str, Any] | None:
        """The receipt, and once anchored its Merkle proof and anchor; None for an unknown sequence."""
        found = self.store.receipt(sequence)
        if found is None:
            return None
        text, batch_id = found
        out: dict[str, Any] = {"receipt": json.loads(text), "proof": None, "anchor": None}
        batch = self.store.batch(batch_id) if batch_id is not None else None
        if batch is None or batch.state != "anchored":
            return out
        out["proof"] = self._tree(batch).proof(sequence - batch.first).as_dict()
        out["anchor"] = {"provider": self.provider, "chain_id": self.chain_id,
                         "anchors": self.anchors.address, "sequence": batch.anchor_seq,
                         "first_sequence": batch.first, "last_sequence": batch.last,
                         "root": "0x" + batch.root.hex(), "listing": batch.listing_cid,
                         "tx": batch.tx, "block": batch.block}
        return out
