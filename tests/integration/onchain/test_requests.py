"""AIRequests against a real chain: the spec built on chain, both policies, delivery rules, settlement.

The provider's side runs the real runtime (the digits classifier) and signs a real
provenance manifest; the consumer is ``ProbeConsumer.vy``.
"""

from __future__ import annotations

import pytest

from deai.chain.ai_requests import (
    AIParams,
    AIRequestFailed,
    CallbackCalled,
    CallbackState,
    FailureReason,
    Policy,
    RequestKind,
    RequestStatus,
    result_hash,
)
from deai.chain.cids import cid_to_bytes
from deai.chain.rpc import send
from deai.chain.types import JobStatus, Verification, VerificationMode
from deai.errors import ContractRevert
from deai.node.onchain import decode_output, spec_for_request
from deai.testing.market import cid

from .conftest import MAX_PRICE, PRICE, Kit, digit_label, pixels

pytestmark = pytest.mark.integration

SPEC_CASES = [
    (AIParams(RequestKind.CLASSIFY), Verification()),
    (AIParams(RequestKind.CLASSIFY), Verification.sampled(1)),
    (AIParams(RequestKind.CLASSIFY), Verification.sampled(10_000)),
    (AIParams(RequestKind.CLASSIFY, output_as_cid=True), Verification.sampled(1_234)),
    (AIParams(RequestKind.CLASSIFY), Verification.redundant(3)),
    (AIParams(RequestKind.CLASSIFY), Verification.zk()),
    (AIParams(RequestKind.EMBED, output_as_cid=True), Verification.none()),
    (AIParams(RequestKind.GENERATE, max_tokens=1, temperature=0.0, seed=0), Verification.rescore(50)),
    (AIParams(RequestKind.GENERATE, max_tokens=24, temperature=0.07, seed=7), Verification.sampled(300)),
    (AIParams(RequestKind.GENERATE, max_tokens=4096, temperature=0.7, seed=2**63 - 1), Verification()),
    (AIParams(RequestKind.GENERATE, max_tokens=64, temperature=1.25, seed=12), Verification.sampled(9_999)),
    (AIParams(RequestKind.GENERATE, max_tokens=300, temperature=10.0, seed=1), Verification.redundant(16)),
]


@pytest.mark.parametrize(("params", "verification"), SPEC_CASES)
def test_the_spec_built_on_chain_is_the_runtimes_canonical_spec(
    kit: Kit, params: AIParams, verification: Verification
) -> None:
    model = kit.models["textgen" if params.kind is RequestKind.GENERATE else "digits"]
    data: bytes | str = "héllo wörld" if params.kind is not RequestKind.CLASSIFY else pixels(3)
    spec_bytes, spec_cid = kit.ai.spec_for(model, data, params, verification)
    assert spec_cid == str(kit.store.add_bytes(spec_bytes))  # the CID `ipfs add` gives the file
    if params.kind is RequestKind.EMBED:
        return  # embed takes a list of texts; its request is posted like the others
    request = kit.ask(data if isinstance(data, bytes) else data.encode(), model="textgen" if
                      params.kind is RequestKind.GENERATE else "digits", params=params,
                      verification=verification)
    rebuilt = spec_for_request(request)
    assert rebuilt.canonical_bytes() == spec_bytes
    assert kit.m.market.spec_cid(request.request_id, from_block=request.block_number) == spec_cid
    assert request.input_cid == rebuilt.inputs[0]


def test_a_request_by_cid_names_that_cid_as_the_specs_input(kit: Kit) -> None:
    image = str(kit.store.add_bytes(pixels(5)))
    params = AIParams(RequestKind.CLASSIFY, input_is_cid=True)
    request = kit.ask(cid_to_bytes(image), params=params)
    assert request.input_cid == image and spec_for_request(request).inputs == (image,)


def test_optimistic_request_is_called_back_at_delivery_with_the_models_answer(kit: Kit) -> None:
    held = kit.holdings()
    balance = kit.ai.balance_of(kit.probe.address)
    request = kit.ask(pixels(0))
    assert kit.ai.balance_of(kit.probe.address) == balance - MAX_PRICE  # paid from its balance
    assert kit.ai.request(request.request_id).status is RequestStatus.PENDING
    delivered = kit.answer(request)
    fee = kit.m.market.fee_for(PRICE)
    assert delivered.refunded == MAX_PRICE - PRICE - fee
    # the callback came with the delivery: the class the model gave, and the manifest
    answer = kit.probe_view("answers", request.request_id)
    assert decode_output(answer, RequestKind.CLASSIFY, output_as_cid=False) == digit_label(0)
    assert int.from_bytes(answer, "big") == kit.results[request.request_id].result["index"]
    assert kit.probe_view("manifests", request.request_id) == delivered.manifest_cid_bytes
    state = kit.ai.request(request.request_id)
    assert state.status is RequestStatus.DELIVERED and state.callback is CallbackState.OK
    assert state.result_hash == b"\x00" * 32  # nothing left to prove: no hash kept
    assert kit.ai.balance_of(kit.probe.address) == balance - PRICE - fee
    # the provider is paid by the JobMarket as for any job
    provider_before = kit.m.market.balance_of(kit.m.addr("provider1"))
    kit.finalize(request.request_id)
    assert kit.m.market.balance_of(kit.m.addr("provider1")) == provider_before + PRICE
    # everything the coordinator holds is the probe's balance: the price and fee went out
    assert kit.holdings() == held - PRICE - fee == kit.ai.balance_of(kit.probe.address)
    assert "called back" in kit.ai.why(request.request_id)


def test_final_request_is_called_back_only_after_the_challenge_window(kit: Kit) -> None:
    request = kit.ask(pixels(1), policy=Policy.FINAL)
    delivered = kit.answer(request)
    state = kit.ai.request(request.request_id)
    assert state.status is RequestStatus.DELIVERED and state.callback is CallbackState.NOT_CALLED
    assert state.result_hash == result_hash(delivered.output, delivered.manifest_cid)
    assert kit.probe_view("answerCount") == 0
    with pytest.raises(ContractRevert, match="not finalized yet"):
        kit.ai.release(kit.m["client2"], request.request_id)
    kit.finalize(request.request_id)
    called = kit.ai.release(kit.m["client2"], request.request_id)  # anyone may release
    assert isinstance(called, CallbackCalled) and called.success and not called.disputed
    assert kit.probe_view("answers", request.request_id) == delivered.output
    with pytest.raises(ContractRevert, match="already released"):
        kit.ai.release(kit.m["client2"], request.request_id)


def test_only_the_assigned_provider_delivers_and_only_a_committed_result(kit: Kit) -> None:
    request = kit.ask(pixels(2))
    kit.take(request.request_id, "provider1")
    output, manifest = (2).to_bytes(32, "big"), cid("manifest")
    with pytest.raises(ContractRevert, match="commit the result on the JobMarket first"):
        kit.ai.deliver(kit.m["provider1"], request.request_id, output, manifest)
    result = kit.commit(request, "provider1")
    with pytest.raises(ContractRevert, match="only the job's assigned provider delivers"):
        kit.ai.deliver(kit.m["provider2"], request.request_id, output, manifest)
    with pytest.raises(ContractRevert, match="malformed manifest CID"):
        send(kit.w3, kit.m["provider1"], kit.ai.contract.functions.deliver(request.request_id, output, b"\x01\x55"))
    kit.ai.deliver(kit.m["provider1"], request.request_id, output, kit.manifest(request, result))
    with pytest.raises(ContractRevert, match="already answered"):
        kit.ai.deliver(kit.m["provider1"], request.request_id, output, manifest)
    with pytest.raises(ContractRevert, match="unknown request"):
        kit.ai.deliver(kit.m["provider1"], 10_000, output, manifest)


def test_a_request_for_a_cid_is_answered_with_the_primary_outputs_cid(kit: Kit) -> None:
    request = kit.ask(pixels(4), params=AIParams(RequestKind.CLASSIFY, output_as_cid=True))
    delivered = kit.answer(request)
    primary = kit.results[request.request_id].outputs[0].cid
    assert decode_output(delivered.output, RequestKind.CLASSIFY, output_as_cid=True) == primary


def test_fraud_after_an_optimistic_callback_refunds_the_consumer_and_notifies_it(kit: Kit) -> None:
    request = kit.ask(pixels(0))
    balance = kit.ai.balance_of(kit.probe.address)
    kit.answer(request, wrong=True)
    assert kit.probe_view("answerCount") == 1  # the wrong answer arrived optimistically
    stake = kit.m.staking.stake_of(kit.m.addr("provider1"))
    kit.prove_fraud(request.request_id)
    assert kit.m.market.job(request.request_id).status is JobStatus.REJECTED
    assert kit.m.staking.stake_of(kit.m.addr("provider1")) < stake  # slashed
    failed = kit.ai.settle(kit.m["client2"], request.request_id)
    assert isinstance(failed, AIRequestFailed) and failed.reason is FailureReason.FRAUD_PROVEN
    assert kit.ai.balance_of(kit.probe.address) == balance + MAX_PRICE  # every unit back
    assert kit.probe_view("disputed", request.request_id)
    state = kit.ai.request(request.request_id)
    assert state.status is RequestStatus.FAILED and state.callback is CallbackState.OK
    assert "proved the provider's result wrong" in kit.ai.why(request.request_id)
    with pytest.raises(ContractRevert, match="already closed"):
        kit.ai.settle(kit.m["client2"], request.request_id)


def test_an_expired_request_is_refunded_with_a_share_of_the_slashed_stake(kit: Kit) -> None:
    request = kit.ask(pixels(0))
    balance = kit.ai.balance_of(kit.probe.address)
    kit.take(request.request_id, "provider1")  # assigned, never delivers
    with pytest.raises(ContractRevert, match="nothing to settle"):
        kit.ai.settle(kit.m["client2"], request.request_id)
    kit.m.advance(kit.ai.job_timeout() + 1)
    failed = kit.ai.settle(kit.m["client2"], request.request_id)
    assert failed.reason is FailureReason.EXPIRED and failed.refunded == MAX_PRICE
    assert failed.compensation > 0  # the slashed provider's share, passed on to the consumer
    assert kit.ai.balance_of(kit.probe.address) == balance + MAX_PRICE + failed.compensation
    assert kit.probe_view("disputed", request.request_id)


def test_a_request_nobody_takes_is_refunded_after_its_deadline(kit: Kit) -> None:
    held = kit.holdings()
    request = kit.ask(pixels(0))
    kit.m.advance(kit.ai.job_timeout() + 1)
    failed = kit.ai.settle(kit.m["client2"], request.request_id)
    assert failed.reason is FailureReason.EXPIRED and failed.refunded == MAX_PRICE
    assert failed.compensation == 0 and kit.holdings() == held


def test_a_result_paid_but_never_delivered_is_settled_as_not_delivered(kit: Kit) -> None:
    request = kit.ask(pixels(0))
    balance = kit.ai.balance_of(kit.probe.address)
    kit.take(request.request_id, "provider1")
    kit.commit(request, "provider1")
    kit.finalize(request.request_id)
    failed = kit.ai.settle(kit.m["client2"], request.request_id)
    fee = kit.m.market.fee_for(PRICE)
    assert failed.reason is FailureReason.NOT_DELIVERED and failed.refunded == MAX_PRICE - PRICE - fee
    assert kit.ai.balance_of(kit.probe.address) == balance + MAX_PRICE - PRICE - fee


def test_a_verification_mode_none_request_goes_through(kit: Kit) -> None:
    request = kit.ask(pixels(6), verification=Verification.none())
    assert request.verification.mode is VerificationMode.NONE
    kit.answer(request)
    assert kit.probe_view("answerCount") == 1
