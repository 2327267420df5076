"""A sample history of real jobs on a devnet, for the explorer's tests and demos.

``make_sample_history(w3, deployment)`` drives the deployed contracts through their typed
wrappers with the devnet's demo accounts, so everything the explorer then shows is real
chain data: staked and registered providers and validators, a dataset and two models
with lineage, jobs that end every way a job can end (finalized after an accepted bid and
after the best bid was assigned, expired without bids, expired without a result and
slashed, rejected by a validator committee, upheld after a challenge) and jobs still open,
assigned and committed, a provider that changes its prices, a payment channel with a
redeemed voucher, an anchored batch, and on-chain AI requests from a small consumer
contract (``SAMPLE_CONSUMER``): answered and called back, a callback that failed and one
retried after failing, one expired and settled, one assigned, and a subscription's round
still waiting for bids; a fast-path receipt challenged on ReceiptDisputes and found wrong
(the provider slashed); and a ValidatorPool epoch whose fees were synced, reported on by
two validators and claimed by one. It advances the chain's clock with
``evm_increaseTime`` (anvil), so run it on a devnet, never a real chain.

Job specs are real ``WorkloadSpec`` documents; with ``store`` they are added to it, so an
indexer with a spec resolver over that store knows each job's workload kind.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from eth_account.signers.local import LocalAccount
from web3 import Web3

from deai.chain.ai_requests import AIParams, AIRequested, AIRequests, RequestKind
from deai.chain.anchors import Anchors
from deai.chain.channels import Channels
from deai.chain.cids import cid_from_digest, cid_to_bytes
from deai.chain.compile import Artifact
from deai.chain.deploy import Deployment
from deai.chain.devnet import demo_account
from deai.chain.jobmarket import JobMarket
from deai.chain.registry import Registry
from deai.chain.rpc import deploy, send
from deai.chain.staking import Staking
from deai.chain.token import Token
from deai.chain.types import AssetKind, Verification, WorkloadKind
from deai.errors import ContractCompileError
from deai.market.vouchers import sign_voucher
from deai.units import Address, ChannelId, JobId, TokenAmount, tokens

PROVIDERS = ("provider1", "provider2", "provider3")
SAMPLE_CONSUMER = """# pragma version ~=0.4.3
# A consumer contract for the sample history: asks AIRequests for a classification and
# records the answers; while `failing` is set its callbacks revert (a failed callback).

struct AIParams:
    kind: uint8
    inputIsCid: bool
    outputAsCid: bool
    maxTokens: uint16
    temperature: uint16
    seed: uint64
    verificationParam: uint16

interface IAIRequests:
    def requestAI(modelCid: Bytes[64], input: Bytes[1024], maxPrice: uint256, verificationMode: uint8, callbackGasLimit: uint256, policy: uint8, params: AIParams) -> uint256: nonpayable
    def createSubscription(modelCid: Bytes[64], input: Bytes[1024], maxPrice: uint256, verificationMode: uint8, callbackGasLimit: uint256, policy: uint8, params: AIParams, period: uint256, rounds: uint256, dynamicInput: bool) -> uint256: nonpayable

coordinator: public(immutable(IAIRequests))
failing: public(bool)
answers: public(HashMap[uint256, Bytes[1024]])
disputed: public(HashMap[uint256, bool])

@deploy
def __init__(coordinator_: IAIRequests):
    coordinator = coordinator_

@external
def setFailing(failing_: bool):
    self.failing = failing_

@internal
@pure
def _params() -> AIParams:
    return AIParams(kind=0, inputIsCid=False, outputAsCid=False, maxTokens=64, temperature=100, seed=0, verificationParam=1000)

@external
def ask(modelCid: Bytes[64], data: Bytes[1024], maxPrice: uint256, gasLimit: uint256) -> uint256:
    return extcall coordinator.requestAI(modelCid, data, maxPrice, 0, gasLimit, 0, self._params())

@external
def subscribe(modelCid: Bytes[64], data: Bytes[1024], maxPrice: uint256, gasLimit: uint256, period: uint256, rounds: uint256) -> uint256:
    return extcall coordinator.createSubscription(modelCid, data, maxPrice, 0, gasLimit, 0, self._params(), period, rounds, False)

@external
def onAIResult(requestId: uint256, output: Bytes[1024], manifestCid: Bytes[64]):
    assert msg.sender == coordinator.address, "sample: only the coordinator"
    assert not self.failing, "sample: the consumer is not ready"
    self.answers[requestId] = output

@external
def onAIDisputed(requestId: uint256):
    assert msg.sender == coordinator.address, "sample: only the coordinator"
    self.disputed[requestId] = True
"""
"""What the sample's consumer contract is (it does what the module docstring says)."""
AI_PARAMS = AIParams(RequestKind.CLASSIFY)
AI_VERIFICATION = Verification.sampled(1_000)
"""What ``SAMPLE_CONSUMER`` asks with (``_params`` and mode 0 in its source)."""
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
    ai_requests: dict[str, int] = field(default_factory=dict)
    """Label → on-chain AI request id (= job id): answered, callback_failed, retried,
    expired, assigned, subscription_round."""
    ai_consumer: str = ""
    """The sample consumer contract's address."""
    ai_subscription: int = 0
    receipt_dispute: str = ""
    """The challenged receipt's digest (0x hex), its dispute's id."""
    pool_epoch: int = 0
    """The ValidatorPool epoch whose fees were reported on and partly claimed."""


def _cid(label: str) -> str:
    return str(cid_from_digest(hashlib.sha256(label.encode()).digest()))


@functools.cache
def sample_consumer() -> Artifact:
    """``SAMPLE_CONSUMER`` compiled (once per process)."""
    import vyper

    try:
        out = vyper.compile_code(SAMPLE_CONSUMER, output_formats=["abi", "bytecode"])
    except Exception as exc:  # vyper raises many exception types, all compile failures
        raise ContractCompileError(f"the sample consumer failed to compile: {exc}") from None
    digest = hashlib.sha256(SAMPLE_CONSUMER.encode()).hexdigest()
    return Artifact("SampleConsumer", out["abi"], bytes.fromhex(out["bytecode"][2:]),
                    f"vyper {vyper.__version__}", digest)


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
        self.ai = AIRequests(w3, deployment)
        self.deployment = deployment
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
        # validator1 publishes its API (where dispute committees fetch its evidence) twice:
        # the index keeps the latest
        self.registry.set_validator_endpoint(self.a("validator1"), "http://127.0.0.1:9200")
        self.registry.set_validator_endpoint(self.a("validator1"), "http://127.0.0.1:9201")
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

        self.ai_requests()
        self.receipt_dispute()
        self.validator_fees()

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

    def ai_requests(self) -> None:
        """On-chain AI requests of every outcome the explorer tells apart (20-odd transactions)."""
        artifact = sample_consumer()
        address, _ = deploy(self.w3, self.a("client1"), artifact, self.ai.address)
        consumer = self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact.abi)
        self.out.ai_consumer = consumer.address
        self.ai.deposit(self.a("client1"), tokens(40), account=consumer.address)
        model = cid_to_bytes(self.out.model)
        out = self.out.ai_requests

        def ask(label: str) -> None:
            data = f"sample input: {label}".encode()
            receipt = send(self.w3, self.a("client1"), consumer.functions.ask(model, data, tokens(3), 200_000))
            out[label] = next(e for e in self.ai.decode(receipt["logs"]) if isinstance(e, AIRequested)).request_id
            self.ai_spec(data)

        def deliver(label: str) -> None:
            self.commit("provider1", out[label])
            self.ai.deliver(self.a("provider1"), out[label], (7).to_bytes(32, "big"),
                            _cid(f"manifest-{label}"))

        # expired: nobody bids by the deadline; settling refunds the consumer
        ask("expired")
        self.advance(self.ai.job_timeout() + 1)
        self.ai.settle(self.a("client2"), out["expired"])
        for label in ("answered", "callback_failed", "retried", "assigned"):
            ask(label)
            self.market.bid(self.a("provider2" if label == "assigned" else "provider1"), out[label], tokens(1))
        self.advance(self.ai.bid_window() + 1)
        for label in ("answered", "callback_failed", "retried", "assigned"):
            self.market.assign(self.a("client2"), out[label])
        deliver("answered")  # called back at once (optimistic policy)
        send(self.w3, self.a("client1"), consumer.functions.setFailing(True))
        deliver("callback_failed")
        deliver("retried")
        send(self.w3, self.a("client1"), consumer.functions.setFailing(False))
        self.ai.retry_callback(self.a("client2"), out["retried"])
        # a subscription of two rounds; its first round waits for bids
        data = b"sample input: subscription"
        send(self.w3, self.a("client1"), consumer.functions.subscribe(model, data, tokens(2), 200_000, 1, 2))
        self.out.ai_subscription = self.ai.subscription_count()
        out["subscription_round"] = self.ai.fire_subscription(
            self.a("client2"), self.out.ai_subscription, data).request_id
        self.ai_spec(data)

    def receipt_dispute(self) -> None:
        """provider1 signs and anchors four fast-path receipts; validator1 challenges one and
        the committee finds its response wrong."""
        from deai.chain.receipt_disputes import ReceiptDisputes
        from deai.node.fastpath.receipts import Receipt, ReceiptSigner, body_hash, receipt_domain
        from deai.provenance.merkle import MerkleTree

        disputes = ReceiptDisputes.from_deployment(self.w3, self.deployment)
        provider = self.a("provider1")
        signer = ReceiptSigner(provider, receipt_domain(int(self.w3.eth.chain_id), self.anchors.address))
        now = self.market.chain_time()
        signed = [signer.sign(Receipt(
            provider=Address(provider.address), channel_id=ChannelId(self.out.channel_id), sequence=n,
            request_hash=body_hash(f"request {n}".encode()), response_hash=body_hash(f"response {n}".encode()),
            model=self.out.model, price=tokens(2), cumulative_amount=tokens(2 * n),
            issued_at=now)) for n in range(1, 5)]
        tree = MerkleTree(s.leaf for s in signed)
        sequence = self.anchors.last_sequence(provider.address) + 1
        self.anchors.post(provider, tree.root, sequence, len(tree), _cid("receipt batch"))
        challenged = disputes.challenge(self.a("validator1"), signed[1], sequence, tree.siblings(1),
                                        _cid("evidence: a re-run gave another answer"))
        for member in challenged.committee:
            role = next(v for v in VALIDATORS if str(self.a(v).address) == str(member))
            disputes.vote(self.a(role), challenged.digest, fraud=True)
        disputes.resolve(self.a("client1"), challenged.digest)
        self.out.receipt_dispute = "0x" + challenged.digest.hex()

    def validator_fees(self) -> None:
        """The fees of the finalized jobs go to the pot of an epoch; validator1 and validator2
        report for it and, once claims open, validator1 claims its share."""
        from deai.chain.validator_pool import ValidatorPool

        pool = ValidatorPool(self.w3, self.deployment)
        length = pool.epoch_length()
        now = self.market.chain_time()
        self.advance((now // length + 1) * length + 1 - now)  # 1 s into the next epoch
        epoch = pool.sync(self.a("client1"), [1, 2, 3]).epoch
        self.advance(length)  # the epoch's reporting period
        for role in ("validator1", "validator2"):
            pool.report(self.a(role), epoch, hashlib.sha256(f"scores {role}".encode()).digest(),
                        f"deai-scores/v1:1=10000,2=10000,3=9000 by {role}")
        self.advance(length)  # claims open
        pool.claim(self.a("validator1"), epoch)
        self.out.pool_epoch = epoch

    def ai_spec(self, data: bytes) -> None:
        spec, cid = self.ai.spec_for(self.out.model, data, AI_PARAMS, AI_VERIFICATION)
        if self.store is not None:
            self.store.add_bytes(spec)
        self.out.spec_kinds[str(cid)] = AI_PARAMS.kind.spec_kind


def make_sample_history(w3: Web3, deployment: Deployment, *, store: SpecSink | None = None) -> SampleHistory:
    """Write the sample history to the devnet at ``w3`` (see the module docstring)."""
    return _Story(w3, deployment, store).run()
