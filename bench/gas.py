"""Gas of the job path (post + bid + accept + commit + finalize), of a dispute, and of the fast path.

Starts its own anvil, deploys the protocol, stages one provider and three validators,
then measures, on the same chain in one run:

- the job path in steady state, the escrow taken from the client's market account (a
  client that deposited once, or whose refunds sit there): ``job_path_gas_per_job``;
- the same with the escrow pulled from the client's wallet by transferFrom on every
  post: ``job_path_gas_per_job_wallet``;
- the first job of a new client and a new provider (fresh storage everywhere):
  ``job_path_gas_first_job``;
- a dispute that proves fraud (challenge + every committee vote + resolve, which slashes
  through Staking): ``dispute_gas``; and one that upholds the result:
  ``dispute_gas_upheld``;
- the fast path, from ``bench/gas_fastpath.py`` when it is there (``measure_fastpath``):
  ``fastpath_gas_per_request_batch_{1,100,10000}``;
- an on-chain AI request, from ``bench/gas_onchain.py`` (``measure_onchain``): request +
  delivery + callback, ``ai_request_gas_total`` (and its parts, ``ai_request_gas_*``);
- the validator fee pool, off the job path: ``pool_sync_gas`` (collect the fees parked
  under two provider ids and move them into the pool), ``pool_report_gas`` (a validator's
  per-epoch score report, a typical URI) and ``pool_claim_gas`` (its share, paid out).

    .venv/bin/python bench/gas.py [--json] [--jobs N]

With ``--json`` the last line is one JSON object with those keys. Target (issue #3): job
path <= 250,000 gas per job.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from deai.chain.anvil import start_anvil
from deai.chain.cids import cid_from_digest
from deai.chain.deploy import Deployment, deploy_protocol
from deai.chain.devnet import DEMO_ROLES, demo_account, fund_demo_accounts
from deai.chain.jobmarket import JobMarket
from deai.chain.registry import Registry
from deai.chain.rpc import connect
from deai.chain.staking import Staking
from deai.chain.token import Token
from deai.chain.types import JobReason, Verification, WorkloadKind
from deai.chain.validator_pool import ValidatorPool
from deai.config import Config
from deai.units import TokenAmount, tokens

TARGET = 250_000
STEPS = ("postJob", "bid", "acceptBid", "commitResult", "finalize")
MAX_PRICE = tokens(10)
PRICE = tokens(4)
VERIFICATION = Verification.sampled(1_000)  # the default mode: 10% of jobs re-executed


@dataclass(frozen=True)
class JobGas:
    steps: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.steps)


class Bench:
    def __init__(self, w3: Web3, deployment: Deployment) -> None:
        self.w3 = w3
        self.token = Token(w3, deployment)
        self.staking = Staking(w3, deployment)
        self.registry = Registry(w3, deployment)
        self.market = JobMarket(w3, deployment)
        self.accounts = {role: demo_account(role) for role in DEMO_ROLES}
        self.counter = 0

    def gas(self, tx_hash: str) -> int:
        return int(self.w3.eth.get_transaction_receipt(tx_hash)["gasUsed"])  # type: ignore[arg-type]

    def advance(self, seconds: int) -> None:
        self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def cid(self, label: str) -> str:
        self.counter += 1
        return str(cid_from_digest(hashlib.sha256(f"{label}{self.counter}".encode()).digest()))

    def stage(self) -> None:
        a = self.accounts
        for role in ("provider1", "provider2"):
            self.staking.deposit(a[role], tokens(1_000))
            self.registry.register_provider(a[role], f"http://127.0.0.1:9{role[-1]}00", self.cid("caps"),
                                            {WorkloadKind.INFERENCE: PRICE})
        for role in ("validator1", "validator2", "validator3"):
            self.staking.deposit(a[role], tokens(500))
            self.registry.register_validator(a[role])
            self.token.approve(a[role], self.market.address, 2**256 - 1)
        for role in ("client1", "client2"):
            self.token.approve(a[role], self.market.address, 2**256 - 1)

    def job(self, client: LocalAccount, provider: LocalAccount) -> tuple[int, JobGas]:
        m = self.market
        posted = m.post_job(client, self.cid("spec"), MAX_PRICE, bid_window=60,
                            deadline=m.chain_time() + 3_600, verification=VERIFICATION, approve=False)
        bid = m.bid(provider, posted.job_id, PRICE)
        accepted = m.accept_bid(client, posted.job_id, provider.address)
        committed = m.commit_result(provider, posted.job_id, self.cid("output"),
                                    hashlib.sha256(b"result").digest())
        self.advance(m.settings().challenge_window)
        settled = m.finalize(client, posted.job_id)
        assert settled.reason is JobReason.CHALLENGE_WINDOW_PASSED
        events = (posted, bid, accepted, committed, settled)
        return posted.job_id, JobGas(tuple(self.gas(e.transaction_hash) for e in events))

    def committed_job(self, client: LocalAccount, provider: LocalAccount) -> int:
        m = self.market
        posted = m.post_job(client, self.cid("spec"), MAX_PRICE, bid_window=60,
                            deadline=m.chain_time() + 3_600, verification=VERIFICATION, approve=False)
        m.bid(provider, posted.job_id, PRICE)
        m.accept_bid(client, posted.job_id, provider.address)
        m.commit_result(provider, posted.job_id, self.cid("output"), hashlib.sha256(b"r").digest())
        return posted.job_id

    def dispute(self, *, fraud: bool) -> tuple[int, dict[str, int]]:
        a, m = self.accounts, self.market
        job_id = self.committed_job(a["client1"], a["provider1"])
        challenged = m.challenge(a["validator1"], job_id, approve=False)
        parts = {"challenge": self.gas(challenged.transaction_hash)}
        for i, member in enumerate(challenged.committee):
            role = next(r for r in DEMO_ROLES if str(a[r].address) == str(member))
            parts[f"vote {i + 1}"] = self.gas(m.vote(a[role], job_id, fraud=fraud).transaction_hash)
        settled = m.resolve(a["client2"], job_id)
        assert settled.reason is (JobReason.FRAUD_PROVEN if fraud else JobReason.RESULT_UPHELD)
        parts["resolve"] = self.gas(settled.transaction_hash)
        return sum(parts.values()), parts


def pool_gas(bench: Bench, deployment: Deployment) -> dict[str, int]:
    """Sync the fees the jobs above parked, report for the epoch they went into, claim."""
    a, pool = bench.accounts, ValidatorPool(bench.w3, deployment)
    length = pool.epoch_length()
    synced = pool.sync(a["client1"], [1, 2])
    bench.advance((bench.market.chain_time() // length + 1) * length + 1 - bench.market.chain_time())
    uri = "deai-scores/v1:1=10500,2=9800"
    root = bytes(Web3.keccak(text=uri))
    reports = [pool.report(a[v], synced.epoch, root, uri) for v in ("validator1", "validator2", "validator3")]
    bench.advance(length)
    claimed = pool.claim(a["validator1"], synced.epoch)
    return {"pool_sync_gas": bench.gas(synced.transaction_hash),
            "pool_report_gas": bench.gas(reports[-1].transaction_hash),
            "pool_claim_gas": bench.gas(claimed.transaction_hash)}


def steady(bench: Bench, client: LocalAccount, provider: LocalAccount, jobs: int,
           after_each: Any = None) -> list[JobGas]:
    for _ in range(2):  # warm up: every account and id this path touches exists afterwards
        bench.job(client, provider)
        if after_each:
            after_each()
    runs = []
    for _ in range(jobs):
        runs.append(bench.job(client, provider)[1])
        if after_each:
            after_each()
    return runs


def load_fastpath() -> Any:
    """``measure_fastpath`` from bench/gas_fastpath.py, or None when that file is absent."""
    path = Path(__file__).with_name("gas_fastpath.py")
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("gas_fastpath", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gas_fastpath"] = module
    spec.loader.exec_module(module)
    return module.measure_fastpath


def load_onchain() -> Any:
    """``measure_onchain`` from bench/gas_onchain.py, or None when that file is absent."""
    path = Path(__file__).with_name("gas_onchain.py")
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("gas_onchain", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gas_onchain"] = module
    spec.loader.exec_module(module)
    return module.measure_onchain


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    parser.add_argument("--jobs", type=int, default=5, help="steady-state jobs measured per path")
    args = parser.parse_args()

    anvil = start_anvil(Config().resolve_anvil())
    try:
        w3 = connect(anvil.rpc_url)
        deployment = deploy_protocol(w3, demo_account("deployer"), anvil.rpc_url)
        fund_demo_accounts(w3, deployment)
        bench = Bench(w3, deployment)
        bench.stage()
        a = bench.accounts

        _, first = bench.job(a["client1"], a["provider1"])  # the first job of both parties
        bench.market.deposit(a["client1"], tokens(1_000), approve=False)
        account_path = steady(bench, a["client1"], a["provider1"], args.jobs)

        # wallet path: keep client2's market account above zero (a balance dropping to zero
        # and back would add its own cost) but below the max price, so every post pulls.
        def drain() -> None:
            balance = bench.market.balance_of(a["client2"].address)
            if balance > 1:
                bench.market.withdraw(a["client2"], TokenAmount(balance - 1))

        wallet_path = steady(bench, a["client2"], a["provider2"], args.jobs, drain)
        dispute_gas, dispute_parts = bench.dispute(fraud=True)
        upheld_gas, _ = bench.dispute(fraud=False)
        pool = pool_gas(bench, deployment)

        fastpath: dict[str, int] = {}
        measure_fastpath = load_fastpath()
        if measure_fastpath is not None:
            fastpath = measure_fastpath(w3, deployment, a)
        measure_onchain = load_onchain()
        if measure_onchain is not None:
            fastpath.update(measure_onchain(w3, deployment, a))
    finally:
        anvil.stop()

    def mean(runs: list[JobGas]) -> JobGas:
        return JobGas(tuple(round(statistics.mean(r.steps[i] for r in runs)) for i in range(len(STEPS))))

    rows = [("market account (steady)", mean(account_path)), ("wallet, transferFrom (steady)", mean(wallet_path)),
            ("first job of new parties", first)]
    header = f"{'job path':<30}" + "".join(f"{s:>13}" for s in STEPS) + f"{'total':>10}"
    print(header)
    for label, gas in rows:
        print(f"{label:<30}" + "".join(f"{g:>13,}" for g in gas.steps) + f"{gas.total:>10,}")
    print(f"target: <= {TARGET:,} gas per job; market account path: "
          f"{'meets it' if mean(account_path).total <= TARGET else 'MISSES it'}")
    print("dispute, fraud proven: " + ", ".join(f"{k} {v:,}" for k, v in dispute_parts.items())
          + f" = {dispute_gas:,}; result upheld: {upheld_gas:,}")
    print("validator fee pool: " + ", ".join(f"{k.removeprefix('pool_').removesuffix('_gas')} {v:,}"
                                             for k, v in pool.items()))
    for key, value in fastpath.items():
        print(f"{key}: {value:,}")
    if args.json:
        result = {
            "job_path_gas_per_job": mean(account_path).total,
            "job_path_gas_per_job_wallet": mean(wallet_path).total,
            "job_path_gas_first_job": first.total,
            "dispute_gas": dispute_gas,
            "dispute_gas_upheld": upheld_gas,
            **pool,
            **fastpath,
        }
        print(json.dumps(result))


if __name__ == "__main__":
    main()
