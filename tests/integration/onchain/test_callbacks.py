"""Consumer callbacks that fail, and requests that are refused.

A callback that reverts, runs out of its gas or tries to re-enter leaves the provider paid
and the result provable, and can be retried; a bad request is refused with the contract's
reason and leaves every balance as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from deai.chain.ai_requests import (
    MAX_INPUT,
    AIParams,
    CallbackState,
    FailureReason,
    Policy,
    RequestKind,
    RequestStatus,
    SubscriptionCreated,
    result_hash,
)
from deai.chain.cids import cid_to_bytes
from deai.chain.rpc import send
from deai.chain.types import JobStatus, Verification, VerificationMode
from deai.errors import ContractRevert, InputError
from deai.testing.market import cid

from .conftest import MAX_PRICE, PRICE, Kit, pixels

pytestmark = pytest.mark.integration

REVERTS, HEAVY, REENTERS = 1, 2, 3


def test_a_reverting_callback_leaves_the_provider_paid_and_the_result_retrievable(kit: Kit) -> None:
    kit.call_probe("setBehaviour", REVERTS)
    request = kit.ask(pixels(0))
    delivered = kit.answer(request)  # the delivery itself succeeds
    state = kit.ai.request(request.request_id)
    assert state.status is RequestStatus.DELIVERED and state.callback is CallbackState.FAILED
    assert state.result_hash == result_hash(delivered.output, delivered.manifest_cid)
    assert kit.probe_view("answerCount") == 0
    # the provider is paid all the same
    before = kit.m.market.balance_of(kit.m.addr("provider1"))
    kit.finalize(request.request_id)
    assert kit.m.market.balance_of(kit.m.addr("provider1")) == before + PRICE
    # the result is retrievable from the chain and matches the kept hash
    found = kit.ai.delivery_or_fail(request.request_id)
    assert found.output == delivered.output and found.manifest_cid == delivered.manifest_cid
    assert "retry it" in kit.ai.why(request.request_id)
    # a retry while the consumer still reverts fails again and is recorded again
    again = kit.ai.retry_callback(kit.m["client2"], request.request_id)
    assert not again.success
    # a forged output is refused
    with pytest.raises(ContractRevert, match="differ from the delivered ones"):
        send(kit.w3, kit.m["client2"], kit.ai.contract.functions.retryCallback(
            request.request_id, (9).to_bytes(32, "big"), cid_to_bytes(delivered.manifest_cid), 0))
    kit.call_probe("setBehaviour", 0)
    retried = kit.ai.retry_callback(kit.m["client2"], request.request_id)
    assert retried.success and kit.probe_view("answers", request.request_id) == delivered.output
    assert kit.ai.request(request.request_id).callback is CallbackState.OK
    with pytest.raises(ContractRevert, match="no failed result callback"):
        kit.ai.retry_callback(kit.m["client2"], request.request_id)


def test_a_callback_out_of_gas_is_retried_with_a_higher_limit(kit: Kit) -> None:
    kit.call_probe("setBehaviour", HEAVY)  # needs ~450k gas; the request allows 200k
    request = kit.ask(pixels(1), gas_limit=200_000)
    kit.answer(request)
    assert kit.ai.request(request.request_id).callback is CallbackState.FAILED
    with pytest.raises(ContractRevert, match="above the cap"):
        kit.ai.retry_callback(kit.m["client2"], request.request_id, gas_limit=kit.ai.max_callback_gas() + 1)
    retried = kit.ai.retry_callback(kit.m["client2"], request.request_id, gas_limit=800_000)
    assert retried.success and retried.gas_limit == 800_000
    assert kit.probe_view("answerCount") == 1


def test_a_callback_cannot_re_enter_the_coordinator(kit: Kit) -> None:
    kit.call_probe("setBehaviour", REENTERS)
    request = kit.ask(pixels(2))
    kit.answer(request)
    state = kit.ai.request(request.request_id)
    assert state.callback is CallbackState.FAILED and state.status is RequestStatus.DELIVERED


def test_a_relayer_cannot_starve_the_callback_of_its_gas(kit: Kit) -> None:
    request = kit.ask(pixels(3), gas_limit=500_000)
    kit.take(request.request_id)
    result = kit.commit(request)
    output = int(result.result["index"]).to_bytes(32, "big")
    fn = kit.ai.contract.functions.deliver(request.request_id, output, cid_to_bytes(kit.manifest(request, result)))
    with pytest.raises(ContractRevert):
        send(kit.w3, kit.m["provider1"], fn, gas=400_000)  # mined, and refused as a whole
    assert kit.ai.request(request.request_id).status is RequestStatus.PENDING
    send(kit.w3, kit.m["provider1"], fn)  # with the gas the estimate asks for, it goes through
    assert kit.ai.request(request.request_id).callback is CallbackState.OK


def test_a_failed_dispute_notice_is_retried(kit: Kit) -> None:
    kit.call_probe("setBehaviour", REVERTS)
    request = kit.ask(pixels(0))
    kit.answer(request, wrong=True)
    kit.prove_fraud(request.request_id)
    with pytest.raises(ContractRevert, match="the result was overturned"):
        kit.ai.retry_callback(kit.m["client2"], request.request_id)
    failed = kit.ai.settle(kit.m["client2"], request.request_id)
    assert failed.reason is FailureReason.FRAUD_PROVEN
    assert kit.ai.request(request.request_id).callback is CallbackState.FAILED
    kit.call_probe("setBehaviour", 0)
    notice = kit.ai.retry_callback(kit.m["client2"], request.request_id)
    assert notice.success and notice.disputed and kit.probe_view("disputed", request.request_id)


def test_an_account_without_code_can_ask_and_read_its_answer_from_the_events(kit: Kit) -> None:
    client = kit.m["client2"]
    wallet = kit.m.token.balance_of(client.address)
    request = kit.ai.request_ai(client, kit.models["digits"], pixels(4), MAX_PRICE,
                                params=AIParams(RequestKind.CLASSIFY))
    assert kit.m.token.balance_of(client.address) == wallet - MAX_PRICE  # from the wallet
    delivered = kit.answer(request)
    assert kit.ai.request(request.request_id).callback is CallbackState.OK
    assert kit.ai.delivery_or_fail(request.request_id).output == delivered.output
    kit.ai.withdraw(client)  # the change refunded at delivery
    fee = kit.m.market.fee_for(PRICE)
    assert kit.m.token.balance_of(client.address) == wallet - PRICE - fee


# --- refusals ------------------------------------------------------------------------------------


def _books(kit: Kit) -> tuple[Any, ...]:
    """Every balance a refused request could have touched."""
    holders = (kit.probe.address, kit.ai.address, kit.m.market.address)
    return (
        tuple(kit.m.token.balance_of(h) for h in holders),
        kit.ai.balance_of(kit.probe.address), kit.m.market.balance_of(kit.ai.address),
        kit.m.market.job_count(), kit.ai.subscription_count(),
    )


def _ask_raw(kit: Kit, model: bytes, data: bytes, max_price: int, mode: int, gas: int, policy: int,
             params: tuple[Any, ...]) -> Callable[[], object]:
    # straight to the contract (the consumer's own interface would not even let it pass
    # 4 KiB), so the contract's own reason is what comes back
    fn = kit.ai.contract.functions.requestAI(model, data, max_price, mode, gas, policy, params)
    return lambda: send(kit.w3, kit.m["client1"], fn)


CLASSIFY = AIParams(RequestKind.CLASSIFY).as_tuple(Verification())
REFUSALS = [
    ("oversized inline input", dict(data=b"x" * (MAX_INPUT + 1)), "inline input over 1024 bytes"),
    ("unknown model", dict(model=cid_to_bytes(cid("not a registered model")).replace(b"\x55", b"\x70", 1)),
     "unknown model"),
    ("a dataset is not a model", dict(model="dataset"), "unknown model"),
    ("zero escrow", dict(max_price=0), "zero escrow"),
    ("callback gas over the cap", dict(gas=10**9), "callback gas limit above the cap"),
    ("malformed model CID", dict(model=b"\x12\x20" + b"\x00" * 32), "model CID must be a binary CIDv1"),
    ("empty input", dict(data=b""), "empty input"),
    ("input CID that is not one", dict(data=b"not a cid", params=(0, True, False, 64, 100, 0, 1000)),
     "input CID must be a binary CIDv1"),
    ("unknown kind", dict(params=(7, False, False, 64, 100, 0, 1000)), "unknown kind"),
    ("unknown policy", dict(policy=2), "unknown policy"),
    ("rescore of a classifier", dict(mode=2), "rescore verifies generate requests only"),
    ("embedding inline", dict(params=(1, False, False, 64, 100, 0, 1000)), "delivered as a CID"),
    ("zero tokens", dict(params=(2, False, False, 0, 100, 0, 1000)), "max tokens must be 1..4096"),
    ("too hot", dict(params=(2, False, False, 8, 1001, 0, 1000)), "temperature above 10.0"),
    ("bad sampling fraction", dict(params=(0, False, False, 64, 100, 0, 20_000)), "fraction must be 1..10000"),
    ("unknown verification mode", dict(mode=9), "unknown verification mode"),
]


@pytest.mark.parametrize(("what", "change", "reason"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_bad_request_is_refused_with_a_reason_and_nothing_escrowed_is_lost(
    kit: Kit, what: str, change: dict[str, Any], reason: str
) -> None:
    args: dict[str, Any] = dict(model=cid_to_bytes(kit.models["digits"]), data=pixels(0), max_price=MAX_PRICE,
                                mode=0, gas=200_000, policy=0, params=CLASSIFY)
    args.update(change)
    if args["model"] == "dataset":
        dataset = cid("a dataset")
        from deai.chain.types import AssetKind

        kit.m.registry.register_asset(kit.m["deployer"], AssetKind.DATASET, dataset, cid("licence"))
        args["model"] = cid_to_bytes(dataset)
    kit.m.token.approve(kit.m["client1"], kit.ai.address, MAX_PRICE)
    before = _books(kit)
    with pytest.raises(ContractRevert) as info:
        _ask_raw(kit, **args)()
    assert reason in info.value.reason, (what, info.value.reason)
    assert _books(kit) == before


def test_the_wrapper_refuses_an_oversized_input_before_sending(kit: Kit) -> None:
    with pytest.raises(InputError, match="at most 1024"):
        kit.ai.request_ai(kit.m["client1"], kit.models["digits"], b"x" * 2000, MAX_PRICE,
                          params=AIParams(RequestKind.CLASSIFY))
    with pytest.raises(InputError, match="hundredths"):
        AIParams(RequestKind.GENERATE, temperature=0.333)


def test_a_consumer_short_of_funds_is_refused_and_keeps_its_balance(kit: Kit) -> None:
    client = kit.m["client2"]
    kit.m.token.approve(client, kit.ai.address, 0)
    before = _books(kit)
    with pytest.raises(ContractRevert):
        kit.ai.request_ai(client, kit.models["digits"], pixels(0), MAX_PRICE,
                          params=AIParams(RequestKind.CLASSIFY), approve=False)
    assert _books(kit) == before


# --- money and subscriptions ----------------------------------------------------------------------


def test_deposits_pay_for_requests_and_refunds_can_be_withdrawn(kit: Kit) -> None:
    client = kit.m["client2"]
    kit.ai.deposit(client, MAX_PRICE)
    wallet = kit.m.token.balance_of(client.address)
    request = kit.ai.request_ai(client, kit.models["digits"], pixels(0), MAX_PRICE,
                                params=AIParams(RequestKind.CLASSIFY), approve=False)
    assert kit.m.token.balance_of(client.address) == wallet and kit.ai.balance_of(client.address) == 0
    kit.answer(request)
    refund = MAX_PRICE - PRICE - kit.m.market.fee_for(PRICE)
    assert kit.ai.balance_of(client.address) == refund
    with pytest.raises(ContractRevert, match="amount exceeds balance"):
        kit.ai.withdraw(client, refund + 1)
    kit.ai.withdraw(client)
    assert kit.m.token.balance_of(client.address) == wallet + refund


def test_a_subscription_fires_a_prepaid_round_every_period_until_cancelled(kit: Kit) -> None:
    balance = kit.ai.balance_of(kit.probe.address)
    params = AIParams(RequestKind.CLASSIFY)
    receipt = kit.call_probe("subscribe", cid_to_bytes(kit.models["digits"]), pixels(7), MAX_PRICE, 0, 200_000,
                             int(Policy.OPTIMISTIC), params.as_tuple(Verification()), 5, 3, False)
    created = next(e for e in kit.ai.decode(receipt["logs"]) if isinstance(e, SubscriptionCreated))
    sub_id = created.subscription_id
    assert kit.ai.balance_of(kit.probe.address) == balance - 3 * MAX_PRICE  # prepaid
    sub = kit.ai.subscription(sub_id)
    assert sub.rounds_left == 3 and sub.period == 5 and sub.consumer == kit.probe.address
    with pytest.raises(ContractRevert, match="input differs"):
        kit.ai.fire_subscription(kit.m["provider2"], sub_id, pixels(8))
    fired = kit.ai.fire_subscription(kit.m["provider2"], sub_id, pixels(7))  # anyone fires
    assert fired.round == 1
    request = kit.ai.requested(fired.request_id)
    assert request.consumer == kit.probe.address and request.subscription_id == sub_id
    assert kit.ai.request(fired.request_id).subscription_id == sub_id
    with pytest.raises(ContractRevert, match="not due yet"):
        kit.ai.fire_subscription(kit.m["provider2"], sub_id, pixels(7))
    kit.answer(request)
    assert kit.probe_view("answerCount") == 1
    for _ in range(5):
        kit.m.advance(1)
    second = kit.ai.fire_subscription(kit.m["provider2"], sub_id, pixels(7))
    assert second.round == 2
    before = kit.ai.balance_of(kit.probe.address)
    kit.call_probe("unsubscribe", sub_id)
    assert kit.ai.balance_of(kit.probe.address) == before + MAX_PRICE  # the round never fired
    with pytest.raises(ContractRevert, match="no rounds left"):
        kit.ai.fire_subscription(kit.m["provider2"], sub_id, pixels(7))
    with pytest.raises(ContractRevert, match="only the subscriber cancels"):
        kit.ai.cancel_subscription(kit.m["client1"], sub_id)


def test_a_dynamic_subscription_reads_each_rounds_input_from_the_consumer(kit: Kit) -> None:
    params = AIParams(RequestKind.GENERATE, max_tokens=4, temperature=0.0, seed=3)
    v = Verification.rescore(500)
    kit.call_probe("setNextInput", b"The NPC says:")
    receipt = kit.call_probe("subscribe", cid_to_bytes(kit.models["textgen"]), b"", MAX_PRICE,
                             int(VerificationMode.RESCORE), 300_000, int(Policy.FINAL), params.as_tuple(v), 1, 2, True)
    sub_id = next(e for e in kit.ai.decode(receipt["logs"]) if isinstance(e, SubscriptionCreated)).subscription_id
    assert kit.ai.subscription(sub_id).dynamic_input
    first = kit.ai.requested(kit.ai.fire_subscription(kit.m["client2"], sub_id).request_id)
    assert first.input == b"The NPC says:" and first.policy is Policy.FINAL
    kit.call_probe("setNextInput", b"")
    with pytest.raises(ContractRevert, match="empty input"):
        kit.ai.fire_subscription(kit.m["client2"], sub_id)
    kit.call_probe("setNextInput", b"The guard says:")
    second = kit.ai.requested(kit.ai.fire_subscription(kit.m["client2"], sub_id).request_id)
    assert second.input == b"The guard says:" and kit.ai.subscription(sub_id).rounds_left == 0
    assert kit.m.market.job(second.request_id).status is JobStatus.OPEN
