"""JobMarket against a real chain: the life of a job, expiry, disputes, and every revert path.

Each revert test checks the contract's reason and that nothing changed (``assert_reverts``
compares a fingerprint of balances, stakes, accounts, jobs, bids and ballots).
"""

from __future__ import annotations

import hashlib

import pytest

from deai.chain.compile import compile_contract
from deai.chain.events import (
    BidPlaced,
    JobPosted,
    JobSettled,
    ResultCommitted,
    explain,
)
from deai.chain.rpc import deploy
from deai.chain.types import Ballot, JobReason, JobStatus, Verification, VerificationMode
from deai.errors import ContractRevert
from deai.testing.market import (
    PROVIDER_STAKE,
    Market,
    assert_reverts,
    cid,
)
from deai.units import JobId, TokenAmount, tokens

RESULT = hashlib.sha256(b"result").digest()
ZERO = "0x" + "00" * 20


def fee(m: Market, price: int) -> int:
    return price * m.market.settings().fee_bps // 10_000


# --- the happy path ------------------------------------------------------------------------


def test_post_bid_accept_commit_finalize_pays_and_refunds(m: Market) -> None:
    client, provider = m["client1"], m["provider1"]
    wallet_before = m.token.balance_of(m.addr("client1"))
    posted = m.market.post_job(client, cid("spec"), tokens(10), bid_window=60, deadline=m.now() + 3600)
    assert isinstance(posted, JobPosted) and posted.reason is JobReason.POSTED
    assert posted.spec_cid == cid("spec") and posted.max_price == tokens(10)
    job_id = posted.job_id
    assert m.token.balance_of(m.addr("client1")) == wallet_before - tokens(10)
    job = m.market.job(job_id)
    assert job.status is JobStatus.OPEN and job.client == m.addr("client1")
    assert job.verification == Verification.sampled(1_000)

    placed = m.market.bid(provider, job_id, tokens(4))
    assert isinstance(placed, BidPlaced) and placed.best and placed.price == tokens(4)
    assigned = m.market.accept_bid(client, job_id, m.addr("provider1"))
    price_fee = tokens(4) + fee(m, tokens(4))
    assert assigned.reason is JobReason.BID_ACCEPTED and assigned.refunded == tokens(10) - price_fee
    # sampled at 10%: the provider backs the job with more than price / p
    assert assigned.collateral == tokens(40) + 1
    assert m.market.locked_stake_of(m.addr("provider1")) == tokens(40) + 1
    assert m.market.balance_of(m.addr("client1")) == tokens(10) - price_fee

    committed = m.market.commit_result(provider, job_id, cid("output"), RESULT)
    assert isinstance(committed, ResultCommitted)
    assert committed.output_cid == cid("output") and committed.result_hash == RESULT
    assert m.market.job(job_id).status is JobStatus.COMMITTED
    assert_reverts(m, lambda: m.market.finalize(client, job_id), "challenge window still open")

    m.advance(m.market.settings().challenge_window)
    settled = m.market.finalize(m["client2"], job_id)
    assert isinstance(settled, JobSettled) and settled.status is JobStatus.FINALIZED
    assert settled.reason is JobReason.CHALLENGE_WINDOW_PASSED
    assert (settled.paid, settled.fee, settled.refunded, settled.slashed) == (tokens(4), fee(m, tokens(4)), 0, 0)
    assert m.market.balance_of(m.addr("provider1")) == tokens(4)
    assert m.market.locked_stake_of(m.addr("provider1")) == 0
    assert m.market.fees_owed_at(1) == fee(m, tokens(4))
    assert m.market.job(job_id).status is JobStatus.FINALIZED

    # pull payments: each party withdraws its market balance
    m.market.withdraw(provider)
    m.market.withdraw(client)
    assert m.token.balance_of(m.addr("client1")) == wallet_before - price_fee
    treasury = m.market.settings().fee_recipient
    collected = m.market.collect_fees(m["client2"])
    assert collected.amount == fee(m, tokens(4)) and m.market.balance_of(treasury) == collected.amount
    history = m.market.job_events(job_id)
    assert [type(e).__name__ for e in history] == [
        "JobPosted", "BidPlaced", "JobAssigned", "ResultCommitted", "JobSettled"
    ]
    assert m.market.why(job_id) == JobReason.CHALLENGE_WINDOW_PASSED.sentence
    assert m.market.spec_cid(job_id) == cid("spec")
    result = m.market.result(job_id)
    assert result is not None and result.output_cid == cid("output")


def test_escrow_comes_from_the_market_account_when_it_covers_it(m: Market) -> None:
    client = m["client1"]
    m.market.deposit(client, tokens(6))
    wallet = m.token.balance_of(m.addr("client1"))
    m.post(max_price=tokens(10))  # the account is short: all 10 from the wallet, the 6 stay
    assert m.market.balance_of(m.addr("client1")) == tokens(6)
    assert m.token.balance_of(m.addr("client1")) == wallet - tokens(10)
    m.market.deposit(client, tokens(14))
    m.post(max_price=tokens(10))  # covered: nothing from the wallet
    assert m.market.balance_of(m.addr("client1")) == tokens(10)
    assert m.token.balance_of(m.addr("client1")) == wallet - tokens(24)


def test_assign_picks_the_lowest_price_weighted_by_reputation(m: Market) -> None:
    job_id = m.post(bid_window=60)
    m.market.set_reputation(m["deployer"], m.addr("provider2"), 20_000)  # twice as trusted
    m.market.bid(m["provider1"], job_id, tokens(3))
    second = m.market.bid(m["provider2"], job_id, tokens(5))  # 5 / 2.0 = 2.5 < 3 / 1.0
    assert second.best
    third = m.market.bid(m["provider3"], job_id, tokens("2.6"))
    assert not third.best
    assert m.market.bid_of(job_id, m.addr("provider1")) == tokens(3)
    assert m.market.bid_of(job_id, m.addr("provider3")) == tokens("2.6")
    assert_reverts(m, lambda: m.market.assign(m["client2"], job_id), "bid window still open")
    m.advance(60)
    assert_reverts(m, lambda: m.market.bid(m["provider3"], job_id, tokens(1)), "bid window closed")
    assigned = m.market.assign(m["client2"], job_id)
    assert assigned.provider == m.addr("provider2") and assigned.price == tokens(5)
    assert assigned.reason is JobReason.BEST_BID_ASSIGNED


def test_a_provider_may_lower_its_bid_and_the_client_may_pick_any_bid(m: Market) -> None:
    job_id = m.post()
    m.market.bid(m["provider1"], job_id, tokens(3))
    m.market.bid(m["provider2"], job_id, tokens(4))
    assert_reverts(m, lambda: m.market.bid(m["provider2"], job_id, tokens(4)), "lower than your last")
    assert_reverts(m, lambda: m.market.bid(m["provider1"], job_id, tokens(3)), "lower than your last")
    m.market.bid(m["provider2"], job_id, tokens("3.5"))
    assert m.market.bid_of(job_id, m.addr("provider2")) == tokens("3.5")
    lowered = m.market.bid(m["provider2"], job_id, tokens(2))
    assert lowered.best
    # the displaced best bid is still on record and the client may take it
    assert m.market.bid_of(job_id, m.addr("provider1")) == tokens(3)
    assigned = m.market.accept_bid(m["client1"], job_id, m.addr("provider1"))
    assert assigned.provider == m.addr("provider1") and assigned.price == tokens(3)


# --- expiry --------------------------------------------------------------------------------


def test_a_job_without_bids_expires_and_refunds_the_client_in_full(m: Market) -> None:
    client = m["client1"]
    wallet = m.token.balance_of(m.addr("client1"))
    job_id = m.post(max_price=tokens(10), timeout=600)
    assert_reverts(m, lambda: m.market.expire(m["client2"], job_id), "deadline not reached")
    m.advance(600)
    settled = m.market.expire(m["client2"], job_id)
    assert settled.reason is JobReason.EXPIRED_NO_BIDS and settled.refunded == tokens(10)
    assert m.market.job(job_id).status is JobStatus.EXPIRED
    m.market.withdraw(client)
    assert m.token.balance_of(m.addr("client1")) == wallet
    # the client is told why, in a sentence
    assert m.market.why(job_id) == (
        "No provider bid before the deadline; the escrow was refunded to the client in full."
    )
    assert explain(m.market.job_events(job_id)) == m.market.why(job_id)
    assert_reverts(m, lambda: m.market.expire(client, job_id), "cannot expire")


def test_a_job_with_unaccepted_bids_expires_with_its_own_reason(m: Market) -> None:
    job_id = m.post(timeout=600)
    m.market.bid(m["provider1"], job_id, tokens(3))
    m.advance(600)
    assert_reverts(m, lambda: m.market.assign(m["client1"], job_id), "deadline passed")
    assert_reverts(m, lambda: m.market.accept_bid(m["client1"], job_id, m.addr("provider1")),
                   "deadline passed")
    settled = m.market.expire(m["client1"], job_id)
    assert settled.reason is JobReason.EXPIRED_UNASSIGNED and settled.refunded == tokens(10)
    assert settled.slashed == 0


def test_an_assigned_provider_that_misses_the_deadline_is_slashed(m: Market) -> None:
    provider = m["provider1"]
    job_id = m.assigned(price=tokens(5), max_price=tokens(10), timeout=600)
    client_account = m.market.balance_of(m.addr("client1"))
    client_wallet = m.token.balance_of(m.addr("client1"))
    treasury = m.staking.treasury()
    treasury_wallet = m.token.balance_of(treasury)
    m.advance(600)
    assert_reverts(m, lambda: m.market.commit_result(provider, job_id, cid("late"), RESULT), "deadline passed")
    settled = m.market.expire(m["client2"], job_id)
    assert settled.reason is JobReason.EXPIRED_NO_RESULT
    escrow = tokens(5) + fee(m, tokens(5))
    assert settled.refunded == escrow and settled.slashed == tokens(5)
    assert m.market.balance_of(m.addr("client1")) == client_account + escrow
    assert m.staking.stake_of(m.addr("provider1")) == PROVIDER_STAKE - tokens(5)
    assert m.market.locked_stake_of(m.addr("provider1")) == 0
    # half of the penalty to the client (beneficiary), half to the treasury
    assert m.token.balance_of(m.addr("client1")) == client_wallet + tokens("2.5")
    assert m.token.balance_of(treasury) == treasury_wallet + tokens("2.5")


# --- disputes ------------------------------------------------------------------------------


def _disputed(m: Market) -> tuple[JobId, list[str]]:
    job_id = m.committed(price=tokens(5))
    challenged = m.market.challenge(m["validator1"], job_id)
    assert challenged.reason is JobReason.CHALLENGED
    members = [role for role in ("validator2", "validator3") if m.addr(role) in challenged.committee]
    assert len(members) == len(challenged.committee) == 2  # the challenger never sits on it
    return job_id, members


def test_fraud_proven_slashes_the_provider_and_refunds_the_client(m: Market) -> None:
    job_id, members = _disputed(m)
    dispute = m.market.dispute(job_id)
    assert dispute.challenger == m.addr("validator1") and dispute.bond == m.market.settings().challenge_bond
    assert m.market.ballot(job_id, m.addr(members[0])) is Ballot.PENDING
    client_account = m.market.balance_of(m.addr("client1"))
    challenger_wallet = m.token.balance_of(m.addr("validator1"))
    for role in members:
        m.market.vote(m[role], job_id, fraud=True)
    assert m.market.ballot(job_id, m.addr(members[0])) is Ballot.FRAUD
    settled = m.market.resolve(m["client2"], job_id)
    collateral = tokens(50) + 1
    assert settled.reason is JobReason.FRAUD_PROVEN and settled.status is JobStatus.REJECTED
    escrow = tokens(5) + fee(m, tokens(5))
    assert settled.refunded == escrow and settled.slashed == collateral and settled.paid == 0
    assert m.market.balance_of(m.addr("client1")) == client_account + escrow
    assert m.market.balance_of(m.addr("validator1")) == dispute.bond  # bond back
    assert m.token.balance_of(m.addr("validator1")) == challenger_wallet + collateral // 2
    assert m.staking.stake_of(m.addr("provider1")) == PROVIDER_STAKE - collateral
    assert m.market.locked_stake_of(m.addr("provider1")) == 0


def test_upheld_result_pays_the_provider_and_the_bond_goes_to_the_majority(m: Market) -> None:
    job_id, members = _disputed(m)
    bond = m.market.settings().challenge_bond
    m.market.vote(m[members[0]], job_id, fraud=False)
    assert_reverts(m, lambda: m.market.resolve(m["client2"], job_id), "vote still open")
    m.market.vote(m[members[1]], job_id, fraud=False)
    settled = m.market.resolve(m["client2"], job_id)
    assert settled.reason is JobReason.RESULT_UPHELD and settled.status is JobStatus.FINALIZED
    assert settled.paid == tokens(5)
    for role in members:
        assert m.market.balance_of(m.addr(role)) == bond // 2
    assert m.market.balance_of(m.addr("validator1")) == 0
    assert m.market.balance_of(m.addr("provider1")) == tokens(5)


def test_no_verdict_pays_the_provider_and_returns_the_bond(m: Market) -> None:
    job_id, members = _disputed(m)
    m.market.vote(m[members[0]], job_id, fraud=True)
    m.market.vote(m[members[1]], job_id, fraud=False)
    settled = m.market.resolve(m["client2"], job_id)
    assert settled.reason is JobReason.NO_VERDICT and settled.paid == tokens(5)
    assert m.market.balance_of(m.addr("validator1")) == m.market.settings().challenge_bond


def test_an_unattended_vote_closes_without_verdict(m: Market) -> None:
    job_id, members = _disputed(m)
    assert_reverts(m, lambda: m.market.resolve(m["client1"], job_id), "vote still open")
    m.advance(m.market.settings().vote_window)
    assert_reverts(m, lambda: m.market.vote(m[members[0]], job_id, fraud=True), "vote closed")
    assert m.market.resolve(m["client1"], job_id).reason is JobReason.NO_VERDICT


def test_vote_and_challenge_reverts(m: Market) -> None:
    job_id = m.committed(price=tokens(5))
    assert_reverts(m, lambda: m.market.vote(m["validator2"], job_id, fraud=True), "not disputed")
    assert_reverts(m, lambda: m.market.resolve(m["validator2"], job_id), "not disputed")
    assert_reverts(m, lambda: m.market.challenge(m["provider1"], job_id), "cannot challenge itself")
    assert_reverts(m, lambda: m.market.challenge(m["client2"], job_id), "not an active staked validator")
    job_id, members = _disputed(m)
    assert_reverts(m, lambda: m.market.challenge(m["validator2"], job_id), "no result to challenge")
    assert_reverts(m, lambda: m.market.vote(m["validator1"], job_id, fraud=True), "not on this job's committee")
    m.market.vote(m[members[0]], job_id, fraud=True)
    assert_reverts(m, lambda: m.market.vote(m[members[0]], job_id, fraud=False), "already voted")
    assert_reverts(m, lambda: m.market.finalize(m["client1"], job_id), "no unchallenged result")


def test_challenge_needs_an_open_window_verification_and_validators(m: Market) -> None:
    late = m.committed(price=tokens(5))
    m.advance(m.market.settings().challenge_window)
    assert_reverts(m, lambda: m.market.challenge(m["validator1"], late), "challenge window closed")
    trusted = m.committed(price=tokens(5), verification=Verification.none())
    assert_reverts(m, lambda: m.market.challenge(m["validator1"], trusted), "has no verification")
    lonely = m.committed(price=tokens(5))
    for role in ("validator2", "validator3"):
        m.registry.set_validator_active(m[role], False)
    assert_reverts(m, lambda: m.market.challenge(m["validator1"], lonely), "no validators left")


# --- revert paths: posting, bidding, assigning, committing, settling ------------------------


def test_post_job_reverts(m: Market) -> None:
    client = m["client1"]
    now = m.now()

    def post(max_price: int = tokens(1), bid_window: int = 60, deadline: int = now + 3_600,
             mode: int = 0, param: int = 1_000, spec: bytes | None = None) -> object:
        from deai.chain.cids import cid_to_bytes
        fn = m.market.contract.functions.postJob(
            spec if spec is not None else cid_to_bytes(cid("s")), max_price, bid_window, deadline, mode, param
        )
        return m.market._send(client, fn)

    assert_reverts(m, lambda: post(max_price=0), "zero max price")
    assert_reverts(m, lambda: post(max_price=2**96), "max price too large")
    assert_reverts(m, lambda: post(bid_window=0), "bad bid window")
    assert_reverts(m, lambda: post(bid_window=31 * 86_400), "bad bid window")
    assert_reverts(m, lambda: post(deadline=now + 30), "deadline before the bid window ends")
    assert_reverts(m, lambda: post(deadline=now + 400 * 86_400), "deadline too far away")
    assert_reverts(m, lambda: post(mode=5), "unknown verification mode")
    assert_reverts(m, lambda: post(mode=0, param=0), "fraction must be 1..10000")
    assert_reverts(m, lambda: post(mode=2, param=10_001), "fraction must be 1..10000")
    assert_reverts(m, lambda: post(mode=1, param=1), "redundancy must be 2..16")
    assert_reverts(m, lambda: post(mode=3, param=1), "takes no parameter")
    assert_reverts(m, lambda: post(spec=b"\x12\x20" + b"\x00" * 31), "malformed CID")
    assert_reverts(m, lambda: post(spec=b"\x01\x55\x13\x20" + b"\x00" * 32), "not sha2-256")
    assert_reverts(m, lambda: post(spec=b"\x02\x55\x12\x20" + b"\x00" * 32), "malformed CID")
    # no allowance and no market balance: the token refuses, nothing is posted
    m.token.approve(m["client2"], m.market.address, 0)
    assert_reverts(m, lambda: m.market.post_job(m["client2"], cid("s"), tokens(1), bid_window=60,
                                                deadline=now + 3_600, approve=False), "allowance too low")


def test_verification_modes_are_stored_per_job(m: Market) -> None:
    for verification in (Verification.sampled(250), Verification.redundant(3), Verification.rescore(500),
                         Verification.zk(), Verification.none()):
        job_id = m.post(verification=verification)
        assert m.market.job(job_id).verification == verification
        assert m.market.job_events(job_id)[0].mode is verification.mode  # type: ignore[attr-defined]
    assert m.market.collateral_for(tokens(1), Verification.none()) == 0
    assert m.market.collateral_for(tokens(1), Verification.zk()) == tokens(2)
    assert m.market.collateral_for(tokens(1), Verification.sampled(10_000)) == tokens(2)
    assert m.market.collateral_for(tokens(1), Verification.sampled(100)) == tokens(100) + 1
    assert Verification.sampled(100).mode is VerificationMode.SAMPLED


def test_bid_reverts(m: Market) -> None:
    job_id = m.post(max_price=tokens(10))
    provider = m["provider1"]
    assert_reverts(m, lambda: m.market.bid(provider, 999, tokens(1)), "unknown job")
    assert_reverts(m, lambda: m.market.bid(provider, job_id, TokenAmount(0)), "zero price")
    assert_reverts(m, lambda: m.market.bid(provider, job_id, tokens(10)), "bid above the max price")
    assert_reverts(m, lambda: m.market.bid(provider, job_id, TokenAmount(2**200)), "bid above the max price")
    highest = m.market.max_bid(tokens(10))
    assert highest + fee(m, highest) <= tokens(10) < highest + 1 + fee(m, highest + 1)
    assert_reverts(m, lambda: m.market.bid(m["client1"], job_id, tokens(1)), "the client cannot bid")
    assert_reverts(m, lambda: m.market.bid(m["client2"], job_id, tokens(1)), "not an active registered provider")
    m.registry.set_provider_active(provider, False)
    assert_reverts(m, lambda: m.market.bid(provider, job_id, tokens(1)), "not an active registered provider")
    m.registry.set_provider_active(provider, True)
    m.market.bid(provider, job_id, highest)
    m.market.accept_bid(m["client1"], job_id, m.addr("provider1"))
    assert_reverts(m, lambda: m.market.bid(m["provider2"], job_id, tokens(1)), "job is not open")


def test_accept_and_assign_reverts(m: Market) -> None:
    job_id = m.post(max_price=tokens(10))
    client, provider = m["client1"], m["provider1"]
    assert_reverts(m, lambda: m.market.accept_bid(client, 999, m.addr("provider1")), "unknown job")
    assert_reverts(m, lambda: m.market.assign(client, 999), "unknown job")
    assert_reverts(m, lambda: m.market.accept_bid(client, job_id, m.addr("provider1")), "no bid from that provider")
    m.market.bid(provider, job_id, tokens(5))
    assert_reverts(m, lambda: m.market.accept_bid(m["client2"], job_id, m.addr("provider1")), "only the client")
    assert_reverts(m, lambda: m.market.accept_bid(client, job_id, m.addr("provider2")), "no bid from that provider")
    m.advance(60)
    empty = m.post(max_price=tokens(10))
    m.advance(60)
    assert_reverts(m, lambda: m.market.assign(client, empty), "no bids to assign")
    m.market.assign(m["client2"], job_id)
    assert_reverts(m, lambda: m.market.assign(client, job_id), "job is not open")
    assert_reverts(m, lambda: m.market.accept_bid(client, job_id, m.addr("provider1")), "job is not open")


def test_assignment_needs_free_stake_for_the_collateral(m: Market) -> None:
    provider = m["provider1"]
    # sampled at 1%: collateral is 100x the price, more than the 1,000 staked
    job_id = m.post(max_price=tokens(20), verification=Verification.sampled(100))
    m.market.bid(provider, job_id, tokens(15))
    assert_reverts(m, lambda: m.market.accept_bid(m["client1"], job_id, m.addr("provider1")), "provider stake too low")
    # collateral already locked counts against the stake: 800 locked, 300 more needed
    m.assigned(price=tokens(400), max_price=tokens(500), verification=Verification.sampled(10_000))
    assert m.market.locked_stake_of(m.addr("provider1")) == tokens(800)
    again = m.post(max_price=tokens(500), verification=Verification.sampled(10_000))
    m.market.bid(provider, again, tokens(150))
    assert_reverts(m, lambda: m.market.accept_bid(m["client1"], again, m.addr("provider1")), "provider stake too low")


def test_commit_reverts(m: Market) -> None:
    job_id = m.post()
    provider = m["provider1"]
    assert_reverts(m, lambda: m.market.commit_result(provider, 999, cid("o"), RESULT), "unknown job")
    assert_reverts(m, lambda: m.market.commit_result(provider, job_id, cid("o"), RESULT), "not assigned")
    m.market.bid(provider, job_id, tokens(5))
    m.market.accept_bid(m["client1"], job_id, m.addr("provider1"))
    assert_reverts(m, lambda: m.market.commit_result(m["provider2"], job_id, cid("o"), RESULT), "only the assigned provider")
    assert_reverts(m, lambda: m.market.commit_result(m["client1"], job_id, cid("o"), RESULT), "only the assigned provider")
    assert_reverts(m, lambda: m.market.commit_result(provider, job_id, cid("o"), b"\x00" * 32), "empty result hash")
    bad = m.market.contract.functions.commitResult(job_id, b"\x12\x20" + b"\x01" * 31, RESULT)
    assert_reverts(m, lambda: m.market._send(provider, bad), "malformed CID")
    m.market.commit_result(provider, job_id, cid("o"), RESULT)
    assert_reverts(m, lambda: m.market.commit_result(provider, job_id, cid("o2"), RESULT), "not assigned")


def test_finalize_reverts_and_no_double_finalize(m: Market) -> None:
    assert_reverts(m, lambda: m.market.finalize(m["client1"], 999), "unknown job")
    open_job = m.post()
    assert_reverts(m, lambda: m.market.finalize(m["client1"], open_job), "no unchallenged result")
    job_id = m.committed()
    m.advance(m.market.settings().challenge_window)
    m.market.finalize(m["client1"], job_id)
    assert_reverts(m, lambda: m.market.finalize(m["client1"], job_id), "no unchallenged result")
    assert_reverts(m, lambda: m.market.expire(m["client1"], job_id), "cannot expire")
    assert_reverts(m, lambda: m.market.challenge(m["validator1"], job_id), "no result to challenge")
    assert_reverts(m, lambda: m.market.expire(m["client1"], 999), "unknown job")


def test_account_reverts(m: Market) -> None:
    client = m["client1"]
    assert_reverts(m, lambda: m.market.deposit(client, TokenAmount(0)), "zero amount")
    assert_reverts(m, lambda: m.market.withdraw(client, TokenAmount(0)), "zero amount")
    assert_reverts(m, lambda: m.market.withdraw(client, tokens(1)), "amount exceeds balance")
    m.market.deposit(client, tokens(2))
    assert_reverts(m, lambda: m.market.withdraw(client, tokens(3)), "amount exceeds balance")
    m.market.withdraw(client, tokens(2))
    assert m.market.balance_of(m.addr("client1")) == 0


def test_reputation_is_set_by_the_owner_or_the_oracle_only(m: Market) -> None:
    owner, provider = m["deployer"], m.addr("provider1")
    assert m.market.account(provider).reputation == 10_000
    assert_reverts(m, lambda: m.market.set_reputation(m["client1"], provider, 5_000), "only the owner or the reputation oracle")
    assert_reverts(m, lambda: m.market.set_reputation(owner, provider, 0), "reputation must be 1..65535")
    assert_reverts(m, lambda: m.market.set_reputation(owner, provider, 65_536), "reputation must be 1..65535")
    assert_reverts(m, lambda: m.market.set_reputation(owner, "0x" + "00" * 20, 5_000), "zero address")
    assert_reverts(m, lambda: m.market.set_reputation_oracle(m["client1"], m.addr("validator1")), "only the owner")
    m.market.set_reputation_oracle(owner, m.addr("validator1"))
    m.market.set_reputation(m["validator1"], provider, 12_345)
    assert m.market.account(provider).reputation == 12_345
    assert m.market.reputation_oracle() == m.addr("validator1")


def test_staking_will_not_unbond_stake_backing_a_job(m: Market) -> None:
    provider = m["provider1"]
    m.assigned(price=tokens(5))
    locked = m.staking.account(m.addr("provider1")).locked
    # registry minimum (100) + market collateral (50 + 1 wei)
    assert locked == tokens(100) + tokens(50) + 1
    free = m.staking.free_stake_of(m.addr("provider1"))
    assert free == PROVIDER_STAKE - locked
    assert_reverts(m, lambda: m.staking.request_withdraw(provider, TokenAmount(free + 1)), "exceeds free stake")
    m.staking.request_withdraw(provider, free)


@pytest.mark.parametrize(("change", "reason"), [
    ({"token": ZERO}, "token is the zero address"),
    ({"staking": ZERO}, "staking is the zero address"),
    ({"registry": ZERO}, "registry is the zero address"),
    ({"treasury": ZERO}, "treasury is the zero address"),
    ({"fee_recipient": ZERO}, "fee recipient is the zero address"),
    ({"fee_bps": 10_001}, "fee above 100%"),
    ({"challenge_window": 0}, "bad challenge window"),
    ({"challenge_window": 31 * 86_400}, "bad challenge window"),
    ({"vote_window": 0}, "bad vote window"),
    ({"challenge_bond": 0}, "zero challenge bond"),
    ({"committee_size": 0}, "bad committee size"),
    ({"committee_size": 8}, "bad committee size"),
])
def test_constructor_checks(m: Market, change: dict[str, object], reason: str) -> None:
    s = m.market.settings()
    args = {"token": s.token, "staking": s.staking, "registry": s.registry, "treasury": s.treasury,
            "fee_recipient": s.fee_recipient, "fee_bps": s.fee_bps, "collateral_bps": s.collateral_bps,
            "challenge_window": s.challenge_window, "vote_window": s.vote_window,
            "challenge_bond": s.challenge_bond, "committee_size": s.committee_size, **change}
    with pytest.raises(ContractRevert) as info:
        deploy(m.w3, m["deployer"], compile_contract("JobMarket"), *args.values())
    assert reason in info.value.reason
