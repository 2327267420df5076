"""Property tests of the market contracts against a real chain (hypothesis, stateful).

A state machine drives clients, providers and validators through random sequences of
posts, bids, assignments, results, challenges, votes, expiries, time jumps, deposits,
withdrawals and stake moves, many of them invalid on purpose. After every step:

- tokens are conserved: wallets + contracts == total supply, the market holds exactly
  its accounts + unsettled escrow + bonds + parked fees, staking exactly the stakes;
- every escrow ends as exactly one of paid or refunded: a settled job has one
  JobSettled, and what was escrowed == refunded at assignment + paid + fee + refunded;
- a call that fails changes nothing: failing calls are mined with a fixed gas limit (so
  they really run on chain) and the state fingerprint is compared around them;
- only the market slashes: every Slashed event names the market, and any other caller's
  slash reverts.

Each example starts from the same staged state (``evm_snapshot``/``evm_revert``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

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
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError

from deai.chain.cids import cid_to_bytes
from deai.chain.events import JobAssigned, JobPosted, JobSettled, Slashed
from deai.chain.rpc import send
from deai.errors import ContractRevert
from deai.testing.market import (
    PROVIDERS,
    VALIDATORS,
    Ledger,
    Market,
    cid,
    rpc,
)
from deai.testing.plugin import Chain
from deai.units import tokens

CLIENTS = ("client1", "client2")
EVERYONE = (*CLIENTS, *PROVIDERS, *VALIDATORS)
VERIFICATIONS = ((0, 10_000), (0, 5_000), (1, 2), (4, 0))  # sampled 100%, 50%, redundant(2), none
FAILING_GAS = 1_500_000
# what a step does, weighted: mostly moving live jobs along, with enough noise to probe refusals
ACTIONS = ("progress",) * 6 + ("post", "post", "nonsense", "nonsense", "settle", "wait", "move_money")


@dataclass
class Books:
    """What the events say about each job's escrow."""

    escrowed: dict[int, int] = field(default_factory=dict)
    refunded_at_assignment: dict[int, int] = field(default_factory=dict)
    settled: dict[int, list[JobSettled]] = field(default_factory=dict)


class MarketMachine(RuleBasedStateMachine):
    m: Market

    def __init__(self) -> None:
        super().__init__()
        self.snap = rpc(self.m.w3, "evm_snapshot")
        self.books = Books()
        self.view: Ledger | None = None
        self.max_prices: dict[int, int] = {}
        self.bidders: dict[int, list[str]] = {}

    def teardown(self) -> None:
        rpc(self.m.w3, "evm_revert", self.snap)

    # --- acting -----------------------------------------------------------------------------

    def act(self, role: str, fn: ContractFunction) -> bool:
        """Send ``fn`` from ``role``. A call that would revert is mined anyway with a fixed
        gas limit and must leave the fingerprint as it was. True if it succeeded."""
        account = self.m[role]
        try:
            fn.call({"from": account.address})
        except (ContractLogicError, ContractCustomError):
            note_event(f"{fn.fn_name}: refused")
            before = self.m.fingerprint()
            with pytest.raises(ContractRevert):
                send(self.m.w3, account, fn, gas=FAILING_GAS)
            assert self.m.fingerprint() == before, f"{fn.fn_name} failed but changed state"
            return False
        receipt = send(self.m.w3, account, fn)
        note_event(f"{fn.fn_name}: done")
        for event in self.m.market.decode(receipt["logs"]):
            self._book(event)
        for event in self.m.staking.decode(receipt["logs"]):
            if isinstance(event, Slashed):
                assert event.slasher == self.m.market.address, "someone other than the market slashed"
        return True

    def _book(self, event: object) -> None:
        b = self.books
        if isinstance(event, JobPosted):
            b.escrowed[event.job_id] = event.max_price
            self.max_prices[event.job_id] = event.max_price
        elif isinstance(event, JobAssigned):
            b.refunded_at_assignment[event.job_id] = event.refunded
        elif isinstance(event, JobSettled):
            b.settled.setdefault(event.job_id, []).append(event)

    def job(self, data: st.DataObject, *statuses: int) -> int:
        """Mostly a job in one of ``statuses`` (as of the last invariant check), sometimes
        an unknown id or a job in any state, so that most actions can succeed."""
        view = self.view.statuses if self.view else {}
        fitting = [j for j, status in view.items() if status in statuses]
        roll = data.draw(st.integers(0, 9))
        if fitting and roll > 1:
            return data.draw(st.sampled_from(fitting))
        if view and roll == 1:
            return data.draw(st.sampled_from(sorted(view)))
        return len(view) + 1

    def has(self, *statuses: int) -> bool:
        return self.view is not None and any(s in statuses for s in self.view.statuses.values())

    def role_of(self, address: str) -> str | None:
        return next((r for r in EVERYONE if self.m.addr(r) == address), None)

    def pick(self, data: st.DataObject, usual: str | None, others: tuple[str, ...]) -> str:
        """Mostly the ``usual`` actor (the job's client, its provider…), sometimes another."""
        if usual is not None and data.draw(st.integers(0, 4)) > 0:
            return usual
        return data.draw(st.sampled_from(others))

    # --- rules ------------------------------------------------------------------------------

    @initialize(client=st.sampled_from(CLIENTS), max_price=st.integers(1, 60),
                verification=st.sampled_from(VERIFICATIONS))
    def first_job(self, client: str, max_price: int, verification: tuple[int, int]) -> None:
        self._post(client, max_price, 120, 3_000, verification)

    @rule(data=st.data(), action=st.sampled_from(ACTIONS))
    def step(self, data: st.DataObject, action: str) -> None:
        """One action, drawn with the weights of ACTIONS (hypothesis picks rules evenly, and
        a job needs several steps in a row to reach a dispute)."""
        getattr(self, action)(data)

    def post(self, data: st.DataObject) -> None:
        self._post(
            data.draw(st.sampled_from(CLIENTS)), data.draw(st.integers(0, 60)),
            data.draw(st.sampled_from([30, 120])), data.draw(st.sampled_from([20, 600, 600, 3_000])),
            data.draw(st.sampled_from(VERIFICATIONS)),
        )

    def _post(self, client: str, max_price: int, window: int, timeout: int, verification: tuple[int, int]) -> None:
        mode, param = verification
        fn = self.m.market.contract.functions.postJob(
            cid_to_bytes(cid(f"spec{max_price}")), tokens(max_price), window, self.m.now() + timeout, mode, param
        )
        self.act(client, fn)

    def progress(self, data: st.DataObject) -> None:
        """Take a live job one natural step further (bid, accept or assign, commit,
        challenge or finalize, vote or resolve), mostly by the party that would."""
        if not self.has(1, 2, 3, 4):
            return self.post(data)
        assert self.view is not None
        job = self.job(data, 1, 2, 3, 4)
        status = self.view.statuses.get(job, 0)
        f = self.m.market.contract.functions
        if status in (1, 2) and self.m.now() >= self.view.deadlines[job]:
            self.act(data.draw(st.sampled_from(EVERYONE)), f.expire(job))
        elif status == 1:
            bidders = self.bidders.get(job, [])
            window_open = self.m.now() < self.view.window_ends[job]
            if window_open and (not bidders or data.draw(st.booleans())):
                provider = data.draw(st.sampled_from(PROVIDERS))
                share = data.draw(st.integers(5, 100))
                if self.act(provider, f.bid(job, self.max_prices[job] * share // 100)):
                    self.bidders.setdefault(job, []).append(provider)
            elif len(bidders) > 0 and data.draw(st.booleans()):
                client = self.role_of(self.view.clients[job]) or "client1"
                self.act(client, f.acceptBid(job, self.m.addr(data.draw(st.sampled_from(bidders)))))
            else:
                if window_open:
                    self.m.advance(120)
                self.act(data.draw(st.sampled_from(EVERYONE)), f.assign(job))
        elif status == 2:
            provider = self.role_of(self.view.providers[job]) or "provider1"
            self.act(provider, f.commitResult(job, cid_to_bytes(cid("out")), hashlib.sha256(b"r").digest()))
        elif status == 3:
            if data.draw(st.booleans()):
                self.act(data.draw(st.sampled_from(VALIDATORS)), f.challenge(job))
            else:
                self.m.advance(60)
                self.act(data.draw(st.sampled_from(EVERYONE)), f.finalize(job))
        elif status == 4:
            members = [r for r in VALIDATORS if self.m.addr(r) in self.view.committees[job]]
            if members and data.draw(st.integers(0, 3)) > 0:
                self.act(data.draw(st.sampled_from(members)), f.vote(job, data.draw(st.booleans())))
            else:
                if data.draw(st.booleans()):
                    self.m.advance(300)
                self.act(data.draw(st.sampled_from(EVERYONE)), f.resolve(job))

    def nonsense(self, data: st.DataObject) -> None:
        """A job action by anyone, on any job (or none), with any amount: mostly refused."""
        caller = data.draw(st.sampled_from((*EVERYONE, "deployer")))
        amount = data.draw(st.integers(0, 70))
        action = data.draw(st.sampled_from(["bid", "acceptBid", "assign", "commitResult", "challenge", "vote"]))
        job = self.job(data, *range(8))
        f = self.m.market.contract.functions
        fn = {
            "bid": lambda: f.bid(job, tokens(amount) // 2),
            "acceptBid": lambda: f.acceptBid(job, self.m.addr(data.draw(st.sampled_from(PROVIDERS)))),
            "assign": lambda: f.assign(job),
            "commitResult": lambda: f.commitResult(
                job, cid_to_bytes(cid("x")), b"\x00" * 32 if amount == 0 else hashlib.sha256(b"x").digest()
            ),
            "challenge": lambda: f.challenge(job),
            "vote": lambda: f.vote(job, amount % 2 == 0),
        }[action]()
        if self.act(caller, fn) and action == "bid":
            self.bidders.setdefault(job, []).append(caller)

    def settle(self, data: st.DataObject) -> None:
        caller = data.draw(st.sampled_from(EVERYONE))
        action = data.draw(st.sampled_from(["finalize", "expire", "resolve", "collectFees"]))
        f = self.m.market.contract.functions
        if action == "collectFees":
            self.act(caller, f.collectFees(list(range(1, self.m.market.provider_count() + 1))))
            return
        job = self.job(data, 1, 2, 3, 4, 5, 6, 7)
        self.act(caller, getattr(f, action)(job))

    def wait(self, data: st.DataObject) -> None:
        self.m.advance(data.draw(st.sampled_from([15, 40, 70, 400, 3_700])))

    def move_money(self, data: st.DataObject) -> None:
        role = data.draw(st.sampled_from(("deployer", *EVERYONE)))
        amount = data.draw(st.integers(0, 300))
        action = data.draw(st.sampled_from(["deposit", "withdraw", "unbond", "slash"]))
        m, f = self.m.market.contract.functions, self.m.staking.contract.functions
        if action == "slash":  # only the market slashes: anyone else is refused
            fn = f.slash(self.m.addr("provider1"), tokens(amount) + 1, self.m.addr(role))
            assert not self.act(role, fn), f"{role} slashed"
        elif action == "unbond":
            self.act(role, f.requestWithdraw(tokens(amount)))
        else:
            self.act(role, getattr(m, action)(tokens(amount // 10)))

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def tokens_are_conserved(self) -> None:
        ledger = self.view = self.m.ledger()
        assert ledger.problems(self.m.market.address, self.m.staking.address) == []
        # every escrow ends as exactly one of paid or refunded, and adds up
        for job_id, status in ledger.statuses.items():
            settled = self.books.settled.get(job_id, [])
            terminal = status in (5, 6, 7)
            assert len(settled) == (1 if terminal else 0), (job_id, status, settled)
            if settled:
                s = settled[0]
                out = self.books.refunded_at_assignment.get(job_id, 0) + s.paid + s.fee + s.refunded
                assert out == self.books.escrowed[job_id], (job_id, out, self.books.escrowed[job_id])
                assert int(s.status) == status


def test_market_state_machine(staged_market: Market, chain: Chain) -> None:
    """Run with --hypothesis-show-statistics to see how often each action ran or was refused."""
    MarketMachine.m = staged_market
    run_state_machine_as_test(
        MarketMachine,
        settings=settings(max_examples=15, stateful_step_count=20, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]),
    )
