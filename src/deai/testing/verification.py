"""An in-process verification harness: real chain, real runtimes, many jobs, no node processes.

The e2e tests run cheaters against validator *processes*; counting false positives over a
thousand jobs, or detection rates over thousands of trials, needs something faster with the
same parts. ``VerifyHarness`` drives the real contracts (post, bid, accept, commit,
finalize) from one process, runs each workload with a real ``Executor`` as the provider
would (``node.jobs.run_job``'s steps, with the activation commitment), and checks results
with a validator's own executor and store exactly as ``ValidatorNode`` does: the output
document and outputs are copied block by block into the validator's store (hash-checked,
as a gateway fetch would be), then ``deai.verify.checks.check_result``.

``workload_mix`` is the job mix the benchmark and tests use: digit batches (ONNX float32
and int8), text generation under ``rescore``, images and embeddings.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from deai.chain.cids import cid_to_bytes
from deai.chain.deploy import Deployment
from deai.chain.jobmarket import JobMarket
from deai.chain.market_setup import MarketParams
from deai.chain.registry import Registry
from deai.chain.staking import Staking
from deai.chain.types import JobStatus, Verification, VerificationMode, WorkloadKind
from deai.errors import ChainError
from deai.market.orders import chain_verification
from deai.node.jobs import result_document
from deai.runtime.canonical import RunSettings
from deai.runtime.datasets import digits_split
from deai.runtime.demo_models import demo_model_dirs
from deai.runtime.execute import Executor, WorkloadResult
from deai.runtime.spec import WorkloadSpec
from deai.store import LocalStore
from deai.units import TokenAmount, tokens
from deai.verify.checks import Verdict, check_result
from deai.verify.commitment import with_commitment
from deai.verify.sampling import ticket

PROMPTS = (
    "The Python interpreter", "A module is a file", "Exceptions are raised when", "The standard library",
    "A function definition", "Classes provide a means", "The for statement", "Errors and exceptions",
)
MIX = (("classify", 0.55), ("classify-int8", 0.15), ("generate", 0.15), ("image", 0.1), ("embed", 0.05))


def workload_mix(store: LocalStore, n: int, seed: int = 0, *, mix: Sequence[tuple[str, float]] = MIX,
                 sample_rate: float = 1.0) -> list[WorkloadSpec]:
    """``n`` distinct specs drawn from ``mix`` (kind → share), inputs added to ``store``."""
    rng = np.random.default_rng(seed)
    models = {name: str(store.add_path(path)) for name, path in demo_model_dirs().items()}
    _, _, x_test, _ = digits_split()
    kinds = rng.choice([k for k, _ in mix], size=n, p=[w for _, w in mix])
    specs = []
    for i, kind in enumerate(kinds):
        sampled = {"mode": "sampled", "sample_rate": sample_rate}
        if kind in ("classify", "classify-int8"):
            rows = x_test[rng.choice(len(x_test), size=int(rng.integers(1, 33)), replace=False)]
            doc = {"kind": "classify", "model": models["digits" if kind == "classify" else "digits-int8"],
                   "inputs": [str(store.add_bytes(json.dumps({"pixels": rows.tolist()}).encode()))],
                   "verification": sampled}
        elif kind == "generate":
            prompt = PROMPTS[i % len(PROMPTS)].encode()
            doc = {"kind": "generate", "model": models["textgen"], "inputs": [str(store.add_bytes(prompt))],
                   "params": {"max_tokens": int(rng.integers(32, 97)), "temperature": 0.8, "top_k": 40, "seed": i},
                   "verification": {"mode": "rescore", "sample_rate": sample_rate}}
        elif kind == "image":
            doc = {"kind": "image", "model": models["imagegen"],
                   "params": {"label": int(rng.integers(0, 10)), "count": int(rng.integers(1, 5)), "seed": i},
                   "verification": sampled}
        else:
            texts = [f"{PROMPTS[(i + j) % len(PROMPTS)]} #{i}" for j in range(int(rng.integers(1, 5)))]
            doc = {"kind": "embed", "model": models["minilm"],
                   "inputs": [str(store.add_bytes(json.dumps(texts).encode()))], "verification": sampled}
        specs.append(WorkloadSpec.parse(doc))
    return specs


@dataclass
class JobRun:
    """One job through the harness: its spec, the committed result, what each side spent."""

    job_id: int
    spec: WorkloadSpec
    spec_cid: str
    result: WorkloadResult
    output_cid: str
    provider_cpu_s: float
    threads: int
    commit_block: int = 0
    beacon: bytes = b""
    verification: Verification = field(default_factory=Verification)


@dataclass(frozen=True)
class CheckRun:
    job_id: int
    verdict: Verdict
    cpu_s: float
    """Validator CPU: copying the result in (hash-checked) plus the check itself."""


def copy_dag(source: LocalStore, target: LocalStore, cid: str) -> None:
    """Move a DAG between two stores through a CAR, as a gateway fetch would (blocks verified)."""
    if target.has(cid):
        return
    buffer = io.BytesIO()
    source.export_car(cid, buffer)
    buffer.seek(0)
    target.import_car(buffer)


class VerifyHarness:
    """A provider and a validator in one process, on a deployed chain (see the module docstring)."""

    def __init__(self, w3: Web3, deployment: Deployment, accounts: dict[str, LocalAccount], root: Path,
                 *, provider_threads: Sequence[int] = (1,)) -> None:
        self.w3 = w3
        self.deployment = deployment
        self.accounts = accounts
        self.market = JobMarket(w3, deployment)
        self.provider_store = LocalStore(root / "provider-store")
        self.validator_store = LocalStore(root / "validator-store")
        self.providers = {t: Executor(self.provider_store, cache_dir=root / f"provider-cache-{t}",
                                      settings=RunSettings(threads=t)) for t in provider_threads}
        self.validator = Executor(self.validator_store, cache_dir=root / "validator-cache")
        for path in demo_model_dirs().values():  # a validator holds the models it checks with
            self.validator_store.add_path(path)

    # --- chain -----------------------------------------------------------------------------------

    def stage(self, provider: str = "provider1", validators: Sequence[str] = ("validator1",), *,
              provider_stake: int = tokens(5_000)) -> None:
        """Stake and register the roles (idempotent); the client approves the market.

        Every job in flight locks collateral (2 × price at p = 100 %), so the provider's
        stake bounds how many jobs the harness may hold committed at once.
        """
        staking, registry = Staking(self.w3, self.deployment), Registry(self.w3, self.deployment)
        account = self.accounts[provider]
        staked = staking.stake_of(account.address)
        if staked < provider_stake:
            staking.deposit(account, TokenAmount(provider_stake - staked))
        if not registry.is_active_provider(account.address):
            registry.register_provider(account, "http://127.0.0.1:9", "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4",
                                       {WorkloadKind.INFERENCE: tokens(1)})
        for role in validators:
            v = self.accounts[role]
            if staking.stake_of(v.address) < MarketParams().min_validator_stake:
                staking.deposit(v, MarketParams().min_validator_stake)
            if str(v.address) not in [str(a) for a in registry.validators()]:
                registry.register_validator(v)
        client = self.accounts["client1"]
        self.market.token().approve(client, self.market.address, 2**256 - 1)

    def run_jobs(self, specs: Sequence[WorkloadSpec], *, provider: str = "provider1", price: int = tokens(1),
                 produce: Callable[[Executor, WorkloadSpec], WorkloadResult] | None = None) -> list[JobRun]:
        """Post, bid, accept, execute and commit each spec; returns the runs in order.

        Specs run on the provider executors in turn (thread counts alternate); ``produce``
        replaces honest execution (a cheater's output). Transactions are signed here with
        local nonces and sent without waiting on each receipt (``_Sender``), then every
        receipt is checked: the chain's work is the same, the harness just does not idle.
        """
        client = _Sender(self.w3, self.accounts["client1"])
        worker = _Sender(self.w3, self.accounts[provider])
        market = self.market.contract
        threads = sorted(self.providers)
        first = self.market.job_count() + 1
        deadline = self.market.chain_time() + 86_400
        prepared = []
        sent: list[str] = []
        for i, spec in enumerate(specs):
            executor = self.providers[threads[i % len(threads)]]
            spec_cid = executor.spec_cid(spec)
            v = chain_verification(spec)
            job_id = first + i
            sent.append(client.send(market, "postJob", cid_to_bytes(spec_cid), price * 2, 3_600, deadline,
                                    int(v.mode), v.param))
            sent.append(worker.send(market, "bid", job_id, price))
            sent.append(client.send(market, "acceptBid", job_id, worker.address))
            prepared.append((job_id, spec, spec_cid, v, threads[i % len(threads)]))
        _receipts(self.w3, sent)
        runs, commits = [], []
        for job_id, spec, spec_cid, v, count in prepared:
            executor = self.providers[count]
            started = time.process_time()
            result = produce(executor, spec) if produce else executor.execute(spec)
            result = with_commitment(result, spec, self.provider_store.add_bytes)
            output_cid = str(self.provider_store.add_bytes(result_document(result)))
            cpu = time.process_time() - started
            commits.append(worker.send(market, "commitResult", job_id, cid_to_bytes(output_cid),
                                       bytes.fromhex(result.result_hash.removeprefix("0x"))))
            runs.append(JobRun(job_id, spec, spec_cid, result, output_cid, cpu, count, verification=v))
        blocks = [int(r["blockNumber"], 16) for r in _receipts(self.w3, commits)]
        hashes = _batch(self.w3, [("eth_getBlockByNumber", [hex(b), False]) for b in sorted(set(blocks))])
        by_block = {int(h["number"], 16): bytes.fromhex(h["hash"][2:]) for h in hashes}
        for run, block in zip(runs, blocks, strict=True):
            run.commit_block, run.beacon = block, by_block[block]
        return runs

    def finalize_all(self, runs: Sequence[JobRun]) -> dict[int, JobStatus]:
        """Let the challenge window pass and pay every unchallenged job out."""
        window = self.market.settings().challenge_window
        self.w3.provider.make_request("evm_increaseTime", [window + 1])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        anyone = _Sender(self.w3, self.accounts["treasury"])
        _receipts(self.w3, [anyone.send(self.market.contract, "finalize", r.job_id) for r in runs
                            if self.market.job(r.job_id).status is JobStatus.COMMITTED])
        return {r.job_id: self.market.job(r.job_id).status for r in runs}

    # --- validation ------------------------------------------------------------------------------

    def check(self, run: JobRun, claimed: WorkloadResult | None = None) -> CheckRun:
        """The validator's whole check of a committed result (copy into its store + verdict).

        ``claimed`` checks another result for the same job instead (a cheater's), as if it
        had been committed: its document is stored the way a provider would store it.
        """
        output_cid = run.output_cid
        if claimed is not None:
            claimed = with_commitment(claimed, run.spec, self.provider_store.add_bytes)
            output_cid = str(self.provider_store.add_bytes(result_document(claimed)))
        started = time.process_time()
        copy_dag(self.provider_store, self.validator_store, output_cid)
        parsed = WorkloadResult.model_validate_json(self.validator_store.read_bytes(output_cid))
        for cid in [run.spec_cid, *run.spec.inputs, *(ref.cid for ref in parsed.outputs)]:
            copy_dag(self.provider_store, self.validator_store, cid)
        commitment = parsed.result.get("commitment")
        if isinstance(commitment, dict):
            copy_dag(self.provider_store, self.validator_store, str(commitment["cid"]))
        verdict = check_result(self.validator, run.spec, run.spec_cid, parsed, mode=run.verification.mode,
                               ticket=int.from_bytes(run.beacon, "big"))
        return CheckRun(run.job_id, verdict, time.process_time() - started)

    def warm_up(self, specs: Sequence[WorkloadSpec]) -> None:
        """Run one spec of each model on every executor, so that timings are of runs, not loads."""
        firsts = {spec.model: spec for spec in specs}
        for spec in firsts.values():
            for cid in spec.inputs:
                copy_dag(self.provider_store, self.validator_store, cid)
            for executor in (*self.providers.values(), self.validator):
                executor.execute(spec)

    def tickets(self, runs: Sequence[JobRun], key: bytes) -> list[int]:
        """A validator's lottery tickets for the committed runs (the real beacons)."""
        return [ticket(key, chain_id=self.deployment.chain_id, market=self.market.address, job_id=r.job_id,
                       beacon=r.beacon) for r in runs]


def is_rescored(run: JobRun) -> bool:
    return run.verification.mode is VerificationMode.RESCORE


class _Sender:
    """Signs and sends one account's transactions with a local nonce, without waiting."""

    GAS = 1_000_000

    def __init__(self, w3: Web3, account: LocalAccount) -> None:
        self.w3 = w3
        self.account = account
        self.address = account.address
        self.nonce = int(w3.eth.get_transaction_count(account.address, "pending"))
        self.chain_id = w3.eth.chain_id
        self.gas_price = w3.eth.gas_price

    def send(self, contract: Contract, function: str, *args: object) -> str:
        tx = {"to": contract.address, "data": contract.encode_abi(function, args=list(args)), "gas": self.GAS,
              "gasPrice": self.gas_price, "nonce": self.nonce, "chainId": self.chain_id, "value": 0}
        signed = self.account.sign_transaction(tx)
        self.nonce += 1
        return "0x" + bytes(self.w3.eth.send_raw_transaction(signed.raw_transaction)).hex()


def _batch(w3: Web3, calls: Sequence[tuple[str, list[object]]]) -> list[dict[str, str]]:
    """JSON-RPC calls in batches of 200; answers in order (an error raises)."""
    url = str(w3.provider.endpoint_uri)  # type: ignore[attr-defined]
    out: list[dict[str, str]] = []
    for at in range(0, len(calls), 200):
        chunk = calls[at:at + 200]
        body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(chunk)]
        answers = {a["id"]: a for a in httpx.post(url, json=body, timeout=60).json()}
        for i in range(len(chunk)):
            if "error" in answers[i] or answers[i].get("result") is None:
                raise ChainError(f"{chunk[i][0]} failed: {answers[i].get('error')}")
            out.append(answers[i]["result"])
    return out


def _receipts(w3: Web3, hashes: Sequence[str]) -> list[dict[str, str]]:
    """The receipts of sent transactions (waiting for them); a reverted one raises."""
    if not hashes:
        return []
    w3.eth.wait_for_transaction_receipt(hashes[-1], timeout=120)  # type: ignore[arg-type]
    receipts = _batch(w3, [("eth_getTransactionReceipt", [h]) for h in hashes])
    failed = [h for h, r in zip(hashes, receipts, strict=True) if r["status"] != "0x1"]
    if failed:
        raise ChainError(f"{len(failed)} harness transactions reverted, the first {failed[0]}")
    return receipts
