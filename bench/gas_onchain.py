"""Gas of an on-chain AI request: request + delivery + callback, for ``bench/gas.py``.

``measure_onchain(w3, deployment, accounts)`` runs on the chain ``bench/gas.py`` staged
(providers and validators registered) and returns:

- ``ai_request_gas_request``: the consumer contract's ``requestAI`` (spec built on chain,
  the JobMarket job posted, escrow from the consumer's prepaid balance);
- ``ai_request_gas_delivery``: the provider's ``deliver`` with the consumer's
  ``onAIResult`` run inside it (the consumer stores the class index);
- ``ai_request_gas_total``: the two together, request + delivery + callback;
- ``ai_request_gas_callback``: what the callback alone adds to the delivery (the same
  delivery to a consumer without code);
- ``ai_request_gas_release``: a ``final`` request's ``release`` after finalization;
- ``ai_request_gas_with_job_path``: the total plus the provider's JobMarket steps (bid,
  assign, commit, finalize) of the same request.

Steady state: two requests first, so the consumer's balance, the coordinator's market
account and the provider's records already exist. Run it alone with
``.venv/bin/python bench/gas_onchain.py [--json]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from deai.chain.ai_requests import (
    AIParams,
    AIRequested,
    AIRequests,
    Policy,
    RequestKind,
    compile_consumer,
)
from deai.chain.cids import cid_from_digest, cid_to_bytes
from deai.chain.deploy import Deployment
from deai.chain.jobmarket import JobMarket
from deai.chain.registry import Registry
from deai.chain.rpc import deploy, send
from deai.chain.types import AssetKind, Verification
from deai.units import tokens

CONSUMER = '''# pragma version ~=0.4.3
import IAIConsumer
implements: IAIConsumer

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

coordinator: immutable(address)
answers: public(HashMap[uint256, uint256])

@deploy
def __init__(coordinator_: address):
    coordinator = coordinator_

@external
def ask(model: Bytes[64], data: Bytes[1024], maxPrice: uint256, policy: uint8) -> uint256:
    return extcall IAIRequests(coordinator).requestAI(model, data, maxPrice, 0, 100000, policy,
        AIParams(kind=0, inputIsCid=False, outputAsCid=False, maxTokens=64, temperature=100, seed=0,
                 verificationParam=1000))

@external
def onAIResult(requestId: uint256, output: Bytes[1024], manifestCid: Bytes[64]):
    assert msg.sender == coordinator
    self.answers[requestId] = convert(extract32(output, 0), uint256)

@external
def onAIDisputed(requestId: uint256):
    assert msg.sender == coordinator
'''
# a digit from scikit-learn's test split as the digits model's JSON input (173 bytes)
PIXELS = (b'{"pixels":[0,0,11,12,0,0,0,0,0,2,16,16,16,13,0,0,0,3,16,12,10,14,0,0,0,1,16,1,12,15,'
          b'0,0,0,0,13,16,9,15,2,0,0,0,0,3,0,9,11,0,0,0,0,0,9,15,4,0,0,0,9,12,13,3,0,0]}')
MAX_PRICE = tokens(3)
PRICE = tokens(1)


def _cid(label: str) -> str:
    return str(cid_from_digest(hashlib.sha256(label.encode()).digest()))


class OnchainBench:
    def __init__(self, w3: Web3, deployment: Deployment, accounts: dict[str, LocalAccount]) -> None:
        self.w3, self.a = w3, accounts
        self.ai = AIRequests(w3, deployment)
        self.market = JobMarket(w3, deployment)
        self.model = _cid("bench model")
        Registry(w3, deployment).register_asset(accounts["deployer"], AssetKind.MODEL, self.model, _cid("licence"))
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "BenchConsumer.vy"
            source.write_text(CONSUMER)
            artifact = compile_consumer(source)
        address, _ = deploy(w3, accounts["deployer"], artifact, self.ai.address)
        self.consumer = w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact.abi)
        self.ai.deposit(accounts["client1"], tokens(1_000), account=address)
        self.manifest = cid_to_bytes(_cid("manifest"))

    def gas(self, receipt: Any) -> int:
        return int(receipt["gasUsed"])

    def request(self, policy: Policy = Policy.OPTIMISTIC, *, from_contract: bool = True) -> tuple[int, int]:
        if from_contract:
            receipt = send(self.w3, self.a["client2"], self.consumer.functions.ask(
                cid_to_bytes(self.model), PIXELS, MAX_PRICE, int(policy)))
            event = next(e for e in self.ai.decode(receipt["logs"]) if isinstance(e, AIRequested))
            return event.request_id, self.gas(receipt)
        event = self.ai.request_ai(self.a["client2"], self.model, PIXELS, MAX_PRICE, policy=policy,
                                   params=AIParams(RequestKind.CLASSIFY), verification=Verification())
        return event.request_id, self.gas(self.w3.eth.get_transaction_receipt(event.transaction_hash))  # type: ignore[arg-type]

    def job_path(self, request_id: int) -> int:
        """The provider's JobMarket steps up to the commit: bid, assign, commit."""
        provider, m = self.a["provider1"], self.market
        used = self.gas_of(m.bid(provider, request_id, PRICE).transaction_hash)
        self.advance(self.ai.bid_window() + 1)
        used += self.gas_of(m.assign(provider, request_id).transaction_hash)
        used += self.gas_of(m.commit_result(provider, request_id, _cid(f"out{request_id}"),
                                            hashlib.sha256(b"r").digest()).transaction_hash)
        return used

    def finalize(self, request_id: int) -> int:
        self.advance(self.market.settings().challenge_window + 1)
        return self.gas_of(self.market.finalize(self.a["provider1"], request_id).transaction_hash)

    def deliver(self, request_id: int) -> int:
        answer = (7).to_bytes(32, "big")
        receipt = send(self.w3, self.a["provider1"], self.ai.contract.functions.deliver(request_id, answer, self.manifest))
        return self.gas(receipt)

    def gas_of(self, tx_hash: str) -> int:
        return int(self.w3.eth.get_transaction_receipt(tx_hash)["gasUsed"])  # type: ignore[arg-type]

    def advance(self, seconds: int) -> None:
        self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def one(self) -> dict[str, int]:
        request_id, requested = self.request()
        path = self.job_path(request_id)
        delivered = self.deliver(request_id)
        path += self.finalize(request_id)
        return {"request": requested, "delivery": delivered, "job_path": path}


def measure_onchain(w3: Web3, deployment: Deployment, accounts: dict[str, LocalAccount], runs: int = 5) -> dict[str, int]:
    """The ``ai_request_gas_*`` figures on a chain with staked, registered providers."""
    bench = OnchainBench(w3, deployment, accounts)
    for _ in range(2):
        bench.one()
    samples = [bench.one() for _ in range(runs)]
    request = round(statistics.mean(s["request"] for s in samples))
    delivery = round(statistics.mean(s["delivery"] for s in samples))
    path = round(statistics.mean(s["job_path"] for s in samples))
    # the same delivery to an account without code: no callback
    bench.ai.token().ensure_allowance(accounts["client2"], bench.ai.address, tokens(100))
    bare = []
    for _ in range(2):
        request_id, _ = bench.request(from_contract=False)
        bench.job_path(request_id)
        bare.append(bench.deliver(request_id))
        bench.finalize(request_id)
    final_id, _ = bench.request(Policy.FINAL)
    bench.job_path(final_id)
    bench.deliver(final_id)
    bench.finalize(final_id)
    release = bench.gas_of(bench.ai.release(accounts["client2"], final_id).transaction_hash)
    return {
        "ai_request_gas_request": request,
        "ai_request_gas_delivery": delivery,
        "ai_request_gas_total": request + delivery,
        "ai_request_gas_callback": delivery - bare[-1],
        "ai_request_gas_release": release,
        "ai_request_gas_with_job_path": request + delivery + path,
    }


def main() -> None:
    from deai.chain.anvil import start_anvil
    from deai.chain.deploy import deploy_protocol
    from deai.chain.devnet import DEMO_ROLES, demo_account, fund_demo_accounts
    from deai.chain.rpc import connect
    from deai.chain.staking import Staking
    from deai.chain.types import WorkloadKind
    from deai.config import Config

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args()
    anvil = start_anvil(Config().resolve_anvil())
    try:
        w3 = connect(anvil.rpc_url)
        deployment = deploy_protocol(w3, demo_account("deployer"), anvil.rpc_url)
        fund_demo_accounts(w3, deployment)
        accounts = {role: demo_account(role) for role in DEMO_ROLES}
        Staking(w3, deployment).deposit(accounts["provider1"], tokens(1_000))
        Registry(w3, deployment).register_provider(accounts["provider1"], "http://127.0.0.1:9100", _cid("caps"),
                                                   {WorkloadKind.INFERENCE: PRICE})
        figures = measure_onchain(w3, deployment, accounts)
    finally:
        anvil.stop()
    for key, value in figures.items():
        print(f"{key:<32}{value:>10,}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
