"""The market's Python types: reason sentences, verification parameters, event decoding."""

from __future__ import annotations

import hashlib

import pytest
from eth_utils.address import to_checksum_address

from deai.chain.cids import cid_from_digest, cid_to_bytes
from deai.chain.events import EVENT_TYPES, JobPosted, JobSettled, explain, typed_event
from deai.chain.follow import ChainEvent
from deai.chain.types import JobReason, JobStatus, Verification, VerificationMode
from deai.errors import ChainError

ADDRESS = "0x" + "ab" * 20


def test_every_reason_and_status_has_words() -> None:
    assert all(reason.sentence.endswith(".") for reason in JobReason)
    assert all(status.description for status in JobStatus)
    assert {s for s in JobStatus if s.terminal} == {JobStatus.FINALIZED, JobStatus.EXPIRED, JobStatus.REJECTED}


def test_reason_codes_match_the_contract() -> None:
    from importlib import resources

    source = (resources.files("deai.chain.contracts") / "JobMarket.vy").read_text()
    for reason in JobReason:
        if reason is not JobReason.NONE:
            assert f"R_{reason.name}: constant(uint8) = {int(reason)}" in source
    for status in JobStatus:
        if status is not JobStatus.NONE:
            assert f"{status.name}: constant(uint256) = {int(status)}" in source
    for mode in VerificationMode:
        assert f"MODE_{mode.name}: constant(uint256) = {int(mode)}" in source


def test_verification_parameters_are_checked() -> None:
    assert Verification() == Verification.sampled(1_000)
    assert str(Verification.sampled(250)) == "sampled(p=2.50%)"
    assert str(Verification.redundant(3)) == "redundant(k=3)"
    assert str(Verification.none()) == "none"
    for bad in ((VerificationMode.SAMPLED, 0), (VerificationMode.RESCORE, 10_001),
                (VerificationMode.REDUNDANT, 1), (VerificationMode.ZK, 5)):
        with pytest.raises(ChainError):
            Verification(*bad)


def test_events_decode_to_typed_dataclasses() -> None:
    spec = cid_from_digest(hashlib.sha256(b"spec").digest())
    posted = typed_event(
        "JobMarket", "JobPosted",
        {"jobId": 7, "client": ADDRESS, "specCid": cid_to_bytes(spec), "maxPrice": 10, "bidWindowEnd": 100,
         "deadline": 200, "mode": 0, "param": 1_000, "reason": 1},
        block_number=5, transaction_hash="0x01", log_index=0,
    )
    assert isinstance(posted, JobPosted)
    assert posted.spec_cid == spec and posted.reason is JobReason.POSTED and posted.mode is VerificationMode.SAMPLED
    assert str(posted.client) == str(to_checksum_address(ADDRESS))
    settled = typed_event(
        "JobMarket", "JobSettled",
        {"jobId": 7, "status": 6, "reason": 9, "paid": 0, "fee": 0, "refunded": 10, "slashed": 0},
        block_number=9, transaction_hash="0x02", log_index=1,
    )
    assert isinstance(settled, JobSettled) and settled.status is JobStatus.EXPIRED
    assert explain([posted, settled]) == JobReason.EXPIRED_NO_BIDS.sentence
    assert explain([]) == JobReason.NONE.sentence
    assert typed_event("Channels", "ChannelOpened", {}, block_number=0, transaction_hash="", log_index=0) is None


def test_follow_records_become_typed_events() -> None:
    from deai.chain.events import from_chain_event

    record = ChainEvent("JobMarket", "VoteCast", {"jobId": 3, "validator": ADDRESS, "fraud": True, "reason": 7},
                        block_number=1, block_hash="0x", tx_hash="0x03", log_index=2)
    vote = from_chain_event(record)
    assert vote is not None and vote.transaction_hash == "0x03"


def test_every_abi_event_has_a_dataclass() -> None:
    from deai.chain.compile import compile_contract

    for contract, events in EVENT_TYPES.items():
        names = {item["name"] for item in compile_contract(contract).abi if item["type"] == "event"}
        assert names == set(events), contract


def test_price_lists_are_indexed_by_workload_kind() -> None:
    from deai.chain.registry import price_list
    from deai.chain.types import WorkloadKind

    assert price_list({}) == []
    assert price_list({WorkloadKind.EMBEDDING: 5, WorkloadKind.INFERENCE: 1}) == [1, 0, 5]
    with pytest.raises(ChainError):
        price_list({WorkloadKind.INFERENCE: -1})
