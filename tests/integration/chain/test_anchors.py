"""Anchors on a real anvil: posting, sequence rules, reverts that change nothing, events."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount

from deai.chain.anchors import Anchors
from deai.chain.rpc import send
from deai.errors import ChainError, ContractRevert
from deai.provenance.merkle import MerkleTree
from deai.testing.plugin import Chain

pytestmark = pytest.mark.integration


@pytest.fixture
def anchors(chain: Chain) -> Anchors:
    return Anchors.from_deployment(chain.w3, chain.deployment)


@pytest.fixture
def provider(chain: Chain) -> LocalAccount:
    return chain.accounts["provider1"]


def tree(n: int, salt: int = 0) -> MerkleTree:
    return MerkleTree([(salt * 1_000_000 + i).to_bytes(32, "big") for i in range(n)])


def test_post_records_root_and_emits_everything(
    chain: Chain, anchors: Anchors, provider: LocalAccount
) -> None:
    t = tree(5)
    posted = anchors.post(provider, t.root, 1, len(t), "bafkreiexamplebatch")
    assert (posted.provider, posted.sequence, posted.root, posted.count, posted.uri) == (
        provider.address, 1, t.root, 5, "bafkreiexamplebatch")
    assert posted.block_number == chain.w3.eth.block_number
    assert anchors.root(provider.address, 1) == t.root
    assert anchors.root(provider.address, 2) is None
    assert anchors.last_sequence(provider.address) == 1
    assert anchors.find(provider.address, 1) == posted
    assert anchors.find(provider.address, 2) is None
    for i in range(5):
        assert anchors.verify_inclusion(provider.address, 1, t.leaves[i], t.siblings(i))


def test_sequences_increase_per_provider_with_gaps_allowed(
    chain: Chain, anchors: Anchors, provider: LocalAccount
) -> None:
    other = chain.accounts["provider2"]
    anchors.post(provider, tree(2).root, 1, 2)
    anchors.post(provider, tree(3).root, 7, 3)  # gaps are fine: sequences only increase
    anchors.post(other, tree(4).root, 1, 4)  # each provider has its own sequence
    assert anchors.last_sequence(provider.address) == 7
    assert anchors.last_sequence(other.address) == 1
    assert [e.sequence for e in anchors.events(provider=provider.address)] == [1, 7]
    assert [(e.provider, e.sequence) for e in anchors.events()] == [
        (provider.address, 1), (provider.address, 7), (other.address, 1)]


def observe(anchors: Anchors, who: str) -> tuple[object, ...]:
    return (anchors.last_sequence(who), *(anchors.root(who, s) for s in range(0, 6)))


@pytest.mark.parametrize(
    ("root", "sequence", "count", "reason"),
    [
        (bytes(32), 6, 1, "anchors: empty root"),
        (b"\x01" * 32, 6, 0, "anchors: empty batch"),
        (b"\x01" * 32, 5, 1, "anchors: sequence must increase"),
        (b"\x01" * 32, 4, 1, "anchors: sequence must increase"),
        (b"\x01" * 32, 0, 1, "anchors: sequence must increase"),
    ],
)
def test_post_reverts_change_nothing(
    chain: Chain, anchors: Anchors, provider: LocalAccount,
    root: bytes, sequence: int, count: int, reason: str,
) -> None:
    anchors.post(provider, tree(3).root, 5, 3)
    before = observe(anchors, provider.address)
    with pytest.raises(ContractRevert) as info:
        anchors.post(provider, root, sequence, count)
    assert info.value.reason == reason
    # Mined with a fixed gas limit it reverts on chain and still changes nothing.
    w3 = chain.w3
    tx = anchors.contract.functions.post(root, sequence, count, "").build_transaction({
        "from": provider.address, "gas": 200_000, "gasPrice": w3.eth.gas_price,
        "nonce": w3.eth.get_transaction_count(provider.address), "chainId": w3.eth.chain_id,
    })
    tx_hash = w3.eth.send_raw_transaction(provider.sign_transaction(tx).raw_transaction)  # type: ignore[arg-type]
    assert w3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 0
    assert observe(anchors, provider.address) == before


def test_first_sequence_must_be_positive(anchors: Anchors, provider: LocalAccount) -> None:
    with pytest.raises(ContractRevert, match="sequence must increase"):
        anchors.post(provider, tree(1).root, 0, 1)
    assert anchors.last_sequence(provider.address) == 0


def test_inclusion_is_refused_for_the_wrong_batch_or_leaf(
    chain: Chain, anchors: Anchors, provider: LocalAccount
) -> None:
    mine, theirs = tree(6, salt=1), tree(6, salt=2)
    anchors.post(provider, mine.root, 1, 6)
    anchors.post(provider, theirs.root, 2, 6)
    proof = mine.siblings(3)
    assert anchors.verify_inclusion(provider.address, 1, mine.leaves[3], proof)
    assert not anchors.verify_inclusion(provider.address, 2, mine.leaves[3], proof)  # another root
    assert not anchors.verify_inclusion(provider.address, 3, mine.leaves[3], proof)  # no such batch
    assert not anchors.verify_inclusion(chain.accounts["provider2"].address, 1, mine.leaves[3], proof)
    assert not anchors.verify_inclusion(provider.address, 1, b"\x09" * 32, proof)  # altered leaf
    assert not anchors.verify_inclusion(provider.address, 1, mine.leaves[3], proof[:-1])
    assert not anchors.verify_inclusion(provider.address, 1, b"\x01" * 31, proof)  # malformed
    assert not anchors.verify_inclusion(provider.address, 1, mine.leaves[3], [b"\x00" * 32] * 65)


def test_wrapper_checks_bounds_before_sending(anchors: Anchors, provider: LocalAccount) -> None:
    with pytest.raises(ChainError, match="at most 256"):
        anchors.post(provider, tree(1).root, 1, 1, "x" * 257)
    with pytest.raises(ChainError, match="32 bytes"):
        anchors.post(provider, b"\x01", 1, 1)
    # The contract's own bound: a 257-byte URI does not even decode.
    with pytest.raises(ContractRevert):
        send(anchors.w3, provider, anchors.contract.functions.post(tree(1).root, 1, 1, "x" * 257))
    assert anchors.last_sequence(provider.address) == 0
