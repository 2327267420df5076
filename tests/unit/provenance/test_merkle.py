"""The Merkle tree in Python: the documented rule, proofs for every leaf, and what must fail."""

from __future__ import annotations

import os
import time

import pytest
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from deai.errors import MerkleError
from deai.provenance.merkle import (
    MerkleProof,
    MerkleTree,
    compute_root,
    hash_leaf,
    hash_pair,
    merkle_root,
    verify_proof,
)

LEAVES = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=70)


def leaf(i: int) -> bytes:
    return i.to_bytes(32, "big")


def test_the_rule_by_hand() -> None:
    a, b, c = (leaf(i) for i in (1, 2, 3))
    ha, hb, hc = (keccak(b"\x00" + x) for x in (a, b, c))
    assert hash_leaf(a) == ha
    assert hash_pair(ha, hb) == hash_pair(hb, ha) == keccak(b"\x01" + min(ha, hb) + max(ha, hb))
    assert merkle_root([a]) == ha
    assert merkle_root([a, b]) == hash_pair(ha, hb)
    # Odd count: the last node moves up unchanged, it is not paired with itself.
    assert merkle_root([a, b, c]) == hash_pair(hash_pair(ha, hb), hc)
    assert merkle_root([a, b, c]) != merkle_root([a, b, c, c])
    tree = MerkleTree([a, b, c])
    assert tree.siblings(2) == (hash_pair(ha, hb),)
    assert tree.siblings(0) == (hb, hc)


@settings(max_examples=60, deadline=None)
@given(leaves=LEAVES)
def test_every_leaf_proves_and_nothing_else_does(leaves: list[bytes]) -> None:
    tree = MerkleTree(leaves)
    for i in range(len(leaves)):
        proof = tree.proof(i)
        assert proof.verify() and proof.leaf == leaves[i]
        assert len(proof.siblings) <= max(1, (len(leaves) - 1).bit_length())
        altered = bytes([leaves[i][0] ^ 1]) + leaves[i][1:]
        if altered not in leaves:
            assert not verify_proof(tree.root, altered, proof.siblings)
        if proof.siblings:
            bad = list(proof.siblings)
            bad[0] = bytes([bad[0][0] ^ 0x80]) + bad[0][1:]
            assert not verify_proof(tree.root, leaves[i], bad)


@settings(max_examples=30, deadline=None)
@given(leaves=LEAVES, others=LEAVES)
def test_a_proof_for_another_root_fails(leaves: list[bytes], others: list[bytes]) -> None:
    mine, theirs = MerkleTree(leaves), MerkleTree(others)
    if mine.root != theirs.root:
        assert not verify_proof(theirs.root, leaves[0], mine.siblings(0))


def test_an_inner_node_cannot_pose_as_a_leaf() -> None:
    leaves = [leaf(i) for i in range(4)]
    tree = MerkleTree(leaves)
    h = [hash_leaf(x) for x in leaves]
    inner, other = hash_pair(h[0], h[1]), hash_pair(h[2], h[3])
    assert tree.root == hash_pair(inner, other)
    # Without the 0x00/0x01 prefixes (inner, [other]) would prove "inner" is a leaf.
    assert not verify_proof(tree.root, inner, [other])


def test_proof_serialises() -> None:
    tree = MerkleTree([leaf(i) for i in range(9)])
    proof = tree.proof(8)
    assert MerkleProof.from_dict(proof.as_dict()) == proof
    for bad in ({}, {"leaf": "0x12", "index": 0, "siblings": [], "root": "0x" + "00" * 32},
                {**proof.as_dict(), "siblings": ["zz"]}):
        with pytest.raises(MerkleError):
            MerkleProof.from_dict(bad)


def test_errors() -> None:
    with pytest.raises(MerkleError):
        MerkleTree([])
    with pytest.raises(MerkleError):
        MerkleTree([b"short"])
    tree = MerkleTree([leaf(1), leaf(2)])
    for index in (-1, 2):
        with pytest.raises(MerkleError):
            tree.proof(index)
    with pytest.raises(MerkleError):
        tree.index_of(leaf(3))
    assert tree.index_of(leaf(2)) == 1
    assert not verify_proof(tree.root, b"short", [])
    with pytest.raises(MerkleError):
        compute_root(b"short", [])


def test_duplicate_leaves_each_prove() -> None:
    tree = MerkleTree([leaf(7)] * 5)
    assert all(tree.proof(i).verify() for i in range(5))


def test_ten_thousand_leaves_are_quick() -> None:
    leaves = [os.urandom(32) for _ in range(10_000)]
    start = time.perf_counter()
    tree = MerkleTree(leaves)
    built = time.perf_counter() - start
    assert len(tree) == 10_000
    assert built < 2.0  # ~0.07 s on one core; generous for a shared machine
    for i in (0, 1, 4_095, 8_192, 9_999):
        assert len(tree.siblings(i)) <= 14
        assert tree.proof(i).verify()
