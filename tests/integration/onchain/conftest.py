"""Fixtures for on-chain AI requests against a real chain: a staged market, models, a probe consumer.

``Kit`` plays every role a test needs on one anvil: the consumer (``ProbeConsumer.vy``,
which records callbacks or misbehaves on demand), the provider (bids, commits a result
produced by the real runtime, signs its provenance manifest, delivers), and validators.
The module-scoped staging is undone when the module ends; each test starts from it
(``chain`` snapshot).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from deai.chain.ai_requests import (
    AIDelivered,
    AIParams,
    AIRequested,
    AIRequests,
    Policy,
    RequestKind,
    compile_consumer,
)
from deai.chain.cids import cid_to_bytes
from deai.chain.rpc import deploy, send
from deai.chain.types import AssetKind, Verification
from deai.node.jobs import result_document
from deai.node.onchain import onchain_output, spec_for_request
from deai.provenance.manifest import provenance_domain, sign_manifest
from deai.provenance.outputs import describe_outputs
from deai.runtime.datasets import digits_split
from deai.runtime.demo_models import demo_model_dirs
from deai.runtime.execute import Executor, WorkloadResult
from deai.runtime.manifest import MANIFEST_NAME, parse_manifest
from deai.store import LocalStore
from deai.testing.market import Market, cid
from deai.testing.plugin import Chain
from deai.units import TokenAmount, tokens

PROBE = Path(__file__).parent / "contracts" / "ProbeConsumer.vy"
PREPAID = tokens(100)
PRICE = tokens(1)
MAX_PRICE = tokens(3)


def pixels(row: int) -> bytes:
    """A digit from scikit-learn's test split as the JSON input the digits model reads."""
    _, _, x_test, _ = digits_split()
    return ("{\"pixels\":[" + ",".join(str(int(v)) for v in x_test[row]) + "]}").encode()


def digit_label(row: int) -> int:
    _, _, _, y_test = digits_split()
    return int(y_test[row])


@dataclass
class Kit:
    m: Market
    ai: AIRequests
    probe: Contract
    store: LocalStore
    executor: Executor
    models: dict[str, str]
    results: dict[int, WorkloadResult] = field(default_factory=dict)

    @property
    def w3(self) -> Web3:
        return self.m.w3

    def call_probe(self, fn: str, *args: Any, role: str = "client1") -> Any:
        return send(self.w3, self.m[role], getattr(self.probe.functions, fn)(*args))

    def probe_view(self, fn: str, *args: Any) -> Any:
        return getattr(self.probe.functions, fn)(*args).call()

    # --- consumer --------------------------------------------------------------------------

    def ask(
        self,
        data: bytes | None = None,
        *,
        model: str = "digits",
        params: AIParams | None = None,
        max_price: TokenAmount = MAX_PRICE,
        policy: Policy = Policy.OPTIMISTIC,
        gas_limit: int = 200_000,
        verification: Verification | None = None,
    ) -> AIRequested:
        """The probe contract asks (it is the consumer: msg.sender of requestAI)."""
        p = params or AIParams(RequestKind.CLASSIFY)
        v = verification or Verification()
        payload = pixels(0) if data is None else data
        receipt = self.call_probe(
            "ask", cid_to_bytes(self.models[model]), payload, max_price, int(v.mode), gas_limit,
            int(policy), p.as_tuple(v),
        )
        return next(e for e in self.ai.decode(receipt["logs"]) if isinstance(e, AIRequested))

    # --- provider --------------------------------------------------------------------------

    def take(self, request_id: int, provider: str = "provider1", price: TokenAmount = PRICE) -> None:
        """``provider`` bids and, after the bid window, is assigned the job."""
        self.m.market.bid(self.m[provider], request_id, price)
        self.m.advance(self.ai.bid_window() + 1)
        self.m.market.assign(self.m[provider], request_id)

    def run(self, request: AIRequested) -> WorkloadResult:
        """Run the request's spec with the real runtime (what an honest provider commits)."""
        spec = spec_for_request(request)
        if not request.params.input_is_cid:
            self.store.add_bytes(request.input)
        result = self.executor.execute(spec)
        self.results[request.request_id] = result
        return result

    def commit(self, request: AIRequested, provider: str = "provider1", *, wrong: bool = False) -> WorkloadResult:
        result = self.run(request)
        doc = result_document(result)
        result_hash = bytes.fromhex(result.result_hash[2:])
        if wrong:
            doc, result_hash = doc + b" ", hashlib.sha256(b"a wrong answer").digest()
        self.m.market.commit_result(self.m[provider], request.request_id, str(self.store.add_bytes(doc)), result_hash)
        return result

    def manifest(self, request: AIRequested, result: WorkloadResult, provider: str = "provider1") -> str:
        """A real signed provenance manifest for the result's primary output."""
        spec = spec_for_request(request)
        model = parse_manifest(self.store.read_bytes(f"{spec.model}/{MANIFEST_NAME}"))
        anchors = self.m.deployment.address("Anchors")
        unsigned = describe_outputs(
            result, spec, model, provider=self.m.addr(provider), chain_id=self.m.deployment.chain_id,
            anchors=anchors, job_id=request.request_id,
        )[0]
        signed = sign_manifest(self.m[provider], provenance_domain(self.m.deployment.chain_id, anchors), unsigned)
        return str(self.store.add_bytes(signed.to_json()))

    def answer(
        self, request: AIRequested, provider: str = "provider1", *, wrong: bool = False,
        price: TokenAmount = PRICE,
    ) -> AIDelivered:
        """Take, run, commit and deliver: the provider's whole side of one request."""
        self.take(request.request_id, provider, price)
        result = self.commit(request, provider, wrong=wrong)
        output = onchain_output(result, output_as_cid=request.params.output_as_cid)
        if wrong:
            output = (int.from_bytes(output, "big") + 1).to_bytes(32, "big")
        return self.ai.deliver(self.m[provider], request.request_id, output, self.manifest(request, result, provider))

    def finalize(self, request_id: int) -> None:
        self.m.advance(self.m.market.settings().challenge_window + 1)
        self.m.market.finalize(self.m["provider1"], request_id)

    def prove_fraud(self, request_id: int) -> None:
        """Validators challenge the committed result and vote it wrong; the dispute resolves."""
        self.m.market.challenge(self.m["validator1"], request_id)
        for member in self.m.market.dispute(request_id).committee:
            role = next(r for r in ("validator1", "validator2", "validator3") if self.m.addr(r) == member)
            self.m.market.vote(self.m[role], request_id, fraud=True)
        self.m.market.resolve(self.m["validator1"], request_id)

    # --- books -----------------------------------------------------------------------------

    def holdings(self) -> int:
        """What the coordinator holds: its wallet and its JobMarket account."""
        return int(self.m.token.balance_of(self.ai.address)) + int(self.m.market.balance_of(self.ai.address))


@pytest.fixture(scope="session")
def model_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalStore, dict[str, str]]:
    store = LocalStore(tmp_path_factory.mktemp("onchain-store"))
    dirs = demo_model_dirs()
    models = {name: str(store.add_path(dirs[name])) for name in ("digits", "textgen", "digits-int8")}
    return store, models


@pytest.fixture(scope="module")
def staged(
    staged_market: Market, model_store: tuple[LocalStore, dict[str, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Kit:
    store, models = model_store
    m, w3 = staged_market, staged_market.w3
    for name in ("digits", "textgen"):
        m.registry.register_asset(m["deployer"], AssetKind.MODEL, models[name], cid("licence"))
    ai = AIRequests(w3, m.deployment)
    artifact = compile_consumer(PROBE)
    address, _ = deploy(w3, m["deployer"], artifact, ai.address)
    probe = w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact.abi)
    ai.deposit(m["client1"], PREPAID, account=address)
    executor = Executor(store, cache_dir=tmp_path_factory.mktemp("onchain-cache"))
    return Kit(m, ai, probe, store, executor, models)


@pytest.fixture
def kit(staged: Kit, chain: Chain) -> Kit:
    staged.results.clear()
    return staged
