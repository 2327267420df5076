"""pytest fixtures for a real chain: one anvil per session, a snapshot per test.

- ``anvil``: a session-scoped anvil on a free loopback port, killed in ``finally``.
- ``w3``: a Web3 connected to it.
- ``deployment``: every deai contract deployed once per session, demo accounts funded.
- ``chain``: function-scoped; takes an ``evm_snapshot`` before the test and reverts after,
  so each test sees the freshly deployed state. Use it (or ``deployment`` through it) in
  every test that sends transactions.
- ``accounts``: the devnet's role → LocalAccount mapping (devnet keys, public).
- ``staged_market``: module-scoped; a ``Market`` with the providers and validators staked and
  registered (``prepare_roles``) once per test module, inside a snapshot reverted when the
  module ends. Take it together with ``chain``: each test then starts from the staged state.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from deai.chain.anvil import AnvilProcess, start_anvil
from deai.chain.deploy import Deployment, deploy_protocol
from deai.chain.devnet import DEMO_ROLES, demo_account, fund_demo_accounts
from deai.chain.rpc import connect
from deai.config import Config
from deai.testing.market import Market, prepare_roles, snapshot


@dataclass(frozen=True)
class Chain:
    """What a chain test gets: a connection, the deployment and the devnet accounts."""

    w3: Web3
    deployment: Deployment
    accounts: dict[str, LocalAccount]

    def contract(self, name: str):  # type: ignore[no-untyped-def]
        return self.deployment.contract(self.w3, name)


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilProcess]:
    process = start_anvil(Config().resolve_anvil())
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def w3(anvil: AnvilProcess) -> Web3:
    return connect(anvil.rpc_url)


@pytest.fixture(scope="session")
def accounts() -> dict[str, LocalAccount]:
    return {role: demo_account(role) for role in DEMO_ROLES}


@pytest.fixture(scope="session")
def deployment(anvil: AnvilProcess, w3: Web3) -> Deployment:
    deployed = deploy_protocol(w3, demo_account("deployer"), anvil.rpc_url)
    fund_demo_accounts(w3, deployed)
    return deployed


def align_clock(w3: Web3) -> None:
    """Make the next block's time the wall clock again (or just after the latest block).

    Tests move the chain's clock (``evm_increaseTime``) and reverting a snapshot does not
    always bring anvil's clock offset back; code that judges windows by
    ``max(chain time, wall time)`` then sees a skewed world in the next test.
    """
    latest = int(w3.eth.get_block("latest")["timestamp"])
    w3.provider.make_request("evm_setTime", [max(int(time.time()), latest + 1)])  # type: ignore[arg-type]


@pytest.fixture
def chain(w3: Web3, deployment: Deployment, accounts: dict[str, LocalAccount]) -> Iterator[Chain]:
    align_clock(w3)
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    try:
        yield Chain(w3, deployment, accounts)
    finally:
        w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def staged_market(w3: Web3, deployment: Deployment, accounts: dict[str, LocalAccount]) -> Iterator[Market]:
    """The market staged (``prepare_roles``) once per module; take ``chain`` too in each test."""
    m = Market(w3, deployment, accounts)
    with snapshot(w3):
        prepare_roles(m)
        yield m
