"""The indexer against a real chain: tables equal the chain, restarts and reorgs change nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from deai.apps.analytics import Indexer, open_index, overview, queries
from deai.apps.analytics.queries import rows, scalar
from deai.chain.ai_requests import AIRequests, CallbackState, FailureReason, RequestStatus
from deai.chain.devnet import DEMO_ROLES, demo_account
from deai.chain.jobmarket import JobMarket
from deai.chain.registry import Registry
from deai.chain.staking import Staking
from deai.chain.token import Token
from deai.config import Config
from deai.testing.plugin import Chain

from .conftest import Sampled, dump, rpc

pytestmark = pytest.mark.integration


def index(s: Sampled, path: Path | None = None, **options: object) -> Indexer:
    indexer = Indexer(open_index(path), s.w3, s.deployment, spec_kinds=s.history.spec_kinds.get, **options)  # type: ignore[arg-type]
    indexer.run()
    return indexer


def test_tables_equal_what_the_chain_says(sampled: Sampled, chain: Chain) -> None:
    db = index(sampled).db
    market, staking = JobMarket(chain.w3, chain.deployment), Staking(chain.w3, chain.deployment)
    token, registry = Token(chain.w3, chain.deployment), Registry(chain.w3, chain.deployment)
    assert scalar(db, "SELECT count(*) FROM jobs") == market.job_count() == 15
    for job in rows(db, "SELECT * FROM jobs ORDER BY job_id"):
        onchain = market.job(job["job_id"])
        assert job["status"] == onchain.status.name
        assert job["client"] == onchain.client
        if job["provider"] is not None:  # assigned at some point: the chain keeps who and at what price
            assert job["provider"] == onchain.provider and job["price"] == onchain.price
        elif job["status"] != "OPEN":
            assert int(onchain.provider, 16) == 0
        assert job["workload_kind"] == sampled.history.spec_kinds[job["spec_cid"]]
        result = market.result(job["job_id"])
        assert job["output_cid"] == (result.output_cid if result else None)
    for role in DEMO_ROLES:
        address = demo_account(role).address
        balance = scalar(db, "SELECT balance FROM balances WHERE address = ?", [address]) or 0
        assert balance == token.balance_of(address), role
        stake = scalar(db, "SELECT staked FROM stakes WHERE address = ?", [address]) or 0
        assert stake == staking.stake_of(address), role
    assert scalar(db, "SELECT balance FROM balances WHERE address = ?", [market.address]) == token.balance_of(market.address)
    assert scalar(db, "SELECT count(*) FROM providers WHERE active") == registry.provider_count() == 3
    assert scalar(db, "SELECT count(*) FROM models") == 2 and scalar(db, "SELECT count(*) FROM datasets") == 2
    assert scalar(db, "SELECT count(*) FROM lineage WHERE child_cid = ?", [sampled.history.finetuned]) == 2
    o = overview(db)
    assert o.jobs_by_state == {"OPEN": 2, "ASSIGNED": 2, "COMMITTED": 4, "DISPUTED": 0,
                               "FINALIZED": 3, "EXPIRED": 3, "REJECTED": 1}
    assert o.ai_requests == 6 and o.ai_callbacks_failed == 1
    assert o.anchors == 2 and o.anchored_leaves == 12 and o.channels_open == 1  # a batch, and the receipts
    assert o.slashed == staking.total_staked() * 0 + scalar(db, "SELECT sum(amount) FROM slash_events")
    # rows are keyed by (block, log index): each event once
    for table in ("events", "job_events", "transfers", "stake_events", "ai_request_events"):
        assert scalar(db, f"SELECT count(*) - count(DISTINCT (block_number, log_index)) FROM {table}") == 0


# label → (status, job status, latest callback ok, callbacks, failed callbacks, on-chain status)
AI_OUTCOMES = {
    "expired": ("failed", "EXPIRED", True, 1, 0, RequestStatus.FAILED),
    "answered": ("delivered", "COMMITTED", True, 1, 0, RequestStatus.DELIVERED),
    "callback_failed": ("callback failed", "COMMITTED", False, 1, 1, RequestStatus.DELIVERED),
    "retried": ("retried", "COMMITTED", True, 2, 1, RequestStatus.DELIVERED),
    "assigned": ("assigned", "ASSIGNED", None, 0, 0, RequestStatus.PENDING),
    "subscription_round": ("requested", "OPEN", None, 0, 0, RequestStatus.PENDING),
}


def test_ai_requests_equal_what_the_chain_says(sampled: Sampled, chain: Chain) -> None:
    db = index(sampled).db
    h, ai = sampled.history, AIRequests(chain.w3, chain.deployment)
    found = {r["request_id"]: r for r in queries.ai_requests(db)}
    assert list(found) == sorted(h.ai_requests.values(), reverse=True)  # newest first
    for label, (status, job_status, ok, calls, failed, onchain_status) in AI_OUTCOMES.items():
        r, onchain = found[h.ai_requests[label]], ai.request(h.ai_requests[label])
        assert (r["status"], r["job_status"], r["callback_ok"], r["callbacks"], r["failed_callbacks"]) == (
            status, job_status, ok, calls, failed), label
        assert onchain.status is onchain_status, label
        assert onchain.callback is {True: CallbackState.OK, False: CallbackState.FAILED, None: CallbackState.NOT_CALLED}[ok]
        assert r["consumer"] == onchain.consumer == h.ai_consumer
        assert r["callback_gas_limit"] == onchain.callback_gas_limit == 200_000
        assert (r["subscription_id"] or 0) == onchain.subscription_id
        assert r["model_cid"] == h.model and r["kind"] == "classify" and r["policy"] == "optimistic"
        assert r["verification"] == "sampled(p=10.00%)"
        delivered = ai.delivery(r["request_id"])
        if delivered is None:
            assert r["delivered_at"] is None and r["output_text"] is None
        else:
            assert r["output"] == "0x" + delivered.output.hex() and r["output_text"] == "class 7"
            assert r["manifest_cid"] == delivered.manifest_cid and r["delivered_by"] == delivered.provider
            assert r["callback_gas"] == 200_000
    expired = found[h.ai_requests["expired"]]
    assert expired["failure_code"] == FailureReason.EXPIRED
    assert expired["status_text"] == expired["failure_reason"] == FailureReason.EXPIRED.sentence
    assert expired["refunded"] == expired["max_price"] == 3 * 10**18
    assert found[h.ai_requests["subscription_round"]]["subscription_id"] == h.ai_subscription == 1
    counts = queries.ai_request_counts(db)
    assert counts["by_status"] == {
        "requested": 1, "assigned": 1, "committed": 0, "awaiting release": 0, "delivered": 1,
        "callback failed": 1, "retried": 1, "unsettled": 0, "failed": 1, "dispute callback failed": 0,
    }
    assert [(c["consumer"], c["requests"], c["answered"], c["callbacks_failed"], c["failed"])
            for c in counts["by_consumer"]] == [(h.ai_consumer, 6, 2, 1, 1)]
    [sub] = queries.ai_subscriptions(db)
    assert (sub["subscription_id"], sub["fired"], sub["rounds"], sub["last_request_id"], sub["cancelled"]) == (
        1, 1, 2, h.ai_requests["subscription_round"], False)
    assert scalar(db, "SELECT sum(amount) FROM ai_flows WHERE kind = 'deposit'") == 40 * 10**18
    # the timeline interleaves the request's AIRequests and JobMarket events
    events = [(e["contract"], e["event"]) for e in queries.ai_request_timeline(db, h.ai_requests["retried"])]
    assert events[:2] == [("JobMarket", "JobPosted"), ("AIRequests", "AIRequested")]
    assert events.count(("AIRequests", "CallbackCalled")) == 2
    retried = h.ai_requests["retried"]
    assert queries.search(db, f"ai {retried}") == queries.search(db, f"request #{retried}") == f"/ai-request/{retried}"
    assert queries.search(db, "ai 999") is None
    delivery = scalar(db, "SELECT tx_hash FROM ai_request_events WHERE request_id = ? AND event = 'AIDelivered'", [retried])
    assert queries.search(db, delivery) == f"/ai-request/{retried}"


def test_receipt_disputes_and_validator_fees_equal_what_the_chain_says(sampled: Sampled, chain: Chain) -> None:
    from deai.chain.receipt_disputes import ReceiptDisputes
    from deai.chain.types import ReceiptDisputeStatus, ReceiptReason
    from deai.chain.validator_pool import ValidatorPool

    db = index(sampled).db
    h = sampled.history
    disputes = ReceiptDisputes.from_deployment(chain.w3, chain.deployment)
    [d] = queries.receipt_disputes(db)
    onchain = disputes.dispute(bytes.fromhex(h.receipt_dispute[2:]))
    assert d["digest"] == h.receipt_dispute
    assert onchain.status is ReceiptDisputeStatus.REJECTED and d["status"] == "REJECTED"
    assert (d["provider"], d["challenger"]) == (onchain.provider, onchain.challenger) == (
        demo_account("provider1").address, demo_account("validator1").address)
    assert (d["receipt_sequence"], d["anchor_sequence"], d["evidence_cid"]) == (
        onchain.receipt_sequence, onchain.anchor_sequence, onchain.evidence_cid)
    assert (d["votes"], d["fraud_votes"], d["reason_code"]) == (2, 2, ReceiptReason.FRAUD_PROVEN)
    assert d["reason"] == ReceiptReason.FRAUD_PROVEN.sentence
    assert d["slashed"] == onchain.slash_amount and d["bond_returned"] == disputes.challenge_bond()
    # the slash is tied to the dispute (not to a job), and the outcome counts as verification
    slash = rows(db, "SELECT * FROM slashes WHERE receipt_digest = ?", [h.receipt_dispute])
    assert [(s["who"], s["amount"], s["job_id"]) for s in slash] == [(d["provider"], d["slashed"], None)]
    assert scalar(db, "SELECT count(*) FROM slashes WHERE job_id IS NULL AND receipt_digest IS NULL") == 0
    outcomes = {(o.mode, o.outcome): o.jobs for o in queries.verification_outcomes(db)}
    assert outcomes[("fast-path receipt", "fraud proven")] == 1
    assert overview(db).receipt_disputes == 1

    pool = ValidatorPool(chain.w3, chain.deployment)
    epoch = pool.epoch(h.pool_epoch)
    [e] = queries.pool_epochs(db)
    assert (e["epoch"], e["synced"], e["reporters"], e["total_weight"], e["claims"]) == (
        h.pool_epoch, epoch.pot, epoch.reports, epoch.total_weight, epoch.claims) == (
        h.pool_epoch, e["synced"], 2, 1_000 * 10**18, 1)
    assert e["synced"] > 0 and e["claimed"] == epoch.paid and e["unclaimed"] == epoch.pot - epoch.paid
    fees = {v["address"]: v for v in queries.validators(db)}
    assert fees[demo_account("validator1").address]["endpoint"] == "http://127.0.0.1:9201"  # the latest
    assert fees[demo_account("validator2").address]["endpoint"] is None
    assert all(v["active"] for v in fees.values())  # an endpoint event is not a state change
    for role, reports, claims in (("validator1", 1, 1), ("validator2", 1, 0), ("validator3", 0, 0)):
        v = fees[demo_account(role).address]
        assert (v["reports"], v["claims"]) == (reports, claims), role
        claimed = sum(c.amount for c in pool.claims(validator=v["address"]))
        assert v["fees_claimed"] == claimed, role
    assert fees[demo_account("validator1").address]["fees_claimed"] == epoch.paid > 0
    assert pool.claimable(h.pool_epoch, demo_account("validator2").address) == e["unclaimed"]
    assert overview(db).validator_fees_claimed == epoch.paid


def test_a_run_after_a_run_changes_nothing(sampled: Sampled, chain: Chain) -> None:
    indexer = index(sampled, reorg_depth=50)
    before = dump(indexer.db)
    assert indexer.run().ranges == 0  # an idle chain: the newest block's hash still matches
    rpc(chain.w3, "evm_mine")  # an empty block: the newest 50 blocks are read again
    again = indexer.run()
    assert again.ranges == 1 and again.events > 0
    assert dump(indexer.db) == before


def test_an_index_stopped_after_every_few_ranges_ends_equal_to_one_run(sampled: Sampled, chain: Chain) -> None:
    whole = dump(index(sampled).db)
    stepwise = Indexer(open_index(None), chain.w3, chain.deployment, max_range=3, reorg_depth=4,
                       spec_kinds=sampled.history.spec_kinds.get)
    runs = 0
    while True:
        runs += 1
        result = stepwise.run(max_ranges=2)
        if result.next_block > chain.w3.eth.block_number:
            break
    assert runs > 5
    assert len(whole["ai_requests"]) == 6 and whole["ai_request_events"]
    assert len(whole["receipt_disputes"]) == 1 and len(whole["pool_epochs"]) == 1
    assert dump(stepwise.db) == whole


def test_an_indexer_killed_mid_way_resumes_to_the_same_tables(sampled: Sampled, chain: Chain, tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path / "deai")
    chain.deployment.save(config.deployment_file)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    cmd = [sys.executable, "-c", "import sys; from deai.cli.main import run; sys.exit(run())",
           "--data-dir", str(config.data_dir), "index", "run", "--range", "1"]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    seen = 0
    assert process.stdout is not None
    for line in process.stdout:
        seen += line.startswith("indexed blocks")
        if seen == 8:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the indexer finished before it could be killed"
    path = tmp_path / "deai" / "analytics" / "index.duckdb"
    killed = open_index(path)
    assert 1 < int(scalar(killed, "SELECT value FROM meta WHERE key = 'next_block'")) <= chain.w3.eth.block_number
    resumed = Indexer(killed, chain.w3, chain.deployment, max_range=7, spec_kinds=sampled.history.spec_kinds.get)
    resumed.run()
    assert dump(resumed.db) == dump(index(sampled).db)


def test_a_reorg_replaces_the_rows_of_the_blocks_it_changed(sampled: Sampled, chain: Chain) -> None:
    token = Token(chain.w3, chain.deployment)
    fork = rpc(chain.w3, "evm_snapshot")
    for amount in (1, 2, 3, 4):  # the branch that will be abandoned
        token.transfer(chain.accounts["client1"], chain.accounts["client2"].address, amount)
    indexer = index(sampled, reorg_depth=2)
    assert scalar(indexer.db, "SELECT count(*) FROM transfers WHERE amount < 5") == 4
    rpc(chain.w3, "evm_revert", fork)  # the chain goes back 4 blocks, deeper than reorg_depth…
    for amount in (7, 8):  # …and grows another way
        token.transfer(chain.accounts["client2"], chain.accounts["client1"].address, amount)
    result = indexer.run()
    assert result.rewound_to is not None
    assert scalar(indexer.db, "SELECT count(*) FROM transfers WHERE amount < 5") == 0
    assert dump(indexer.db) == dump(index(sampled).db)


def test_an_index_of_another_deployment_is_rebuilt(sampled: Sampled, chain: Chain, tmp_path: Path) -> None:
    path = tmp_path / "index.duckdb"
    first = index(sampled, path)
    first.db.close()
    moved = type(chain.deployment)(chain.deployment.chain_id, chain.deployment.rpc_url,
                                   chain.deployment.block, chain.deployment.deployer,
                                   {k: v for k, v in chain.deployment.contracts.items() if k != "Anchors"})
    again = Indexer(open_index(path), chain.w3, moved)
    again.run()
    assert scalar(again.db, "SELECT count(*) FROM anchors") == 0
    assert scalar(again.db, "SELECT count(*) FROM jobs") == 15
