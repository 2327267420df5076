"""Cheating providers against real validators: every adversary is caught and slashed.

One network for the module: a devnet, three provider processes and three validator
processes over loopback HTTP. Jobs are posted with p = 100 % (every result is checked) and
given to a chosen provider with ``acceptBid``, so each test knows who ran what. The
providers change their ``--cheat`` mode between tests by restarting on the same data
directory: lazy and swap first, then a colluding pair, then a partial cheater.
validator3 is a false challenger throughout: it challenges honest work and loses its bond.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deai.chain.devnet import demo_account
from deai.chain.events import JobChallenged, JobSettled, Slashed
from deai.chain.staking import Staking
from deai.chain.types import JobReason, JobStatus
from deai.client import Client, Job
from deai.node.adversary import cheats_on
from deai.runtime.datasets import digits_split
from deai.runtime.demo_models import demo_model_dirs
from deai.runtime.spec import WorkloadSpec
from deai.testing.network import LocalNetwork, ProviderSpec, ValidatorSpec
from deai.testing.waiting import wait_for
from deai.units import tokens
from deai.verify.evidence import parse_evidence
from deai.verify.redundancy import accept_distinct

pytestmark = pytest.mark.e2e

PRICES = ("classify=1", "generate=1")
WINDOW_S = 10


def _models() -> tuple[Path, ...]:
    d = demo_model_dirs()
    return (d["digits"], d["digits-int8"], d["textgen"], d["textgen-small"])


def _provider(role: str, cheat: str | None = None) -> ProviderSpec:
    return ProviderSpec(role, PRICES, _models(), max_jobs=3, cheat=cheat)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    models = _models()
    net = LocalNetwork(
        tmp_path_factory.mktemp("verify-net"),
        providers=[_provider("provider1"), _provider("provider2", "lazy"), _provider("provider3", "swap")],
        validators=[
            ValidatorSpec("validator1", models),
            ValidatorSpec("validator2", models),
            ValidatorSpec("validator3", models, cheat="false-challenge"),
        ],
        challenge_window_s=WINDOW_S,
    )
    with net:
        yield net


def _addr(role: str) -> str:
    return str(demo_account(role).address)


def _client(net: LocalNetwork) -> Client:
    return Client.from_config(net.client_config("client1"), demo_account("client1"))


def _use(net: LocalNetwork, index: int, cheat: str | None) -> None:
    """Run provider ``index`` in ``cheat`` mode (restarting it if it runs another)."""
    current = net.running[index].spec
    if current.cheat != cheat:
        net.restart(index, spec=_provider(current.role, cheat))


def _classify_spec(client: Client, row: int, **verification: object) -> dict[str, object]:
    _, _, x_test, _ = digits_split()
    return {
        "kind": "classify",
        "model": client.add_path(demo_model_dirs()["digits"]),
        "inputs": [client.add_bytes(json.dumps({"pixels": x_test[row].tolist()}).encode())],
        "verification": verification or {"mode": "sampled", "sample_rate": 1.0},
    }


def _generate_spec(client: Client, seed: int) -> dict[str, object]:
    return {
        "kind": "generate",
        "model": client.add_path(demo_model_dirs()["textgen"]),
        "inputs": [client.add_bytes(b"The Python interpreter")],
        "params": {"max_tokens": 40, "temperature": 0.8, "top_k": 40, "seed": seed},
        "verification": {"mode": "rescore", "sample_rate": 1.0},
    }


def _run_by(client: Client, spec: dict[str, object], role: str) -> Job:
    """Post a job and give it to ``role`` (its bid, accepted by the client)."""
    job = client.submit(spec, max_price=tokens(3), bid_window_s=6)
    provider = demo_account(role).address
    wait_for(lambda: client.market.bid_of(job.id, provider) > 0, f"a bid from {role}", timeout=30)
    client.market.accept_bid(client.account, job.id, provider)
    return job


def _settled(client: Client, job: Job) -> JobSettled:
    assert job.wait(timeout=120).terminal, job.why()
    events = client.market.job_events(job.id, from_block=client.deployment.block)
    return next(e for e in events if isinstance(e, JobSettled))


def _challenge(client: Client, job: Job) -> JobChallenged:
    events = client.market.job_events(job.id, from_block=client.deployment.block)
    return next(e for e in events if isinstance(e, JobChallenged))


def _assert_slashed(net: LocalNetwork, client: Client, job: Job, role: str) -> JobChallenged:
    settled = _settled(client, job)
    assert settled.status is JobStatus.REJECTED and settled.reason is JobReason.FRAUD_PROVEN, job.why()
    assert settled.slashed > 0 and settled.refunded > 0
    receipt = client.w3.eth.get_transaction_receipt(settled.transaction_hash)  # type: ignore[arg-type]
    slashed = Staking(client.w3, client.deployment).decoder.of_type(receipt["logs"], Slashed)
    assert [str(s.who) for s in slashed] == [str(demo_account(role).address)]
    provider = next(p for p in net.running if p.spec.role == role)
    wait_for(lambda: httpx.get(f"{provider.url}/v1/jobs/{job.id}").json()["stage"] == "slashed",
             f"{role} to record job {job.id} as slashed", timeout=30)
    challenged = _challenge(client, job)
    assert str(challenged.challenger) in (_addr("validator1"), _addr("validator2"))
    return challenged


def _evidence(net: LocalNetwork, job: Job, challenger: str) -> dict[str, object]:
    validator = next(v for v in net.validating if demo_account(v.spec.role).address == challenger)
    check = httpx.get(f"{validator.url}/v1/checks/{job.id}").json()
    data = httpx.get(f"{validator.url}/ipfs/{check['evidence_cid']}").content
    return parse_evidence(data).model_dump()


def test_lazy_and_swapping_providers_are_slashed_and_a_false_challenger_loses_its_bond(
    network: LocalNetwork,
) -> None:
    client = _client(network)
    market = client.market
    cheat = _addr("validator3")
    cheat_balance = market.balance_of(cheat) + market.token().balance_of(cheat)
    honest = _run_by(client, _classify_spec(client, 0), "provider1")
    lazy = _run_by(client, _classify_spec(client, 1), "provider2")
    swapped = _run_by(client, _classify_spec(client, 2), "provider3")
    swapped_text = _run_by(client, _generate_spec(client, 7), "provider3")

    for job, role in ((lazy, "provider2"), (swapped, "provider3"), (swapped_text, "provider3")):
        _assert_slashed(network, client, job, role)
    evidence = _evidence(network, swapped_text, _challenge(client, swapped_text).challenger)
    assert evidence["method"] == "rescore" and "commitment chunks disagree" in str(evidence["detail"])
    assert _evidence(network, swapped, _challenge(client, swapped).challenger)["method"] == "reexecute"

    # the honest result stands against validator3's challenge; its bond goes to the committee
    settled = _settled(client, honest)
    assert settled.status is JobStatus.FINALIZED and settled.reason is JobReason.RESULT_UPHELD, honest.why()
    challenged = _challenge(client, honest)
    assert str(challenged.challenger) == cheat
    assert {str(a) for a in challenged.committee} == {_addr("validator1"), _addr("validator2")}
    after = market.balance_of(cheat) + market.token().balance_of(cheat)
    assert after == cheat_balance - challenged.bond  # its one challenge, of the one honest job
    assert Staking(client.w3, client.deployment).stake_of(demo_account("provider1").address) >= tokens(1_000)


def test_a_colluding_redundant_pair_is_outvoted_by_the_validators_own_run(network: LocalNetwork) -> None:
    _use(network, 1, "collude")
    _use(network, 2, "collude")
    client = _client(network)
    spec = _classify_spec(client, 3, mode="redundant", replicas=3)
    jobs = [client.submit(spec, max_price=tokens(3), bid_window_s=8) for _ in range(3)]
    chosen = accept_distinct(client.market, client.account, [j.id for j in jobs], timeout=20)
    assert len(set(chosen.values())) == 3, chosen
    by_role = {role: j for j in jobs for role in ("provider1", "provider2", "provider3")
               if chosen[j.id] == demo_account(role).address}
    # the pair agree with each other (identical result hashes) and disagree with the honest run
    wait_for(lambda: all(client.market.result(j.id) is not None for j in jobs), "three results", timeout=30)
    hashes = {role: client.market.result(j.id).result_hash for role, j in by_role.items()}  # type: ignore[union-attr]
    assert hashes["provider2"] == hashes["provider3"] != hashes["provider1"]
    for role in ("provider2", "provider3"):
        challenged = _assert_slashed(network, client, by_role[role], role)
        assert _evidence(network, by_role[role], challenged.challenger)["method"] == "redundant"
    assert _settled(client, by_role["provider1"]).status is JobStatus.FINALIZED


def test_a_partial_cheater_is_slashed_on_the_jobs_it_cheats_on_and_paid_for_the_rest(
    network: LocalNetwork,
) -> None:
    _use(network, 1, "partial:0.5")
    client = _client(network)
    cheated, honest = None, None
    for row in range(10, 60):
        spec = _classify_spec(client, row)
        if cheats_on(WorkloadSpec.parse(spec).canonical_bytes(), 0.5):
            cheated = cheated or spec
        else:
            honest = honest or spec
        if cheated and honest:
            break
    assert cheated is not None and honest is not None
    bad = _run_by(client, cheated, "provider2")
    good = _run_by(client, honest, "provider2")
    _assert_slashed(network, client, bad, "provider2")
    settled = _settled(client, good)
    assert settled.status is JobStatus.FINALIZED and settled.paid > 0, good.why()


def test_the_validators_earn_the_fees_of_the_jobs_they_watched(network: LocalNetwork) -> None:
    # Runs last: it moves the chain's clock two epochs on. The jobs finalized above parked
    # their validator fees in the JobMarket; the validator processes sync them into the
    # pool's pot of the epoch in progress, report their scores for it in the next epoch,
    # and claim their stake-weighted shares in the one after.
    from deai.chain.events import FeesSynced
    from deai.chain.validator_pool import ValidatorPool

    client = _client(network)
    pool = ValidatorPool(client.w3, client.deployment)
    length = pool.epoch_length()

    def synced() -> list[FeesSynced]:
        return [e for e in pool.events(from_block=client.deployment.block) if isinstance(e, FeesSynced)]

    def next_epoch() -> None:
        # to the first second of the next epoch, so that the validators have a whole epoch
        # of chain time to do what is due in it (a jump by one epoch length could land at its end)
        now = client.market.chain_time()
        client.w3.provider.make_request("evm_increaseTime", [length - now % length + 1])  # type: ignore[arg-type]
        client.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    next_epoch()  # a fresh epoch: its first tick syncs what the jobs above parked
    wait_for(lambda: any(e.amount > 0 for e in synced()), "a validator to sync the parked fees", timeout=50)
    epoch = max(e.epoch for e in synced() if e.amount > 0)
    pot = pool.epoch(epoch).pot
    assert pot > 0
    if pool.current_epoch() == epoch:
        next_epoch()  # epoch + 1: every validator reports its scores for `epoch`
    with contextlib.suppress(AssertionError):  # a validator busy past the epoch's end misses it
        wait_for(lambda: pool.epoch(epoch).reports == 3, "three reports", timeout=50)
    reporters = pool.epoch(epoch).reports
    assert reporters >= 2, f"only {reporters} validator(s) reported for epoch {epoch}"
    next_epoch()  # epoch + 2: the shares of `epoch` can be claimed
    wait_for(lambda: pool.epoch(epoch).claims == reporters, "every reporter's claim", timeout=60)
    books = pool.epoch(epoch)
    claimed = {str(c.validator): int(c.amount) for c in pool.claims(from_block=client.deployment.block)
               if c.epoch == epoch}
    assert len(claimed) == reporters
    assert set(claimed) <= {_addr(v) for v in ("validator1", "validator2", "validator3")}
    # pot × weight ÷ total weight each, rounded down: at most one wei per reporter is left over
    weights = {v: int(pool.weight_of(epoch, v)) for v in claimed}
    assert claimed == {v: int(pot) * w // int(books.total_weight) for v, w in weights.items()}
    assert 0 <= int(pot) - sum(claimed.values()) < reporters
    for validator in network.validating:
        address = _addr(validator.spec.role)
        mine = sum(int(c.amount) for c in pool.claims(validator=address, from_block=client.deployment.block))
        assert address not in claimed or mine > 0
        # the node counts a claim once its transaction is mined: a moment after the event
        wait_for(lambda url=validator.url, mine=mine: httpx.get(f"{url}/v1/stats").json()["fees_earned"] == mine,
                 f"{validator.spec.role} to count the {mine} it claimed", timeout=10)
