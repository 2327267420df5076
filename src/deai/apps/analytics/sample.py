"""A sample history of real jobs on a devnet, for the explorer's tests and demos.

``make_sample_history(w3, deployment)`` drives the deployed contracts through their typed
wrappers with the devnet's demo accounts, so everything the explorer then shows is real
chain data: staked and registered providers and validators, a dataset and two models
with lineage, jobs that end every way a job can end (finalized after an accepted bid and
after the best bid was assigned, expired without bids, expired without a result and
slashed, rejected by a validator committee, upheld after a challenge) and jobs still open,
assigned and committed, a provider that changes its prices, a payment channel with a
redeemed voucher, and an anchored batch. It advances the chain's clock with
``evm_increaseTime`` (anvil), so run it on a devnet, never a real chain.

Job specs are real ``WorkloadSpec`` documents; with ``store`` they are added to it, so an
indexer with a spec resolver over that store knows each job's workload kind.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from eth_account.signers.local import LocalAccount
from web3 import Web3

from deai.chain.anchors import Anchors
from deai.chain.channels import Channels
from deai.chain.cids import cid_from_digest
from deai.chain.deploy import Deployment
from deai.chain.devnet import demo_account
from deai.chain.jobmarket import JobMarket
from deai.chain.registry import Registry
from deai.chain.staking import Staking
from deai.chain.token import Token
from deai.chain.types import AssetKind, Verification, WorkloadKind
from deai.market.vouchers import sign_voucher
from deai.units import JobId, TokenAmount, tokens

PROVIDERS = ("provider1", "provider2", "provider3")
VALIDATORS = ("validator1", "validator2", "validator3")


class SpecSink(Protocol):
    """Where spec documents go (``deai.store.LocalStore`` fits): bytes in, CID out."""

    def add_bytes(self, data: bytes) -> Any: ...


@dataclass
class SampleHistory:
    """What the sample did, for tests to compare with what the explorer shows."""

    jobs: dict[str, JobId] = field(default_factory=dict)
    """Outcome label → job id: finalized, assigned_best, no_bids, no_result, fraud, upheld,
    open, assigned, committed."""
    dataset: str = ""
    model: str = ""
    finetuned: str = ""
    channel_id: bytes = b""
    spec_kinds: dict[str, str] = field(default_factory=dict)
    """Spec CID → workload kind."""


def _cid(label: str) -> str:
    return str(cid_from_digest(hashlib.sha256(label.encode()).digest()))


def _rpc(w3: Web3, method: str, *params: Any) -> Any:
    return w3.provider.make_request(method, list(params))["result"]  # type: ignore[arg-type]


class _Story:
    def __init__(self, w3: Web3, deployment: Deployment, store: SpecSink | None) -> None:
        self.w3 = w3
        self.token = Token(w3, deployment)
        self.staking = Staking(w3, deployment)
        self.registry = Registry(w3, deployment)
        self.market = JobMarket(w3, deployment)
        self.channels = Channels.from_deployment(w3, deployment)
        self.anchors = Anchors.from_deployment(w3, deployment)
        self.store = store
        self.out = SampleHistory()
        self.settings = self.market.settings()

    def a(self, role: str) -> LocalAccount:
        return demo_account(role)

    def advance(self, seconds: int) -> None:
        _rpc(self.w3, "evm_increaseTime", seconds)
        _rpc(self.w3, "evm_mine")

    def spec(self, kind: str, n: int) -> str:
        from deai.runtime.spec import WorkloadSpec  # the job spec format, read at job time only

        inputs: tuple[str, ...] = (self.out.dataset,) if kind in ("train", "finetune", "evaluate") \
            else (_cid(f"input-{n}"),)
        data = WorkloadSpec.model_validate(
            {"kind": kind, "model": self.out.model or _cid("model"), "inputs": inputs}
        ).canonical_bytes()
        if self.store is not None:
            cid = str(self.store.add_bytes(data))
        else:
            from deai.store import cid_of_bytes

            cid = str(cid_of_bytes(data))
        self.out.spec_kinds[cid] = kind
        return cid

    def post(self, client: str, kind: str, n: int, max_price: TokenAmount | None = None, *,
             bid_window: int = 60, timeout: int = 3_600, verification: Verification | None = None) -> JobId:
        now = self.market.chain_time()
        return self.market.post_job(
            self.a(client), self.spec(kind, n), max_price or tokens(10), bid_window=bid_window,
            deadline=now + timeout, verification=verification,
        ).job_id

    def commit(self, provider: str, job_id: int) -> None:
        self.market.commit_result(self.a(provider), job_id, _cid(f"output-{job_id}"),
                                  hashlib.sha256(f"result-{job_id}".encode()).digest())

    def challenged(self, label: str, provider: str, n: int) -> tuple[JobId, list[str]]:
        job_id = self.post("client2", "classify", n)
        self.market.bid(self.a(provider), job_id, tokens(5))
        self.market.accept_bid(self.a("client2"), job_id, self.a(provider).address)
        self.commit(provider, job_id)
        committee = self.market.challenge(self.a("validator1"), job_id).committee
        members = [v for v in VALIDATORS if str(self.a(v).address) in set(map(str, committee))]
        self.out.jobs[label] = job_id
        return job_id, members

    def run(self) -> SampleHistory:
        # roles: stake, register, approve the market once
        for i, role in enumerate(PROVIDERS):
            self.staking.deposit(self.a(role), tokens(1_000))
            self.registry.register_provider(
                self.a(role), f"http://127.0.0.1:{9100 + i}", _cid(f"capabilities-{role}"),
                {WorkloadKind.INFERENCE: tokens(1 + i), WorkloadKind.EMBEDDING: tokens("0.1")},
            )
        for role in VALIDATORS:
            self.staking.deposit(self.a(role), tokens(500))
            self.registry.register_validator(self.a(role))
        for role in ("client1", "client2", *PROVIDERS, *VALIDATORS):
            self.token.approve(self.a(role), self.market.address, 2**256 - 1)

        # models and datasets with lineage: a dataset, a model trained on it, a fine-tune
        self.out.dataset = _cid("dataset: digits")
        self.out.model = _cid("model: digits-mlp")
        self.out.finetuned = _cid("model: digits-mlp-finetuned")
        extra = _cid("dataset: digits-extra")
        licence = _cid("licence: Apache-2.0")
        self.registry.register_asset(self.a("client1"), AssetKind.DATASET, self.out.dataset, licence)
        self.registry.register_asset(self.a("client1"), AssetKind.DATASET, extra, licence)
        self.registry.register_asset(self.a("provider1"), AssetKind.MODEL, self.out.model, licence,
                                     [self.out.dataset])
        self.registry.register_asset(self.a("client2"), AssetKind.MODEL, self.out.finetuned, licence,
                                     [self.out.model, extra])

        # finalized: bids from two providers, the client accepts one
        job = self.post("client1", "classify", 1)
        self.market.bid(self.a("provider1"), job, tokens(5))
        self.market.bid(self.a("provider2"), job, tokens(4))
        self.market.accept_bid(self.a("client1"), job, self.a("provider2").address)
        self.commit("provider2", job)
        self.out.jobs["finalized"] = job
        # finalized: the bid window closes and the best bid is assigned
        best = self.post("client2", "embed", 2, tokens(3))
        self.market.bid(self.a("provider1"), best, tokens(2))
        self.market.bid(self.a("provider3"), best, tokens("1.5"))
        self.out.jobs["assigned_best"] = best
        self.advance(61)
        self.market.assign(self.a("client2"), best)
        self.commit("provider3", best)
        self.advance(self.settings.challenge_window + 1)
        self.market.finalize(self.a("client1"), job)
        self.market.finalize(self.a("provider3"), best)

        # expired: nobody bids; and a provider that never delivers (slashed)
        lonely = self.post("client1", "generate", 3, bid_window=30, timeout=120)
        late = self.post("client1", "classify", 4, bid_window=30, timeout=120)
        self.market.bid(self.a("provider3"), late, tokens(6))
        self.market.accept_bid(self.a("client1"), late, self.a("provider3").address)
        self.advance(121)
        self.market.expire(self.a("client1"), lonely)
        self.market.expire(self.a("client2"), late)
        self.out.jobs["no_bids"], self.out.jobs["no_result"] = lonely, late

        # disputes: the committee finds fraud; another committee upholds the result
        fraud, members = self.challenged("fraud", "provider1", 5)
        for member in members:
            self.market.vote(self.a(member), fraud, fraud=True)
        self.market.resolve(self.a("client2"), fraud)
        upheld, members = self.challenged("upheld", "provider2", 6)
        for member in members:
            self.market.vote(self.a(member), upheld, fraud=False)
        self.market.resolve(self.a("client2"), upheld)

        # a price change, a payment channel with a redeemed voucher, an anchored batch
        self.registry.update_provider(
            self.a("provider2"), "http://127.0.0.1:9101", _cid("capabilities-provider2-v2"),
            {WorkloadKind.INFERENCE: tokens("1.5"), WorkloadKind.EMBEDDING: tokens("0.2")},
        )
        opened = self.channels.open(self.a("client1"), self.a("provider1").address, tokens(20))
        self.out.channel_id = bytes(opened.channel_id)
        voucher = sign_voucher(self.a("client1"), self.channels.domain(), opened.channel_id, tokens(3))
        self.channels.redeem(self.a("provider1"), voucher)
        self.anchors.post(self.a("provider1"), hashlib.sha256(b"batch-1").digest(), 1, 8,
                          _cid("batch listing 1"))

        # jobs still in flight: open with a bid, assigned, committed
        self.out.jobs["open"] = self.post("client1", "image", 7)
        self.market.bid(self.a("provider1"), self.out.jobs["open"], tokens(7))
        assigned = self.post("client2", "train", 8)
        self.market.bid(self.a("provider2"), assigned, tokens(8))
        self.market.accept_bid(self.a("client2"), assigned, self.a("provider2").address)
        self.out.jobs["assigned"] = assigned
        committed = self.post("client1", "evaluate", 9)
        self.market.bid(self.a("provider2"), committed, tokens(5))
        self.market.accept_bid(self.a("client1"), committed, self.a("provider2").address)
        self.commit("provider2", committed)
        self.out.jobs["committed"] = committed
        return self.out


def make_sample_history(w3: Web3, deployment: Deployment, *, store: SpecSink | None = None) -> SampleHistory:
    """Write the sample history to the devnet at ``w3`` (see the module docstring)."""
    return _Story(w3, deployment, store).run()
