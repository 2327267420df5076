"""Merkle trees of receipts and manifests, the same tree the ``Anchors`` contract checks.

The rule, shared byte for byte with ``contracts/Anchors.vy``:

- a **leaf** is a 32-byte digest (of a receipt, a manifest, …); hash what you anchor first;
- leaf hash ``= keccak256(0x00 ‖ leaf)``;
- inner node ``= keccak256(0x01 ‖ min(a, b) ‖ max(a, b))``, the pair sorted as big-endian
  numbers (the contract compares them as ``uint256``);
- a level of odd length moves its last node up unchanged (never duplicated, so no two leaf
  lists share a root by repeating the last leaf);
- leaves stay in the order given (a batch of receipts keeps its sequence order); a single
  leaf's root is its leaf hash.

The 0x00/0x01 prefixes separate leaves from inner nodes, so nobody can pass an inner node
off as a leaf with a shorter proof (second preimage). Sorted pairs make a proof a plain
list of sibling hashes, bottom up, with no left/right bits, which keeps on-chain
verification small.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_hash.auto import keccak

from deai.errors import MerkleError

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
DIGEST_SIZE = 32
MAX_PROOF_LENGTH = 64
"""The longest proof ``Anchors.verifyInclusion`` takes (trees of up to 2**64 leaves)."""


def hash_leaf(leaf: bytes) -> bytes:
    """``keccak256(0x00 ‖ leaf)`` for a 32-byte leaf."""
    if len(leaf) != DIGEST_SIZE:
        raise MerkleError(f"a leaf is a 32-byte digest, got {len(leaf)} bytes")
    return keccak(LEAF_PREFIX + leaf)


def hash_pair(a: bytes, b: bytes) -> bytes:
    """``keccak256(0x01 ‖ min(a, b) ‖ max(a, b))``; equal-length byte strings compare as numbers."""
    return keccak(NODE_PREFIX + a + b) if a < b else keccak(NODE_PREFIX + b + a)


def compute_root(leaf: bytes, proof: Iterable[bytes]) -> bytes:
    """The root that ``proof`` leads to from ``leaf``."""
    node = hash_leaf(leaf)
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


def verify_proof(root: bytes, leaf: bytes, proof: Iterable[bytes]) -> bool:
    """True when ``proof`` leads from ``leaf`` to ``root``; malformed input is simply False."""
    try:
        return compute_root(leaf, proof) == root
    except MerkleError:
        return False


@dataclass(frozen=True)
class MerkleProof:
    """A leaf, its position and the sibling hashes up to ``root``; travels with a receipt or manifest."""

    leaf: bytes
    index: int
    siblings: tuple[bytes, ...]
    root: bytes

    def verify(self) -> bool:
        return verify_proof(self.root, self.leaf, self.siblings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "leaf": "0x" + self.leaf.hex(),
            "index": self.index,
            "siblings": ["0x" + s.hex() for s in self.siblings],
            "root": "0x" + self.root.hex(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MerkleProof:
        try:
            return cls(
                leaf=_hex32(data["leaf"]),
                index=int(data["index"]),
                siblings=tuple(_hex32(s) for s in data["siblings"]),
                root=_hex32(data["root"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MerkleError(f"malformed Merkle proof: {exc}") from None


class MerkleTree:
    """A tree over 32-byte leaves; keeps every level so a proof costs O(log n)."""

    __slots__ = ("_leaves", "_levels")

    def __init__(self, leaves: Iterable[bytes]) -> None:
        self._leaves: tuple[bytes, ...] = tuple(bytes(leaf) for leaf in leaves)
        if not self._leaves:
            raise MerkleError("a Merkle tree needs at least one leaf", hint="anchor non-empty batches")
        level = [hash_leaf(leaf) for leaf in self._leaves]
        levels = [level]
        while len(level) > 1:
            nxt = [hash_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
            levels.append(level)
        self._levels: tuple[list[bytes], ...] = tuple(levels)

    @property
    def root(self) -> bytes:
        return self._levels[-1][0]

    @property
    def leaves(self) -> tuple[bytes, ...]:
        return self._leaves

    def __len__(self) -> int:
        return len(self._leaves)

    def siblings(self, index: int) -> tuple[bytes, ...]:
        """The sibling hashes from leaf ``index`` up to the root (what ``verifyInclusion`` takes)."""
        if not 0 <= index < len(self._leaves):
            raise MerkleError(f"leaf index {index} is outside 0..{len(self._leaves) - 1}")
        out: list[bytes] = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):  # else this node is the odd one out and moves up alone
                out.append(level[sibling])
            index //= 2
        return tuple(out)

    def proof(self, index: int) -> MerkleProof:
        siblings = self.siblings(index)  # checks the index first
        return MerkleProof(self._leaves[index], index, siblings, self.root)

    def index_of(self, leaf: bytes) -> int:
        """The first position of ``leaf``; raises MerkleError when it is not in the tree."""
        try:
            return self._leaves.index(leaf)
        except ValueError:
            raise MerkleError(f"leaf 0x{leaf.hex()} is not in this tree") from None


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The root of ``leaves`` (see the module docstring for the rule)."""
    return MerkleTree(leaves).root


def _hex32(text: str) -> bytes:
    raw = bytes.fromhex(text.removeprefix("0x"))
    if len(raw) != DIGEST_SIZE:
        raise ValueError(f"expected 32 bytes of hex, got {len(raw)}")
    return raw
