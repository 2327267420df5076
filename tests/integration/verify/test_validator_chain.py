"""A validator node in-process on the real chain: evidence handling, restart safety, reputation, fees.

The contract's own refusals (a late challenge, a vote from a non-member, a challenge from a
non-validator) are asserted in tests/integration/chain/test_jobmarket.py; here the validator
refuses bad evidence itself, before any transaction, and a crash between deciding to
challenge and the transaction never costs a second bond.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deai.chain.events import ValidatorEndpointSet
from deai.chain.types import JobStatus
from deai.chain.validator_pool import ValidatorPool
from deai.config import Config
from deai.errors import ContractRevert, EvidenceError, NodeError
from deai.node.validator import ValidatorNode, ValidatorSettings
from deai.testing.market import Market, cid
from deai.units import tokens
from deai.verify.evidence import Evidence
from deai.verify.reputation import (
    ballots,
    consensus,
    encode_scores,
    latest_posted_epoch,
    network_scores,
    scores_root,
)
from deai.verify.state import CheckStage, JobCheck

pytestmark = pytest.mark.integration


def _node(m: Market, tmp_path: Path, role: str = "validator1", **settings: object) -> ValidatorNode:
    node = ValidatorNode(Config(data_dir=tmp_path / role), m[role], m.deployment,
                         ValidatorSettings(**settings))  # type: ignore[arg-type]
    node.start(serve_http=False)
    return node


def _evidence(m: Market, node: ValidatorNode, job: int, /, **changes: object) -> Evidence:
    committed = m.market.result(job)
    assert committed is not None
    doc = dict(chain_id=m.deployment.chain_id, market=m.market.address, job_id=job,
               provider=str(committed.provider), validator=node.address, spec_cid=cid("spec"),
               output_cid=str(committed.output_cid), result_hash="0x" + committed.result_hash.hex(),
               method="reexecute", detail="logits.npy: max |a-b| = 0.09 (atol 0.001)")
    return Evidence.model_validate(doc | changes)


def test_bad_evidence_is_refused_before_any_transaction(m: Market, tmp_path: Path) -> None:
    node = _node(m, tmp_path)
    job_id = m.committed(price=tokens(5))
    node.follow()
    before = m.fingerprint()
    for bad, reason in [(b"{broken", "not valid JSON"), ({"job_id": job_id}, "malformed evidence"),
                        (_evidence(m, node, job_id, output_cid=cid("another output")), "another output"),
                        (_evidence(m, node, job_id, validator=m.addr("validator2")), "another validator"),
                        (_evidence(m, node, job_id, job_id=job_id + 99), "no job")]:
        with pytest.raises(EvidenceError, match=reason):
            node.challenge(bad)  # type: ignore[arg-type]
    assert m.fingerprint() == before
    m.advance(m.market.settings().challenge_window)
    with pytest.raises(EvidenceError, match=r"challenge window of job \d+ closed"):
        node.challenge(_evidence(m, node, job_id))
    assert m.fingerprint() == before
    with pytest.raises(ContractRevert, match="challenge window closed"):  # and the chain agrees
        m.market.challenge(m["validator1"], job_id)
    node.stop()


def test_a_good_challenge_goes_through_and_a_restart_never_posts_a_second_bond(m: Market, tmp_path: Path) -> None:
    node = _node(m, tmp_path)
    job_id = m.committed(price=tokens(5))
    node.follow()
    event = node.challenge(_evidence(m, node, job_id))
    assert event.challenger == node.address and m.market.job(job_id).status is JobStatus.DISPUTED
    record = node.state.get(job_id)
    assert record is not None and record.stage is CheckStage.CHALLENGED and record.evidence_cid
    assert Evidence.model_validate_json(node.store.read_bytes(record.evidence_cid)).job_id == job_id
    # a crash after the transaction but before the state write: the record says CHALLENGING
    node.state.update(job_id, stage=CheckStage.CHALLENGING)
    node.stop()
    restarted = _node(m, tmp_path)
    bonds = m.market.balance_of(node.address)
    restarted.tick()
    again = restarted.state.get(job_id)
    assert again is not None and again.stage is CheckStage.CHALLENGED
    assert m.market.balance_of(node.address) == bonds  # no second bond
    restarted.stop()


def _to_epoch_start(m: Market) -> int:
    """Move the chain to 1 s into the next pool epoch; returns that epoch."""
    length = ValidatorPool(m.w3, m.deployment).epoch_length()
    m.advance((m.now() // length + 1) * length + 1 - m.now())
    return m.now() // length


def test_validators_report_scores_and_the_oracle_makes_the_market_prefer_reputable_providers(
    m: Market, tmp_path: Path,
) -> None:
    p1, p2 = m.addr("provider1"), m.addr("provider2")
    warmup = m.post()  # both providers bid once so the market numbers them
    m.market.bid(m["provider1"], warmup, tokens(5))
    m.market.bid(m["provider2"], warmup, tokens(4))
    pid1, pid2 = m.market.account(p1).provider_id, m.market.account(p2).provider_id
    pool = ValidatorPool(m.w3, m.deployment)
    epoch = _to_epoch_start(m) - 1  # the epoch that just ended: reported during this one
    # two honest validators saw provider2 cheat; validator3 (a friend of provider2) says otherwise
    for role, scores in (("validator1", {pid1: 12_000, pid2: 2_500}), ("validator2", {pid1: 11_000, pid2: 2_500}),
                         ("validator3", {pid2: 65_535})):
        uri = encode_scores(scores)
        pool.report(m[role], epoch, scores_root(uri), uri)
    with pytest.raises(ContractRevert, match="not an active validator"):  # a non-validator cannot vote
        pool.report(m["client1"], epoch, scores_root(encode_scores({pid2: 65_535})), encode_scores({pid2: 65_535}))
    found = network_scores(m.w3, m.deployment, epoch)
    assert found[p2].median == 2_500 and found[p2].score == 2_500  # the friend is clipped
    assert found[p1].score == 11_500 and found[p1].validators == 2
    assert {b.stake for b in ballots(m.w3, m.deployment, epoch)} == {tokens(500)}  # the recorded weights
    m.staking.deposit(m["validator3"], tokens(5_000))  # stake added later does not change the past
    assert consensus(ballots(m.w3, m.deployment, epoch)) == consensus(ballots(m.w3, m.deployment, epoch))
    assert network_scores(m.w3, m.deployment, epoch) == found
    assert latest_posted_epoch(m.w3, m.deployment) == epoch

    m.market.set_reputation_oracle(m["deployer"], m.addr("validator1"))
    oracle = _node(m, tmp_path, oracle=True, post_scores=False)
    m.advance(pool.epoch_length() // 2)  # the epoch comes of age half an epoch after its end
    oracle.apply_consensus()
    assert m.market.account(p2).reputation == 2_500 and m.market.account(p1).reputation == 11_500

    # provider2 now needs to be more than 4.6 times cheaper to win
    job_id = m.post(bid_window=30)
    m.market.bid(m["provider2"], job_id, tokens(2))
    m.market.bid(m["provider1"], job_id, tokens(5))
    m.advance(31)
    assert m.market.assign(m["client1"], job_id).provider == p1
    oracle.stop()


def test_a_validator_scores_the_providers_it_checked(m: Market, tmp_path: Path) -> None:
    node = _node(m, tmp_path)
    pool = ValidatorPool(m.w3, m.deployment)
    warmup = m.post()
    m.market.bid(m["provider1"], warmup, tokens(5))
    provider = m.addr("provider1")
    for job_id, verdict in ((1001, "match"), (1002, "match"), (1003, "mismatch")):
        node.state.put(JobCheck(job_id, CheckStage.CHECKED, provider=provider, verdict=verdict))
    epoch = _to_epoch_start(m) - 1
    node.post_scores()
    reports = pool.reports(validator=node.address)
    assert len(reports) == 1 and reports[0].epoch == epoch and reports[0].weight == tokens(500)
    pid = m.market.account(provider).provider_id
    assert reports[0].uri == encode_scores({pid: 5_100})  # 2 verified (+2 %), 1 wrong (halved)
    node.post_scores()  # once per epoch
    assert len(pool.reports(validator=node.address)) == 1 and node.state.last_post() == epoch
    node.stop()


def test_a_validator_earns_its_stake_share_of_the_fees_of_finalized_jobs(m: Market, tmp_path: Path) -> None:
    pool = ValidatorPool(m.w3, m.deployment)
    node = _node(m, tmp_path)  # validator1, stake 500
    jobs = [m.committed(price=tokens(p), spec=f"spec{p}") for p in (5, 3)]
    m.advance(m.market.settings().challenge_window)
    for job in jobs:
        m.market.finalize(m["client2"], job)
    fees = sum(m.market.fee_for(tokens(p)) for p in (5, 3))

    epoch = _to_epoch_start(m)
    node.collect_fees()  # syncs the parked fees into this epoch's pot
    assert pool.epoch(epoch).pot == fees and node.stats.fee_syncs == 1
    node.collect_fees()  # once per epoch: no second sync
    assert node.stats.fee_syncs == 1

    m.advance(pool.epoch_length())  # epoch + 1: report
    node.post_scores()  # it checked nobody: an empty vector, still its duty done
    uri = encode_scores({})
    pool.report(m["validator2"], epoch, scores_root(uri), uri)
    node.collect_fees()  # the reporting period is open: nothing to claim yet
    assert node.stats.fee_claims == 0 and node.state.claims() == {}

    m.advance(pool.epoch_length())  # epoch + 2: claim
    wallet = m.token.balance_of(node.address)
    node.collect_fees()
    share = fees * tokens(500) // tokens(1_000)
    assert node.stats.fees_earned == share and node.stats.fee_claims == 1
    assert m.token.balance_of(node.address) == wallet + share
    assert node.state.claims() == {epoch: share}
    node.stop()
    restarted = _node(m, tmp_path)  # the earnings are remembered
    assert restarted.stats.fees_earned == share
    restarted.collect_fees()
    assert m.token.balance_of(node.address) == wallet + share  # claimed once
    restarted.stop()


def test_a_validator_publishes_its_endpoint_once_and_again_only_when_it_changes(m: Market, tmp_path: Path) -> None:
    def published() -> list[str]:
        return [e.endpoint for e in m.registry.events(from_block=m.deployment.block)
                if isinstance(e, ValidatorEndpointSet) and e.validator == m.addr("validator2")]

    before = published()
    for url in ("http://validator2.example:8702", "http://validator2.example:8702", "https://v2.example"):
        node = ValidatorNode(Config(data_dir=tmp_path / "validator2"), m["validator2"], m.deployment,
                             ValidatorSettings(public_url=url, receipt_checks=False, post_scores=False))
        node.start()
        try:
            assert node.endpoint == url
        finally:
            node.stop()
    # the restart on the same URL sent nothing
    assert published() == [*before, "http://validator2.example:8702", "https://v2.example"]
    assert m.registry.validator_endpoint(m.addr("validator2")) == "https://v2.example"
    with pytest.raises(NodeError, match="not an http"):
        ValidatorSettings(public_url="validator2.example:8702")
