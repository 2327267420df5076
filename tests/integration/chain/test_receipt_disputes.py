"""ReceiptDisputes against a real chain: receipts signed by the provider's real ReceiptSigner,
anchored with Anchors.post, challenged with their Merkle proof, voted on and resolved.

Every revert test checks the contract's reason and that nothing changed (balances, stakes,
market state, the disputes' state and the contract's token balance).
"""

from __future__ import annotations

import dataclasses

import pytest

from deai.chain.cids import cid_to_bytes
from deai.chain.compile import compile_contract
from deai.chain.market_setup import ReceiptDisputeParams
from deai.chain.rpc import deploy
from deai.chain.types import Ballot, ReceiptDisputeStatus, ReceiptReason
from deai.errors import ChainError, ContractRevert
from deai.node.fastpath.receipts import SignedReceipt, recover_receipt_reference
from deai.testing.market import PROVIDER_STAKE, Market, cid
from deai.testing.plugin import Chain
from deai.testing.receipt_disputes import RECEIPT_PRICE, AnchoredBatch, ReceiptKit
from deai.units import TokenAmount, tokens

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
DEFAULTS = ReceiptDisputeParams()
EVIDENCE = cid("evidence")


@pytest.fixture(scope="module")
def prepared(staged_market: Market) -> ReceiptKit:
    kit = ReceiptKit(staged_market)
    # approvals up front, so that a reverting challenge sends no approval first
    for role in ("validator1", "validator2", "validator3", "provider1", "provider2", "client1"):
        staged_market.token.approve(staged_market[role], kit.disputes.address, 2**256 - 1)
    return kit


@pytest.fixture
def kit(prepared: ReceiptKit, chain: Chain) -> ReceiptKit:
    return prepared


def _challenged(kit: ReceiptKit, index: int = 1, **receipt: object) -> tuple[AnchoredBatch, bytes, list[str]]:
    batch = kit.anchored(n=4, **receipt)  # type: ignore[arg-type]
    challenged = kit.disputes.challenge(kit.m["validator1"], batch.signed[index], batch.anchor_sequence,
                                        batch.proof(index), EVIDENCE, approve=False)
    members = [r for r in ("validator2", "validator3") if kit.m.addr(r) in challenged.committee]
    assert len(members) == len(challenged.committee) == 2  # neither challenger nor provider sits on it
    return batch, challenged.digest, members


# --- the digest ------------------------------------------------------------------------------


def test_the_contract_computes_the_digest_the_provider_signed(kit: ReceiptKit) -> None:
    signer = kit.signer("provider1")
    assert kit.disputes.domain_separator() == signer.separator
    for receipt in (kit.receipt(), kit.receipt(price=0, label="ü" * 40), kit.receipt(issued_at=0)):
        signed = signer.sign(receipt)
        assert kit.disputes.receipt_digest(receipt) == signed.leaf == receipt.digest(signer.separator)
        assert kit.disputes.receipt_signer(signed) == kit.m.addr("provider1")
        assert recover_receipt_reference(kit.domain, signed) == kit.m.addr("provider1")


def test_slash_is_the_larger_of_the_minimum_and_price_over_p(kit: ReceiptKit) -> None:
    d = kit.disputes
    assert (d.challenge_window(), d.vote_window(), d.challenge_bond(), d.committee_size(), d.min_slash(),
            d.sample_bps()) == (DEFAULTS.challenge_window, DEFAULTS.vote_window, DEFAULTS.challenge_bond,
                                DEFAULTS.committee_size, DEFAULTS.min_slash, DEFAULTS.sample_bps)
    assert d.slash_for(0) == d.slash_for(tokens("0.4")) == DEFAULTS.min_slash  # 0.4 / 10% < 5
    assert d.slash_for(tokens("0.5")) == tokens(5) + 1  # strictly above price / p
    assert d.slash_for(tokens(1)) == tokens(10) + 1  # price / p + 1 once above the minimum
    assert d.slash_for(2**200) == 2**96 - 1  # capped (a stake is far smaller), no overflow


# --- verdicts --------------------------------------------------------------------------------


def test_fraud_proven_slashes_the_provider_and_returns_the_bond(kit: ReceiptKit) -> None:
    m = kit.m
    price = tokens(2)
    slash = price * 10_000 // DEFAULTS.sample_bps + 1
    batch, digest, members = _challenged(kit, price=price)
    treasury = m.staking.treasury()
    before = {role: m.token.balance_of(m.addr(role)) for role in ("validator1", *members)}
    treasury_before = m.token.balance_of(treasury)
    assert m.token.balance_of(kit.disputes.address) == DEFAULTS.challenge_bond

    dispute = kit.disputes.dispute(digest)
    assert dispute.status is ReceiptDisputeStatus.OPEN and dispute.exists
    assert dispute.challenger == m.addr("validator1") and dispute.provider == m.addr("provider1")
    assert dispute.evidence_cid == EVIDENCE and dispute.slash_amount == slash
    assert (dispute.receipt_sequence, dispute.anchor_sequence) == (batch.signed[1].sequence, batch.anchor_sequence)
    assert dispute.vote_end == m.now() + DEFAULTS.vote_window
    assert kit.disputes.ballot(digest, m.addr(members[0])) is Ballot.PENDING

    for role in members:
        cast = kit.disputes.vote(m[role], digest, fraud=True)
        assert cast.reason is ReceiptReason.VOTE_CAST and cast.fraud
    assert kit.disputes.ballot(digest, m.addr(members[0])) is Ballot.FRAUD
    resolved = kit.disputes.resolve(m["client1"], digest)
    assert resolved.reason is ReceiptReason.FRAUD_PROVEN and resolved.status is ReceiptDisputeStatus.REJECTED
    assert (resolved.slashed, resolved.bond_returned) == (slash, DEFAULTS.challenge_bond)
    assert m.staking.stake_of(m.addr("provider1")) == PROVIDER_STAKE - slash
    # the challenger: its bond back and the beneficiary half of the slash; the treasury the rest
    assert m.token.balance_of(m.addr("validator1")) == before["validator1"] + DEFAULTS.challenge_bond + slash // 2
    assert m.token.balance_of(treasury) == treasury_before + slash - slash // 2
    for role in members:
        assert m.token.balance_of(m.addr(role)) == before[role]
    assert m.token.balance_of(kit.disputes.address) == 0
    assert kit.disputes.dispute(digest).status is ReceiptDisputeStatus.REJECTED
    assert [type(e).__name__ for e in kit.disputes.dispute_events(digest)] == [
        "ReceiptChallenged", "ReceiptVoteCast", "ReceiptVoteCast", "ReceiptDisputeResolved"]
    assert kit.disputes.why(digest) == ReceiptReason.FRAUD_PROVEN.sentence
    kit.assert_reverts(lambda: kit.disputes.resolve(m["client1"], digest), "no open dispute", [digest])


def test_a_cheap_receipt_costs_the_minimum_slash(kit: ReceiptKit) -> None:
    m = kit.m
    _, digest, members = _challenged(kit, price=RECEIPT_PRICE)
    for role in members:
        kit.disputes.vote(m[role], digest, fraud=True)
    assert kit.disputes.resolve(m["client1"], digest).slashed == DEFAULTS.min_slash
    assert m.staking.stake_of(m.addr("provider1")) == PROVIDER_STAKE - DEFAULTS.min_slash


def test_upheld_receipt_splits_the_bond_among_the_majority_dust_to_the_treasury(kit: ReceiptKit) -> None:
    m = kit.m
    # a fourth validator, so that three members share the bond and leave rounding dust
    m.registry.register_validator(m["provider2"])
    batch = kit.anchored(n=2)
    challenged = kit.disputes.challenge(m["validator1"], batch.signed[0], batch.anchor_sequence, batch.proof(0),
                                        EVIDENCE, approve=False)
    digest = challenged.digest
    members = ["validator2", "validator3", "provider2"]
    assert sorted(challenged.committee) == sorted(m.addr(r) for r in members)
    treasury = m.staking.treasury()
    before = {role: m.token.balance_of(m.addr(role)) for role in ("validator1", *members)}
    treasury_before = m.token.balance_of(treasury)
    for role in members:
        kit.disputes.vote(m[role], digest, fraud=False)
    resolved = kit.disputes.resolve(m["client1"], digest)
    assert resolved.reason is ReceiptReason.RESPONSE_UPHELD and resolved.status is ReceiptDisputeStatus.UPHELD
    assert (resolved.slashed, resolved.bond_returned) == (0, 0)
    share = DEFAULTS.challenge_bond // 3
    for role in members:
        assert m.token.balance_of(m.addr(role)) == before[role] + share
    assert m.token.balance_of(treasury) == treasury_before + DEFAULTS.challenge_bond - 3 * share
    assert m.token.balance_of(m.addr("validator1")) == before["validator1"]
    assert m.staking.stake_of(m.addr("provider1")) == PROVIDER_STAKE
    assert m.token.balance_of(kit.disputes.address) == 0


def test_a_tie_returns_the_bond(kit: ReceiptKit) -> None:
    m = kit.m
    _, digest, members = _challenged(kit)
    wallet = m.token.balance_of(m.addr("validator1"))
    kit.disputes.vote(m[members[0]], digest, fraud=True)
    kit.assert_reverts(lambda: kit.disputes.resolve(m["client1"], digest), "vote still open", [digest])
    kit.disputes.vote(m[members[1]], digest, fraud=False)
    resolved = kit.disputes.resolve(m["client1"], digest)
    assert resolved.reason is ReceiptReason.NO_VERDICT and resolved.status is ReceiptDisputeStatus.UPHELD
    assert resolved.bond_returned == DEFAULTS.challenge_bond and resolved.slashed == 0
    assert m.token.balance_of(m.addr("validator1")) == wallet + DEFAULTS.challenge_bond
    assert m.staking.stake_of(m.addr("provider1")) == PROVIDER_STAKE


def test_an_unattended_vote_closes_without_verdict(kit: ReceiptKit) -> None:
    m = kit.m
    _, digest, members = _challenged(kit)
    kit.assert_reverts(lambda: kit.disputes.resolve(m["client1"], digest), "vote still open", [digest])
    m.advance(DEFAULTS.vote_window)
    kit.assert_reverts(lambda: kit.disputes.vote(m[members[0]], digest, fraud=True), "vote closed", [digest])
    assert kit.disputes.resolve(m["client1"], digest).reason is ReceiptReason.NO_VERDICT
    assert m.token.balance_of(kit.disputes.address) == 0


# --- refusals --------------------------------------------------------------------------------


def _with_signature(signed: SignedReceipt, signature: bytes) -> SignedReceipt:
    return dataclasses.replace(signed, signature=signature)


def test_challenge_refuses_bad_signatures(kit: ReceiptKit) -> None:
    m, d = kit.m, kit.disputes
    batch = kit.anchored(n=3)
    signed, seq, proof = batch.signed[0], batch.anchor_sequence, batch.proof(0)
    v1 = m["validator1"]

    def challenge(receipt: SignedReceipt) -> object:
        return d.challenge(v1, receipt, seq, proof, EVIDENCE, approve=False)

    sig = signed.signature
    kit.assert_reverts(lambda: challenge(_with_signature(signed, sig[:64])), "signature must be 65 bytes")
    kit.assert_reverts(lambda: challenge(_with_signature(signed, sig[:64] + b"\x1d")), "bad signature (v)")
    kit.assert_reverts(lambda: challenge(_with_signature(signed, bytes(64) + b"\x1b")), "bad signature")
    # the malleable twin (s' = n - s, v flipped) recovers to the same signer, and is refused
    s = int.from_bytes(sig[32:64], "big")
    twin = sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes((55 - sig[64],))
    kit.assert_reverts(lambda: challenge(_with_signature(signed, twin)), "malleable s")
    # signed by someone else (provider2's key over provider1's receipt)
    other = m["provider2"].unsafe_sign_hash(signed.leaf)
    forged = other.r.to_bytes(32, "big") + other.s.to_bytes(32, "big") + bytes((other.v,))
    kit.assert_reverts(lambda: challenge(_with_signature(signed, forged)), "not signed by its provider")
    # an altered receipt: the provider's signature no longer matches its fields
    altered = dataclasses.replace(signed, receipt=dataclasses.replace(signed.receipt, price=TokenAmount(1)))
    kit.assert_reverts(lambda: challenge(altered), "not signed by its provider")


def test_challenge_needs_the_receipt_in_the_anchored_batch(kit: ReceiptKit) -> None:
    m, d = kit.m, kit.disputes
    batch = kit.anchored(n=4)
    later = kit.anchored(n=2)
    v1 = m["validator1"]
    signed = batch.signed[2]
    for seq, proof in ((batch.anchor_sequence, batch.proof(1)),        # another leaf's proof
                       (batch.anchor_sequence, []),                     # no proof
                       (later.anchor_sequence, batch.proof(2)),         # the wrong batch
                       (later.anchor_sequence + 1, batch.proof(2))):    # a batch not anchored yet
        kit.assert_reverts(lambda s=seq, p=proof: d.challenge(v1, signed, s, p, EVIDENCE, approve=False),
                           "not in the anchored batch")
    # a receipt signed but never anchored
    loose = kit.signer("provider1").sign(kit.receipt())
    kit.assert_reverts(lambda: d.challenge(v1, loose, batch.anchor_sequence, batch.proof(2), EVIDENCE,
                                           approve=False), "not in the anchored batch")
    # another provider's anchor of the same root does not count for provider1
    unused = later.anchor_sequence + 5
    kit.anchors.post(m["provider2"], batch.tree.root, unused, 4)
    kit.assert_reverts(lambda: d.challenge(v1, signed, unused, batch.proof(2), EVIDENCE, approve=False),
                       "not in the anchored batch")


def test_challenge_refuses_the_wrong_challenger_and_time(kit: ReceiptKit) -> None:
    m, d = kit.m, kit.disputes
    future = kit.receipt(issued_at=m.now() + 1_000)
    batch = kit.anchor("provider1", [kit.receipt(), future])
    seq = batch.anchor_sequence

    def challenge(role: str, i: int = 0, evidence: str | bytes = EVIDENCE) -> object:
        return d.challenge(m[role], batch.signed[i], seq, batch.proof(i), evidence, approve=False)

    kit.assert_reverts(lambda: challenge("client1"), "not an active staked validator")
    kit.assert_reverts(lambda: challenge("provider2"), "not an active staked validator")
    # the provider may be a validator too: it still cannot challenge its own receipt
    m.registry.register_validator(m["provider1"])
    kit.assert_reverts(lambda: challenge("provider1"), "cannot challenge its own receipt")
    m.registry.set_validator_active(m["validator1"], False)
    kit.assert_reverts(lambda: challenge("validator1"), "not an active staked validator")
    m.registry.set_validator_active(m["validator1"], True)
    kit.assert_reverts(lambda: challenge("validator1", 1), "issued in the future")
    # malformed evidence CIDs
    raw = cid_to_bytes(EVIDENCE)
    kit.assert_reverts(lambda: challenge("validator1", 0, raw[:20]), "malformed evidence CID")
    kit.assert_reverts(lambda: challenge("validator1", 0, b"\x02" + raw[1:]), "malformed evidence CID")
    kit.assert_reverts(lambda: challenge("validator1", 0, raw[:-34] + b"\x13\x20" + raw[-32:]), "not sha2-256")
    kit.assert_reverts(lambda: challenge("validator1", 0, b""), "malformed evidence CID")
    # the window: open until issuedAt + challengeWindow
    m.advance(DEFAULTS.challenge_window)
    kit.assert_reverts(lambda: challenge("validator1"), "challenge window closed")
    # the future receipt's window is open now
    assert challenge("validator1", 1).reason is ReceiptReason.CHALLENGED  # type: ignore[attr-defined]


def test_one_challenge_per_receipt_and_a_committee_must_form(kit: ReceiptKit) -> None:
    m, d = kit.m, kit.disputes
    batch, digest, _ = _challenged(kit, index=0)
    kit.assert_reverts(lambda: d.challenge(m["validator2"], batch.signed[0], batch.anchor_sequence,
                                           batch.proof(0), EVIDENCE, approve=False), "already challenged", [digest])
    # a new signature of the same receipt is the same receipt
    again = kit.signer("provider1").sign(batch.signed[0].receipt)
    kit.assert_reverts(lambda: d.challenge(m["validator2"], again, batch.anchor_sequence, batch.proof(0),
                                           cid("other evidence"), approve=False), "already challenged", [digest])
    for role in ("validator2", "validator3"):
        m.registry.set_validator_active(m[role], False)
    kit.assert_reverts(lambda: d.challenge(m["validator1"], batch.signed[1], batch.anchor_sequence,
                                           batch.proof(1), EVIDENCE, approve=False), "no validators left")


def test_challenge_needs_the_bond(kit: ReceiptKit) -> None:
    m, d = kit.m, kit.disputes
    batch = kit.anchored(n=2)
    m.token.approve(m["validator3"], d.address, 0)
    with pytest.raises(ContractRevert):
        d.challenge(m["validator3"], batch.signed[0], batch.anchor_sequence, batch.proof(0), EVIDENCE,
                    approve=False)
    # the wrapper approves the bond when asked to
    assert d.challenge(m["validator3"], batch.signed[0], batch.anchor_sequence, batch.proof(0), EVIDENCE).committee


def test_vote_and_resolve_refusals(kit: ReceiptKit) -> None:
    m, d = kit.m, kit.disputes
    unknown = bytes(range(32))
    kit.assert_reverts(lambda: d.vote(m["validator2"], unknown, True), "no open dispute")
    kit.assert_reverts(lambda: d.resolve(m["validator2"], unknown), "no open dispute")
    _, digest, members = _challenged(kit)
    kit.assert_reverts(lambda: d.vote(m["validator1"], digest, True), "not on this dispute's committee", [digest])
    kit.assert_reverts(lambda: d.vote(m["provider1"], digest, False), "not on this dispute's committee", [digest])
    kit.assert_reverts(lambda: d.vote(m["client1"], digest, True), "not on this dispute's committee", [digest])
    d.vote(m[members[0]], digest, True)
    kit.assert_reverts(lambda: d.vote(m[members[0]], digest, False), "already voted", [digest])
    kit.assert_reverts(lambda: d.resolve(m["client1"], digest), "vote still open", [digest])
    assert d.dispute(unknown).status is ReceiptDisputeStatus.NONE and not d.dispute(unknown).exists
    with pytest.raises(ChainError, match="32 bytes"):
        d.vote(m[members[1]], digest[:31], True)


@pytest.mark.parametrize(("change", "reason"), [
    ({"challenge_window": 0}, "bad challenge window"),
    ({"challenge_window": 31 * 86_400}, "bad challenge window"),
    ({"vote_window": 0}, "bad vote window"),
    ({"challenge_bond": 0}, "zero challenge bond"),
    ({"committee_size": 0}, "bad committee size"),
    ({"committee_size": 8}, "bad committee size"),
    ({"sample_bps": 0}, "sample rate"),
    ({"sample_bps": 10_001}, "sample rate"),
    ({"min_slash": 2**96}, "minimum slash too large"),
])
def test_constructor_checks_its_parameters(chain: Chain, change: dict[str, int], reason: str) -> None:
    p = dataclasses.replace(DEFAULTS, **change)  # type: ignore[arg-type]
    c = chain.deployment.contracts
    with pytest.raises(ContractRevert) as info:
        deploy(chain.w3, chain.accounts["deployer"], compile_contract("ReceiptDisputes"), c["Token"], c["Staking"],
               c["Registry"], c["Anchors"], chain.accounts["deployer"].address, p.challenge_window, p.vote_window,
               p.challenge_bond, p.committee_size, p.min_slash, p.sample_bps)
    assert reason in info.value.reason


def test_deployment_wires_it_as_a_slasher(chain: Chain) -> None:
    staking = chain.contract("Staking")
    disputes = chain.contract("ReceiptDisputes")
    assert staking.functions.isSlasher(disputes.address).call()
    assert disputes.functions.anchors().call() == chain.deployment.address("Anchors")
    assert disputes.functions.treasury().call() == staking.functions.treasury().call()
