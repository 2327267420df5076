"""ValidatorPool on the real chain: validators report per epoch and share that epoch's fees by stake.

The JobMarket's fees reach the pool through ``sync``; exact balances are checked at every
step (three validators with stakes 500, 750 and 500 split a pot with one unit of rounding
dust, which the sweep sends to the treasury), and so is every refusal with its reason. A
hypothesis state machine then checks conservation under random syncs, reports, claims,
sweeps, stake moves and time jumps: the pool's token balance is always what it owes, the
sum of the pots not yet paid out, and no epoch pays out more than its pot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import event as note_event
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from deai.chain.compile import compile_contract
from deai.chain.rpc import deploy
from deai.chain.types import PoolReason
from deai.chain.validator_pool import ReportState, ValidatorPool
from deai.errors import ContractRevert
from deai.testing.market import VALIDATORS, Market, rpc
from deai.testing.plugin import Chain
from deai.units import TokenAmount, tokens
from deai.verify.reputation import encode_scores, scores_root

pytestmark = pytest.mark.integration

URI = encode_scores({1: 10_500})
ROOT = scores_root(URI)


def _pool(m: Market) -> ValidatorPool:
    return ValidatorPool(m.w3, m.deployment)


def _to_epoch_start(m: Market, pool: ValidatorPool) -> int:
    """Move the chain to 1 s into the next epoch; returns that epoch."""
    length = pool.epoch_length()
    target = (m.now() // length + 1) * length + 1
    m.advance(target - m.now())
    return m.now() // length


def _finalized(m: Market, prices: list[int]) -> int:
    """Jobs at ``prices`` (whole tokens) run to payment; returns the fees they parked."""
    jobs = [m.committed(price=tokens(p)) for p in prices]
    m.advance(m.market.settings().challenge_window)
    for job in jobs:
        m.market.finalize(m["client2"], job)
    return sum(m.market.fee_for(tokens(p)) for p in prices)


def _pool_state(m: Market, pool: ValidatorPool, epochs: list[int]) -> list[Any]:
    watched = [pool.address, m.addr("deployer"), *(m.addr(v) for v in VALIDATORS)]
    out: list[Any] = [pool.owed(), pool.market(), *(m.token.balance_of(a) for a in watched)]
    for e in epochs:
        out.append(pool.epoch(e))
        out += [(pool.weight_of(e, m.addr(v)), pool.state_of(e, m.addr(v))) for v in VALIDATORS]
    return out


def _refused(m: Market, pool: ValidatorPool, epochs: list[int], call: Callable[[], object], reason: str) -> None:
    before = _pool_state(m, pool, epochs)
    with pytest.raises(ContractRevert) as info:
        call()
    assert reason in info.value.reason, info.value.reason
    assert _pool_state(m, pool, epochs) == before


def test_the_pool_is_the_market_fee_recipient_and_set_once(m: Market) -> None:
    pool = _pool(m)
    assert m.market.settings().fee_recipient == pool.address
    assert pool.market() == m.market.address and pool.treasury() == m.addr("deployer")
    assert pool.epoch_length() == 60
    _refused(m, pool, [], lambda: pool.set_market(m["client1"], m.market.address), "only the owner sets the market")
    _refused(m, pool, [], lambda: pool.set_market(m["deployer"], m.market.address), "market already set")
    # a fresh pool: the existing market pays its fees to the deployed pool, not to it
    address, _ = deploy(m.w3, m["deployer"], compile_contract("ValidatorPool"), m.token.address,
                        m.staking.address, m.registry.address, m.addr("deployer"), 60)
    fresh = ValidatorPool(m.w3, address)
    _refused(m, fresh, [], lambda: fresh.sync(m["client1"], [1]), "market not set")
    _refused(m, fresh, [], lambda: fresh.set_market(m["deployer"], m.market.address), "pays its fees elsewhere")
    with pytest.raises(ContractRevert, match="bad epoch length"):
        deploy(m.w3, m["deployer"], compile_contract("ValidatorPool"), m.token.address,
               m.staking.address, m.registry.address, m.addr("deployer"), 0)


def test_reporters_share_the_epoch_fees_by_stake_and_the_dust_goes_to_the_treasury(m: Market) -> None:
    pool = _pool(m)
    v1, v2, v3 = (m[v] for v in VALIDATORS)
    m.staking.deposit(v2, tokens(250))  # stakes 500, 750, 500
    fees = _finalized(m, [5, 3])
    assert fees == tokens("0.08")
    epoch = _to_epoch_start(m, pool)
    treasury_before = m.token.balance_of(m.addr("deployer"))
    epochs = [epoch - 1, epoch]

    synced = pool.sync(m["client2"], [1, 2, 3])  # anyone may
    assert (synced.epoch, synced.amount, synced.pot, synced.reason) == (epoch, fees, fees, PoolReason.FEES_SYNCED)
    assert m.token.balance_of(pool.address) == fees == pool.owed() == pool.epoch(epoch).pot
    assert m.market.balance_of(pool.address) == 0 and all(m.market.fees_owed_at(p) == 0 for p in (1, 2, 3))
    _refused(m, pool, epochs, lambda: pool.sync(m["client2"], [1, 2, 3]), "no fees to collect")

    _refused(m, pool, epochs, lambda: pool.report(v1, epoch, ROOT, URI), "epoch not finished")
    _refused(m, pool, epochs, lambda: pool.report(m["client1"], epoch - 1, ROOT, URI), "not an active validator")
    _refused(m, pool, epochs, lambda: pool.report(v1, epoch - 1, bytes(32), URI), "empty root")
    m.advance(60)  # epoch + 1: the reporting period of `epoch`
    for v in (v1, v2, v3):
        reported = pool.report(v, epoch, ROOT, URI)
        assert reported.validator == v.address and reported.uri == URI and reported.root == ROOT
    assert [r.weight for r in pool.reports(epoch=epoch)] == [tokens(500), tokens(750), tokens(500)]
    _refused(m, pool, epochs, lambda: pool.report(v1, epoch, ROOT, URI), "already reported for that epoch")
    _refused(m, pool, epochs, lambda: pool.report(v1, epoch - 1, ROOT, URI), "reporting for that epoch is closed")
    m.staking.deposit(v1, tokens(1_000))  # after its report: the weight was taken then
    assert pool.weight_of(epoch, v1.address) == tokens(500) and pool.epoch(epoch).total_weight == tokens(1_750)
    _refused(m, pool, epochs, lambda: pool.claim(v1, epoch), "reporting for that epoch is still open")
    _refused(m, pool, epochs, lambda: pool.sweep(m["client1"], epoch), "reporting for that epoch is still open")
    assert pool.claimable(epoch, v1.address) == 0

    m.advance(60)  # epoch + 2: claims open
    shares = {v.address: fees * tokens(w) // tokens(1_750) for v, w in ((v1, 500), (v2, 750), (v3, 500))}
    assert shares[v1.address] == 22_857_142_857_142_857 and shares[v2.address] == 34_285_714_285_714_285
    wallet = m.token.balance_of(v1.address)
    claimed = pool.claim(v1, epoch)
    assert (claimed.amount, claimed.reason) == (shares[v1.address], PoolReason.SHARE_CLAIMED)
    assert m.token.balance_of(v1.address) == wallet + shares[v1.address]
    assert pool.state_of(epoch, v1.address) == ReportState.CLAIMED
    _refused(m, pool, epochs, lambda: pool.claim(v1, epoch), "already claimed")
    _refused(m, pool, epochs, lambda: pool.claim(m["client1"], epoch), "you did not report for that epoch")
    _refused(m, pool, epochs, lambda: pool.sweep(m["client1"], epoch), "shares of that epoch are unclaimed")
    for v in (v2, v3):
        assert pool.claimable(epoch, v.address) == shares[v.address]
        assert pool.claim(v, epoch).amount == shares[v.address]
    dust = fees - sum(shares.values())
    assert dust == 1 and pool.owed() == 1 == m.token.balance_of(pool.address)
    swept = pool.sweep(m["client1"], epoch)
    assert (swept.amount, swept.recipient, swept.reason) == (1, m.addr("deployer"), PoolReason.ROUNDING_DUST)
    assert m.token.balance_of(m.addr("deployer")) == treasury_before + 1
    assert pool.owed() == 0 == m.token.balance_of(pool.address)
    _refused(m, pool, epochs, lambda: pool.sweep(m["client1"], epoch), "nothing to sweep")


def test_a_pot_nobody_reported_for_goes_to_the_treasury(m: Market) -> None:
    pool = _pool(m)
    fees = _finalized(m, [4])
    epoch = _to_epoch_start(m, pool)
    m.market.collect_fees(m["client1"])  # collected by someone else: sync still takes it
    assert m.market.balance_of(pool.address) == fees
    assert pool.sync(m["validator1"], []).amount == fees
    m.advance(120)  # nobody reports during epoch + 1
    _refused(m, pool, [epoch], lambda: pool.claim(m["validator1"], epoch), "you did not report for that epoch")
    treasury = m.token.balance_of(m.addr("deployer"))
    swept = pool.sweep(m["client2"], epoch)
    assert (swept.amount, swept.reason) == (fees, PoolReason.NO_REPORTS)
    assert m.token.balance_of(m.addr("deployer")) == treasury + fees and pool.owed() == 0


# --- conservation ------------------------------------------------------------------------------

STAGED_JOBS = 6


class PoolMachine(RuleBasedStateMachine):
    """Random syncs, reports, claims, sweeps, stake moves and time jumps over staged fees."""

    m: Market
    jobs: list[int]
    done: ClassVar[Counter[str]] = Counter()
    """Successful calls over all examples, by event: the run must have reached claims."""

    def __init__(self) -> None:
        super().__init__()
        self.snap = rpc(self.m.w3, "evm_snapshot")
        self.pool = _pool(self.m)
        self.length = self.pool.epoch_length()
        self.epochs: set[int] = set()
        self.finalized: set[int] = set()
        self.paid_out = 0  # claims and sweeps, from the events
        self.synced = 0

    def teardown(self) -> None:
        rpc(self.m.w3, "evm_revert", self.snap)

    def epoch(self) -> int:
        return self.m.now() // self.length

    def attempt(self, call: Callable[[], Any]) -> Any:
        try:
            done = call()
        except ContractRevert as exc:
            assert exc.reason.startswith("pool: ") or exc.reason.startswith("market: "), exc.reason
            note_event(f"refused: {exc.reason}")
            return None
        note_event(f"done: {type(done).__name__}")
        PoolMachine.done[type(done).__name__] += 1
        return done

    @initialize()
    def first_fees(self) -> None:
        self.finalize(0)
        self.sync("client1")

    @rule(index=st.integers(0, STAGED_JOBS - 1))
    def finalize(self, index: int) -> None:
        job = self.jobs[index]
        if job not in self.finalized:
            self.m.market.finalize(self.m["client2"], job)
            self.finalized.add(job)

    @rule(caller=st.sampled_from(["client1", *VALIDATORS]))
    def sync(self, caller: str) -> None:
        event = self.attempt(lambda: self.pool.sync(self.m[caller], [1, 2, 3]))
        if event is not None:
            self.epochs.add(event.epoch)
            self.synced += event.amount

    # mostly the epoch that may be reported (back = 1) or claimed (back = 2), sometimes not
    @rule(validator=st.sampled_from([*VALIDATORS, "client1"]), back=st.sampled_from([1, 1, 1, 0, 2]))
    def report(self, validator: str, back: int) -> None:
        epoch = self.epoch() - back
        if self.attempt(lambda: self.pool.report(self.m[validator], epoch, ROOT, URI)) is not None:
            self.epochs.add(epoch)

    @rule(validator=st.sampled_from(VALIDATORS), back=st.sampled_from([2, 2, 2, 1, 3]))
    def claim(self, validator: str, back: int) -> None:
        event = self.attempt(lambda: self.pool.claim(self.m[validator], self.epoch() - back))
        if event is not None:
            self.paid_out += event.amount

    @rule(back=st.sampled_from([2, 2, 1, 3]))
    def sweep(self, back: int) -> None:
        event = self.attempt(lambda: self.pool.sweep(self.m["client1"], self.epoch() - back))
        if event is not None:
            self.paid_out += event.amount

    @rule(validator=st.sampled_from(VALIDATORS), amount=st.integers(1, 300))
    def stake(self, validator: str, amount: int) -> None:
        self.m.staking.deposit(self.m[validator], TokenAmount(tokens(amount) + 1))  # odd stakes: rounding

    @rule(seconds=st.sampled_from([5, 30, 60, 60, 150]))
    def wait(self, seconds: int) -> None:
        self.m.advance(seconds)

    @rule(validator=st.sampled_from(VALIDATORS), reported=st.booleans())
    def round_trip(self, validator: str, reported: bool) -> None:
        """A whole fee cycle in order (random steps alone seldom line one up): fees into this
        epoch's pot, a report for it in the next epoch (or none), then the claim and the
        sweep of what is left once claims open."""
        waiting = [i for i, job in enumerate(self.jobs) if job not in self.finalized]
        if waiting:
            self.finalize(waiting[0])
        self.sync(validator)
        self.wait(self.length)
        if reported:
            self.report(validator, 1)
        self.wait(self.length)
        if reported:
            self.claim(validator, 2)
        self.sweep(2)

    @invariant()
    def conserved(self) -> None:
        pool = self.pool
        held = self.m.token.balance_of(pool.address)
        books = [pool.epoch(e) for e in sorted(self.epochs)]
        assert held == pool.owed() == sum(b.pot - b.paid for b in books)
        assert held == self.synced - self.paid_out
        for b in books:
            assert b.paid <= b.pot and b.claims <= b.reports
            weights = [pool.weight_of(b.epoch, self.m.addr(v)) for v in VALIDATORS]
            assert sum(weights) == b.total_weight


def test_pool_conservation_state_machine(staged_market: Market, chain: Chain) -> None:
    m = staged_market
    jobs = [m.committed(price=tokens(1 + i), spec=f"spec{i}") for i in range(STAGED_JOBS)]
    m.advance(m.market.settings().challenge_window)
    PoolMachine.m = m
    PoolMachine.jobs = jobs
    run_state_machine_as_test(
        PoolMachine,
        settings=settings(max_examples=10, stateful_step_count=30, deadline=None,
                          suppress_health_check=list(HealthCheck)),
    )
    assert PoolMachine.done["ShareClaimed"] > 0 and PoolMachine.done["PotSwept"] > 0

