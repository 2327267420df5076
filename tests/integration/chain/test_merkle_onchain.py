"""The same Merkle tree on both sides: Python builds, Anchors.vy verifies (and computes) the same roots."""

from __future__ import annotations

import itertools

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deai.chain.anchors import Anchors
from deai.provenance.merkle import MerkleTree, hash_leaf, hash_pair
from deai.testing.plugin import Chain

pytestmark = pytest.mark.integration

ON_CHAIN = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
DIGESTS = st.binary(min_size=32, max_size=32)


@pytest.fixture
def anchors(chain: Chain) -> Anchors:
    return Anchors.from_deployment(chain.w3, chain.deployment)


@ON_CHAIN
@given(a=DIGESTS, b=DIGESTS)
def test_leaf_and_pair_hashes_agree(anchors: Anchors, a: bytes, b: bytes) -> None:
    fn = anchors.contract.functions
    assert bytes(fn.hashLeaf(a).call()) == hash_leaf(a)
    assert bytes(fn.hashPair(a, b).call()) == hash_pair(a, b) == bytes(fn.hashPair(b, a).call())


# Sequence numbers only increase, and hypothesis examples share one chain snapshot.
_sequences = itertools.count(1)


@ON_CHAIN
@given(leaves=st.lists(DIGESTS, min_size=1, max_size=17))
def test_random_trees_verify_on_chain(chain: Chain, anchors: Anchors, leaves: list[bytes]) -> None:
    provider: LocalAccount = chain.accounts["provider3"]
    tree = MerkleTree(leaves)
    sequence = next(_sequences)
    anchors.post(provider, tree.root, sequence, len(tree))
    for i, leaf in enumerate(leaves):
        proof = tree.siblings(i)
        assert anchors.compute_root(leaf, proof) == tree.root
        assert anchors.verify_inclusion(provider.address, sequence, leaf, proof)
        altered = leaf[:-1] + bytes([leaf[-1] ^ 1])
        if altered not in leaves:
            assert not anchors.verify_inclusion(provider.address, sequence, altered, proof)


def test_a_large_tree_verifies_on_chain(anchors: Anchors) -> None:
    tree = MerkleTree([i.to_bytes(32, "big") for i in range(10_000)])
    verify = anchors.contract.functions.verifyProof
    for i in (0, 1, 5_000, 8_191, 8_192, 9_999):
        assert verify(tree.root, tree.leaves[i], list(tree.siblings(i))).call()
    assert not verify(tree.root, tree.leaves[1], list(tree.siblings(0))).call()
    assert not verify(bytes(32), tree.leaves[0], list(tree.siblings(0))).call()
