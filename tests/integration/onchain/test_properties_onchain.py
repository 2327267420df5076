"""Conservation of funds through AIRequests, as a stateful property test against a real chain.

Hypothesis drives requests from a contract consumer and an account, through bids, results
(right and wrong), deliveries, callbacks that revert, challenges, finalization, expiry,
settlement, retries, deposits, withdrawals and subscriptions, in random order and often
at the wrong time. After every step:

- tokens are conserved (wallets + contracts == supply);
- the coordinator holds exactly what it owes: its wallet + its JobMarket account + the
  escrow of its open jobs == consumer balances + subscription reserves + what each
  unfinished request may still get back;
- every closed request's escrow ended as exactly one of: paid (price + fee, when its job
  was finalized) or refunded to the consumer (the rest, to the unit);
- a refused call changed nothing the coordinator keeps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from deai.chain.ai_requests import (
    AIDelivered,
    AIParams,
    AIRequested,
    AIRequestFailed,
    Policy,
    RequestKind,
    RequestStatus,
    SubscriptionCancelled,
    SubscriptionCreated,
)
from deai.chain.cids import cid_to_bytes
from deai.chain.events import ChainLog
from deai.chain.types import JobStatus, Verification
from deai.errors import ContractRevert
from deai.testing.market import PROVIDERS, cid, rpc
from deai.units import tokens

from .conftest import Kit, pixels

pytestmark = pytest.mark.integration

MANIFEST = cid("manifest")
PRICES = (tokens(1), tokens(2))
MAX_PRICES = (tokens(2), tokens(3), tokens(5))


class CoordinatorMachine(RuleBasedStateMachine):
    kit: Kit

    def __init__(self) -> None:
        super().__init__()
        self.snap = rpc(self.kit.w3, "evm_snapshot")
        self.requests: dict[int, AIRequested] = {}
        self.refunds: dict[int, int] = {}
        self.subscriptions: dict[int, SubscriptionCreated] = {}
        self.cancelled: set[int] = set()
        self.consumers = {self.kit.probe.address, self.kit.m.addr("client2")}
        settings_ = self.kit.m.market.settings()
        self.fee_bps, self.challenge_window = settings_.fee_bps, settings_.challenge_window
        self.bid_window = self.kit.ai.bid_window()

    def teardown(self) -> None:
        rpc(self.kit.w3, "evm_revert", self.snap)

    # --- acting --------------------------------------------------------------------------

    def _try(self, call: Callable[[], object]) -> object | None:
        before = self._kept()
        try:
            return call()
        except ContractRevert:
            assert self._kept() == before, "a refused call changed the coordinator's books"
            return None

    def _kept(self) -> list[str]:
        """The coordinator's holdings and consumer balances, raw, in one JSON-RPC batch."""
        return self._read()[: 2 + len(self.consumers)]

    def _read(self) -> list[str]:
        m, ai = self.kit.m, self.kit.ai
        calls: list[tuple[Any, str, tuple[Any, ...]]] = [
            (m.token, "balanceOf", (ai.address,)), (m.market, "balanceOf", (ai.address,)),
        ]
        calls += [(ai, "balanceOf", (c,)) for c in sorted(self.consumers)]
        calls += [(ai, "getSubscription", (s,)) for s in sorted(self.subscriptions)]
        for request_id in sorted(self.requests):
            calls += [(m.market, "getJob", (request_id,)), (ai, "getRequest", (request_id,))]
        return list(m.raw_calls(calls))

    def _record(self, events: list[ChainLog]) -> None:
        for event in events:
            if isinstance(event, AIRequested):
                self.requests[event.request_id] = event
            elif isinstance(event, (AIDelivered, AIRequestFailed)):
                self.refunds[event.request_id] = self.refunds.get(event.request_id, 0) + event.refunded
            elif isinstance(event, SubscriptionCreated):
                self.subscriptions[event.subscription_id] = event
            elif isinstance(event, SubscriptionCancelled):
                self.cancelled.add(event.subscription_id)

    def _send(self, role: str, fn: object) -> object | None:
        from deai.chain.rpc import send

        receipt = self._try(lambda: send(self.kit.w3, self.kit.m[role], fn))  # type: ignore[arg-type]
        if receipt is not None:
            self._record(self.kit.ai.decode(receipt["logs"]))  # type: ignore[index]
        return receipt

    def _pick(self, data: st.DataObject) -> int | None:
        if not self.requests:
            return None
        return int(data.draw(st.sampled_from(sorted(self.requests))))

    # --- rules ---------------------------------------------------------------------------

    @initialize(policy=st.sampled_from(list(Policy)))
    def first_request(self, policy: Policy) -> None:
        self.ask(True, policy, MAX_PRICES[1], 0)

    @rule(by_contract=st.booleans(), policy=st.sampled_from(list(Policy)), max_price=st.sampled_from(MAX_PRICES),
          row=st.integers(0, 9))
    def ask(self, by_contract: bool, policy: Policy, max_price: int, row: int) -> None:
        if len(self.requests) >= 4:  # a few live requests, driven far, find more than many idle ones
            return
        params = AIParams(RequestKind.CLASSIFY)
        v = Verification.sampled(10_000)
        model = cid_to_bytes(self.kit.models["digits"])
        if by_contract:
            fn = self.kit.probe.functions.ask(model, pixels(row), max_price, 0, 200_000, int(policy), params.as_tuple(v))
            self._send("client1", fn)
        else:
            self.kit.m.token.approve(self.kit.m["client2"], self.kit.ai.address, max_price)
            fn = self.kit.ai.contract.functions.requestAI(model, pixels(row), max_price, 0, 200_000, int(policy),
                                                          params.as_tuple(v))
            self._send("client2", fn)

    def _advance(self, request_id: int, data: st.DataObject) -> None:
        """Move a request one natural step along its life (bid, assign, commit, deliver,
        finalize or prove fraud, settle, release or retry), with random choices at each."""
        m, ai = self.kit.m, self.kit.ai
        job, state = m.market.job(request_id), ai.request(request_id)
        provider = next((p for p in PROVIDERS if m.addr(p) == job.provider), "provider1")
        f = ai.contract.functions
        if job.status in (JobStatus.OPEN, JobStatus.ASSIGNED) and m.now() >= job.deadline:
            self._send("client1", f.settle(request_id))  # expires the job, refunds, notifies
        elif job.status is JobStatus.OPEN:
            if job.provider.startswith("0x0000") or data.draw(st.booleans()):
                who = data.draw(st.sampled_from(PROVIDERS))
                price = data.draw(st.sampled_from([p for p in PRICES if p * 101 // 100 <= job.max_price]))
                self._try(lambda: m.market.bid(m[who], request_id, price))
            else:
                m.advance(self.bid_window + 1)
                self._try(lambda: m.market.assign(m["client1"], request_id))
        elif job.status is JobStatus.ASSIGNED:
            wrong = data.draw(st.booleans())
            digest = hashlib.sha256(b"wrong" if wrong else b"right").digest()
            self._try(lambda: m.market.commit_result(m[provider], request_id, cid("out"), digest))
        elif (state.status is RequestStatus.PENDING and job.status is JobStatus.COMMITTED
              and data.draw(st.integers(0, 3)) > 0):
            answer = data.draw(st.integers(0, 9)).to_bytes(32, "big")
            self._send(provider, f.deliver(request_id, answer, cid_to_bytes(MANIFEST)))
        elif job.status is JobStatus.COMMITTED:
            if data.draw(st.booleans()):
                self.kit.prove_fraud(request_id)
            else:
                m.advance(self.challenge_window + 1)
                self._try(lambda: m.market.finalize(m["client1"], request_id))
        else:
            self.release_or_retry(request_id, data.draw(st.sampled_from([0, 600_000])))
            self._send("client1", f.settle(request_id))

    @rule(data=st.data())
    def progress(self, data: st.DataObject) -> None:
        request_id = self._pick(data)
        if request_id is not None:
            self._advance(request_id, data)

    @rule(data=st.data(), steps=st.integers(2, 7))
    def drive(self, data: st.DataObject, steps: int) -> None:
        request_id = self._pick(data)
        for _ in range(steps if request_id is not None else 0):
            assert request_id is not None
            self._advance(request_id, data)

    @rule(data=st.data(), steps=st.integers(3, 8))
    def drive_further(self, data: st.DataObject, steps: int) -> None:
        self.drive(data, steps)

    @rule(data=st.data(), which=st.sampled_from(["deliver", "settle", "wait", "mood", "money", "subscription"]))
    def noise(self, data: st.DataObject, which: str) -> None:
        """One thing that may come at any time, often at the wrong one."""
        if which == "deliver":
            self.deliver_anytime(data, data.draw(st.integers(0, 9)), data.draw(st.sampled_from(PROVIDERS)))
        elif which == "settle":
            self.settle(data)
        elif which == "wait":
            self.wait(data.draw(st.sampled_from([60, 700])))
        elif which == "mood":
            self.consumer_mood(data.draw(st.integers(0, 3)))
        elif which == "money":
            self.move_money(data.draw(st.sampled_from([tokens(1), tokens(4)])), data.draw(st.booleans()))
        else:
            self.subscription(data.draw(st.integers(1, 3)), data.draw(st.booleans()), data.draw(st.booleans()))

    def deliver_anytime(self, data: st.DataObject, answer: int, who: str) -> None:
        request_id = self._pick(data)
        if request_id is not None:
            fn = self.kit.ai.contract.functions.deliver(request_id, answer.to_bytes(32, "big"), cid_to_bytes(MANIFEST))
            self._send(who, fn)

    def settle(self, data: st.DataObject) -> None:
        request_id = self._pick(data)
        if request_id is not None:
            self._send("client1", self.kit.ai.contract.functions.settle(request_id))

    def release_or_retry(self, request_id: int, gas: int) -> None:
        delivered = self.kit.ai.delivery(request_id, from_block=self.requests[request_id].block_number)
        f = self.kit.ai.contract.functions
        if delivered is not None:
            out, manifest = delivered.output, delivered.manifest_cid_bytes
            self._send("client1", f.release(request_id, out, manifest))
            self._send("client1", f.retryCallback(request_id, out, manifest, gas))
        self._send("client1", f.retryDisputeCallback(request_id, gas))

    def wait(self, seconds: int) -> None:
        self.kit.m.advance(seconds)

    def consumer_mood(self, behaviour: int) -> None:
        self.kit.call_probe("setBehaviour", behaviour)

    def move_money(self, amount: int, withdraw: bool) -> None:
        client = self.kit.m["client2"]
        f = self.kit.ai.contract.functions
        if withdraw:
            self._send("client2", f.withdraw(amount))
            self._send("client1", self.kit.probe.functions.withdrawFromCoordinator(amount))
        else:
            self.kit.m.token.approve(client, self.kit.ai.address, amount)
            self._send("client2", f.deposit(self.kit.probe.address, amount))

    def subscription(self, rounds: int, fire: bool, cancel: bool) -> None:
        f = self.kit.probe.functions
        if not self.subscriptions or not (fire or cancel):
            params = AIParams(RequestKind.CLASSIFY).as_tuple(Verification.sampled(10_000))
            self._send("client1", f.subscribe(cid_to_bytes(self.kit.models["digits"]), pixels(1), tokens(2), 0,
                                              200_000, 0, params, 1, rounds, False))
            return
        sub_id = max(self.subscriptions)
        if fire:
            self._send("client2", self.kit.ai.contract.functions.fireSubscription(sub_id, pixels(1)))
        if cancel:
            self._send("client1", f.unsubscribe(sub_id))

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def tokens_are_conserved(self) -> None:
        ledger = self.kit.m.ledger()
        probe = _words(self.kit.m.raw_calls([(self.kit.m.token, "balanceOf", (self.kit.probe.address,))])[0])[0]
        assert sum(ledger.balances.values()) + probe == ledger.supply

    @invariant()
    def the_coordinator_holds_what_it_owes(self) -> None:
        words = [_words(answer) for answer in self._read()]
        held = words[0][0] + words[1][0]
        owed = sum(w[0] for w in words[2:2 + len(self.consumers)])
        at = 2 + len(self.consumers)
        for sub_id in sorted(self.subscriptions):
            schedule = words[at][6]  # a dynamic struct: its offset, then consumer .. schedule
            owed += (schedule >> 128 & (2**64 - 1)) * self.subscriptions[sub_id].max_price
            at += 1
        for request_id in sorted(self.requests):
            job, request = words[at], words[at + 1]
            at += 2
            max_price, price, job_status, status = job[2], job[3], JobStatus(job[4]), RequestStatus(request[1])
            cost = price + price * self.fee_bps // 10_000
            if job_status is JobStatus.OPEN:
                held += max_price
            elif job_status in (JobStatus.ASSIGNED, JobStatus.COMMITTED, JobStatus.DISPUTED):
                held += cost
            if status is RequestStatus.PENDING:
                owed += max_price - cost if job_status is JobStatus.FINALIZED else max_price
            elif status is RequestStatus.DELIVERED and job_status is not JobStatus.FINALIZED:
                owed += cost
            elif status is RequestStatus.FAILED or job_status is JobStatus.FINALIZED:
                # closed: the escrow went out as price + fee, or came back to the unit
                paid = cost if job_status is JobStatus.FINALIZED else 0
                assert self.refunds.get(request_id, 0) == max_price - paid, request_id
        assert held == owed, f"the coordinator holds {held} but owes {owed}"


def _words(answer: str) -> list[int]:
    data = answer[2:] if answer.startswith("0x") else ""
    return [int(data[i:i + 64], 16) for i in range(0, len(data), 64)]


@pytest.mark.timeout(240)
def test_the_coordinator_conserves_funds_whatever_happens(kit: Kit) -> None:
    CoordinatorMachine.kit = kit
    run_state_machine_as_test(
        CoordinatorMachine,
        settings=settings(max_examples=5, stateful_step_count=10, deadline=None,
                          suppress_health_check=list(HealthCheck)),
    )
