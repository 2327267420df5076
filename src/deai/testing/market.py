"""Test kit for the market contracts: wrappers, staged roles, state fingerprints.

``Market`` bundles the Token, Staking, Registry and JobMarket wrappers and the devnet
accounts. ``prepare_roles`` stakes and registers the three providers and validators; a
test module does it once under ``snapshot`` (a module-scoped fixture), and the per-test
``chain`` snapshot then returns every test to that prepared state. ``fingerprint`` reads,
in one JSON-RPC batch, everything a failed call must leave alone; ``assert_reverts``
compares it around a call. ``ledger`` says where every token is, for the conservation
properties.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from deai.chain.cids import cid_from_digest
from deai.chain.deploy import Deployment
from deai.chain.jobmarket import JobMarket
from deai.chain.registry import Registry
from deai.chain.staking import Staking
from deai.chain.token import Token
from deai.chain.types import Verification, WorkloadKind
from deai.errors import ContractRevert
from deai.units import Address, JobId, TokenAmount, tokens

PROVIDERS = ("provider1", "provider2", "provider3")
VALIDATORS = ("validator1", "validator2", "validator3")
WATCHED = ("deployer", "client1", "client2", *PROVIDERS, *VALIDATORS, "treasury")
PROVIDER_STAKE = tokens(1_000)
VALIDATOR_STAKE = tokens(500)
DEFAULT_MAX_PRICE = tokens(10)
DEFAULT_PRICE = tokens(5)


def cid(label: str) -> str:
    """A raw-codec CIDv1 for ``label`` (tests only need distinct, valid CIDs)."""
    return str(cid_from_digest(hashlib.sha256(label.encode()).digest()))


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    return w3.provider.make_request(method, list(params))["result"]  # type: ignore[arg-type]


@dataclass
class Market:
    w3: Web3
    deployment: Deployment
    accounts: dict[str, LocalAccount]

    def __post_init__(self) -> None:
        self.token = Token(self.w3, self.deployment)
        self.staking = Staking(self.w3, self.deployment)
        self.registry = Registry(self.w3, self.deployment)
        self.market = JobMarket(self.w3, self.deployment)
        self._encoded: dict[tuple[Any, ...], str] = {}

    def __getitem__(self, role: str) -> LocalAccount:
        return self.accounts[role]

    def addr(self, role: str) -> Address:
        return Address(self.accounts[role].address)

    def now(self) -> int:
        return self.market.chain_time()

    def advance(self, seconds: int) -> None:
        rpc(self.w3, "evm_increaseTime", seconds)
        rpc(self.w3, "evm_mine")

    # --- staging ----------------------------------------------------------------------------

    def post(
        self, client: str = "client1", max_price: TokenAmount = DEFAULT_MAX_PRICE, *, bid_window: int = 60,
        timeout: int = 3_600, verification: Verification | None = None, spec: str = "spec",
    ) -> JobId:
        posted = self.market.post_job(
            self[client], cid(spec), max_price, bid_window=bid_window,
            deadline=self.now() + timeout, verification=verification,
        )
        return posted.job_id

    def assigned(
        self, provider: str = "provider1", price: TokenAmount = DEFAULT_PRICE, **post: Any
    ) -> JobId:
        job_id = self.post(**post)
        self.market.bid(self[provider], job_id, price)
        self.market.accept_bid(self[post.get("client", "client1")], job_id, self[provider].address)
        return job_id

    def committed(self, provider: str = "provider1", **kwargs: Any) -> JobId:
        job_id = self.assigned(provider, **kwargs)
        self.market.commit_result(self[provider], job_id, cid("output"), hashlib.sha256(b"r").digest())
        return job_id

    # --- observing --------------------------------------------------------------------------

    def fingerprint(self) -> dict[str, Any]:
        """Everything a failed call must leave as it was: raw eth_call results, one batch.

        Raw answers are compared, not decoded ones, and the calldata is encoded once and
        cached: a fingerprint is taken twice around every revert in the tests.
        """
        addresses = [self[r].address for r in WATCHED] + [
            self.market.address, self.staking.address, self.registry.address
        ]
        t, s, r, m = self.token, self.staking, self.registry, self.market
        calls: list[tuple[Any, str, tuple[Any, ...]]] = [
            (t, "totalSupply", ()), (m, "jobCount", ()), (s, "totalStaked", ()), (m, "providerCount", ()),
        ]
        for a in addresses:
            calls += [(t, "balanceOf", (a,)), (s, "accounts", (a,)), (m, "getAccount", (a,)),
                      (r, "providerStateOf", (a,)), (r, "validatorActive", (a,)),
                      (t, "allowance", (a, m.address)), (t, "allowance", (a, s.address))]
        for j in range(1, self.market.job_count() + 1):
            calls += [(m, "getJob", (j,)), (m, "getDispute", (j,))]
            calls += [(m, "bidOf", (j, self[p].address)) for p in PROVIDERS]
            calls += [(m, "ballotOf", (j, self[v].address)) for v in VALIDATORS]
        calls += [(m, "feesOwedAt", (p,)) for p in range(1, self.market.provider_count() + 1)]
        answers = self.raw_calls(calls)
        return {f"{w.name}.{fn}{args}": answers[i] for i, (w, fn, args) in enumerate(calls)}

    def raw_calls(self, calls: list[tuple[Any, str, tuple[Any, ...]]]) -> list[str]:
        """The raw hex answers of (wrapper, function, args) eth_calls, in one batch request."""
        batch = [
            {"jsonrpc": "2.0", "id": i, "method": "eth_call",
             "params": [{"to": wrapper.address, "data": self._calldata(wrapper, fn, args)}, "latest"]}
            for i, (wrapper, fn, args) in enumerate(calls)
        ]
        answers = httpx.post(self.w3.provider.endpoint_uri, json=batch, timeout=30).json()  # type: ignore[attr-defined]
        by_id = {answer["id"]: answer.get("result", str(answer.get("error"))) for answer in answers}
        return [by_id[i] for i in range(len(calls))]

    def ledger(self) -> Ledger:
        """Where every token is, read in one batch (see ``Ledger``)."""
        t, s, m = self.token, self.staking, self.market
        holders = [self[r].address for r in WATCHED] + list(self.deployment.contracts.values())
        job_count, provider_count = (int(x, 16) for x in self.raw_calls(
            [(m, "jobCount", ()), (m, "providerCount", ())]))
        calls: list[tuple[Any, str, tuple[Any, ...]]] = [(t, "totalSupply", ()), (m, "feeBps", ())]
        calls += [(t, "balanceOf", (h,)) for h in holders]
        # market accounts: the roles', and the fee recipient's (the ValidatorPool: collectFees
        # credits it there until its sync withdraws)
        account_holders = [self[r].address for r in WATCHED] + [str(m.contract.functions.feeRecipient().call())]
        calls += [(m, "getAccount", (a,)) for a in account_holders]
        calls += [(s, "accounts", (self[r].address,)) for r in WATCHED]
        calls += [(m, "getJob", (j,)) for j in range(1, job_count + 1)]
        calls += [(m, "getDispute", (j,)) for j in range(1, job_count + 1)]
        calls += [(m, "feesOwedAt", (p,)) for p in range(1, provider_count + 1)]
        words = [_words(answer) for answer in self.raw_calls(calls)]
        supply, fee_bps = words[0][0], words[1][0]
        at = 2
        balances = dict(zip(holders, (w[0] for w in words[at:at + len(holders)]), strict=True))
        at += len(holders)
        accounts = sum(w[0] for w in words[at:at + len(account_holders)])
        at += len(account_holders)
        stakes = sum(w[0] + w[1] for w in words[at:at + len(WATCHED)])
        at += len(WATCHED)
        jobs = words[at:at + job_count]
        disputes = words[at + job_count:at + 2 * job_count]
        fees = sum(w[0] for w in words[at + 2 * job_count:])
        escrow, bonds = 0, 0
        statuses, clients, providers, committees, window_ends, deadlines = {}, {}, {}, {}, {}, {}
        for j, (job, dispute) in enumerate(zip(jobs, disputes, strict=True), start=1):
            max_price, price, status = job[2], job[3], job[4]
            statuses[j] = status
            clients[j], providers[j] = _address(job[0]), _address(job[1])
            window_ends[j], deadlines[j] = job[7], job[8]
            # getDispute is one dynamic struct: offset, challenger, bond, votes x2, array offset, length, members
            committees[j] = tuple(_address(w) for w in dispute[7:7 + dispute[6]])
            if status == 1:  # open: the whole max price
                escrow += max_price
            elif status in (2, 3, 4):  # assigned: price + fee
                escrow += price + price * fee_bps // 10_000
            if status == 4:  # disputed: the challenger's bond (a struct: offset, then fields)
                bonds += dispute[2]
        return Ledger(supply, balances, accounts, stakes, escrow, bonds, fees, statuses, clients, providers,
                      committees, window_ends, deadlines)

    def _calldata(self, wrapper: Any, fn: str, args: tuple[Any, ...]) -> str:
        key = (wrapper.address, fn, args)
        if key not in self._encoded:
            self._encoded[key] = wrapper.contract.encode_abi(fn, args=list(args))
        return self._encoded[key]


def _address(word: int) -> str:
    return Web3.to_checksum_address(word.to_bytes(32, "big")[12:])


def _words(answer: str) -> list[int]:
    data = answer[2:] if answer.startswith("0x") else ""
    return [int(data[i:i + 64], 16) for i in range(0, len(data), 64)]


@dataclass(frozen=True)
class Ledger:
    """Where the tokens are: wallets, market accounts, stakes, escrow, bonds, parked fees."""

    supply: int
    balances: dict[str, int]
    """Token balance of every devnet account and every deployed contract."""
    market_accounts: int
    stakes: int
    """staked + unbonding, over the devnet accounts."""
    escrow: int
    """Unsettled escrow: max price of open jobs, price + fee of assigned/committed/disputed."""
    bonds: int
    fees_owed: int
    statuses: dict[int, int]
    """Job id → status code, for every job."""
    clients: dict[int, str]
    providers: dict[int, str]
    committees: dict[int, tuple[str, ...]]
    window_ends: dict[int, int]
    deadlines: dict[int, int]

    def problems(self, market: str, staking: str) -> list[str]:
        """The conservation rules this state breaks (empty when all hold)."""
        out = []
        if sum(self.balances.values()) != self.supply:
            out.append(f"token balances sum to {sum(self.balances.values())}, supply is {self.supply}")
        owed = self.market_accounts + self.escrow + self.bonds + self.fees_owed
        if self.balances[market] != owed:
            out.append(f"market holds {self.balances[market]} but owes {owed}")
        if self.balances[staking] != self.stakes:
            out.append(f"staking holds {self.balances[staking]} but stakes sum to {self.stakes}")
        return out


def prepare_roles(m: Market) -> None:
    """Stake and register the three providers and three validators; clients pre-approve."""
    for role in PROVIDERS:
        m.staking.deposit(m[role], PROVIDER_STAKE)
        m.registry.register_provider(
            m[role], f"http://127.0.0.1:90{role[-1]}0", cid(f"capabilities-{role}"),
            {WorkloadKind.INFERENCE: tokens(1), WorkloadKind.EMBEDDING: tokens("0.1")},
        )
    for role in VALIDATORS:
        m.staking.deposit(m[role], VALIDATOR_STAKE)
        m.registry.register_validator(m[role])
    # approvals up front, so that a reverting call in a test sends no approval first
    for role in ("client1", "client2", *PROVIDERS, *VALIDATORS):
        m.token.approve(m[role], m.market.address, 2**256 - 1)


@contextmanager
def snapshot(w3: Web3) -> Iterator[None]:
    """Undo everything done inside (the module-level staging) when leaving."""
    snap = rpc(w3, "evm_snapshot")
    try:
        yield
    finally:
        rpc(w3, "evm_revert", snap)


def assert_reverts(m: Market, call: Callable[[], object], reason: str) -> ContractRevert:
    """``call`` raises ContractRevert whose reason contains ``reason``, and nothing changed."""
    before = m.fingerprint()
    with pytest.raises(ContractRevert) as info:
        call()
    assert reason in info.value.reason, info.value.reason
    assert m.fingerprint() == before
    return info.value
