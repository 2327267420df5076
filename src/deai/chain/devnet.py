"""The embedded local devnet: anvil as a daemon, the contracts deployed, demo accounts funded.

All state lives under ``<data_dir>/devnet``: ``state.json`` (anvil's dump, loaded on the
next ``up``), ``deployment.json``, ``run.json`` (pid and port of the running anvil) and
``anvil.log``. Two data directories give two independent devnets side by side. The
provider and validator processes ``deai devnet up`` starts keep their state under
``<data_dir>/devnet/nodes`` (``deai.node.devnet_nodes``), so ``reset`` forgets it too.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import is_address, to_checksum_address
from web3 import Web3

from deai.chain.anvil import DEV_PRIVATE_KEYS, pid_alive, rpc_chain_id, start_anvil, stop_pid
from deai.chain.deploy import Deployment, deploy_protocol
from deai.chain.market_setup import MarketParams
from deai.chain.rpc import connect, send
from deai.config import Config
from deai.errors import (
    ChainError,
    DevnetAlreadyRunning,
    DevnetNotRunning,
    KeystoreNotFound,
    did_you_mean,
)
from deai.units import tokens

# Role names of anvil's ten development accounts, in order. Devnet only: the keys are public.
DEMO_ROLES = (
    "deployer",
    "client1",
    "client2",
    "provider1",
    "provider2",
    "provider3",
    "validator1",
    "validator2",
    "validator3",
    "treasury",
)
DEMO_FUNDING = tokens(10_000)


def demo_account(role: str) -> LocalAccount:
    """The devnet account playing ``role`` (see DEMO_ROLES)."""
    if role not in DEMO_ROLES:
        raise KeystoreNotFound(
            f"no devnet account {role!r}",
            hint=did_you_mean(role, DEMO_ROLES) or f"roles: {DEMO_ROLES}",
        )
    account: LocalAccount = Account.from_key(DEV_PRIVATE_KEYS[DEMO_ROLES.index(role)])
    return account


@dataclass(frozen=True)
class RunInfo:
    pid: int
    port: int
    rpc_url: str
    started_at: float


@dataclass(frozen=True)
class AccountBalance:
    role: str
    address: str
    eth_wei: int
    token: int


@dataclass(frozen=True)
class DevnetStatus:
    running: bool
    rpc_url: str | None
    chain_id: int | None
    block: int | None
    deployment: Deployment | None
    balances: tuple[AccountBalance, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "rpc_url": self.rpc_url,
            "chain_id": self.chain_id,
            "block": self.block,
            "contracts": self.deployment.contracts if self.deployment else {},
            "deployment_block": self.deployment.block if self.deployment else None,
            "accounts": [
                {
                    "role": b.role,
                    "address": b.address,
                    "eth_wei": str(b.eth_wei),
                    "token": str(b.token),
                }
                for b in self.balances
            ],
        }


class Devnet:
    """The devnet of one data directory."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.dir = config.devnet_dir
        self.run_file = self.dir / "run.json"
        self.state_file = self.dir / "state.json"
        self.log_file = self.dir / "anvil.log"

    # --- lifecycle --------------------------------------------------------------------------

    def running(self) -> RunInfo | None:
        """The running anvil of this data directory, or None (a stale run file is removed)."""
        if not self.run_file.is_file():
            return None
        info = RunInfo(**json.loads(self.run_file.read_text()))
        if pid_alive(info.pid) and rpc_chain_id(info.rpc_url) is not None:
            return info
        self.run_file.unlink(missing_ok=True)
        return None

    def up(self, *, port: int | None = None) -> Deployment:
        """Start anvil (loading saved state), deploy and fund on first start; return the deployment."""
        if (info := self.running()) is not None:
            raise DevnetAlreadyRunning(f"a devnet already runs at {info.rpc_url} (pid {info.pid})")
        self.dir.mkdir(parents=True, exist_ok=True)
        anvil = start_anvil(
            self.config.resolve_anvil(),
            port=port,
            state_file=self.state_file,
            block_time=self.config.block_time,
            log_file=self.log_file,
            detach=True,
        )
        run = RunInfo(anvil.pid, anvil.port, anvil.rpc_url, time.time())
        try:
            w3 = connect(anvil.rpc_url)
            deployment = self._existing_deployment(w3)
            if deployment is None:
                params = MarketParams(challenge_window=self.config.challenge_window_s)
                deployment = deploy_protocol(
                    w3, demo_account("deployer"), anvil.rpc_url, params=params
                )
                fund_demo_accounts(w3, deployment)
            deployment = deployment.with_rpc_url(anvil.rpc_url)
            deployment.save(self.config.deployment_file)
        except BaseException:
            anvil.stop()
            raise
        self.run_file.write_text(json.dumps(run.__dict__))
        return deployment

    def down(self) -> None:
        info = self.running()
        if info is None:
            raise DevnetNotRunning(f"no devnet runs for {self.config.data_dir}")
        stop_pid(info.pid, timeout=20)  # SIGTERM: anvil dumps its state to state.json
        self.run_file.unlink(missing_ok=True)

    def reset(self) -> None:
        """Stop the devnet if it runs and forget its chain state and deployment."""
        if self.running() is not None:
            self.down()
        if self.dir.exists():
            shutil.rmtree(self.dir)

    def fund(self, address: str, amount: int) -> str:
        """Mint ``amount`` devnet tokens to ``address``; returns the transaction hash."""
        if not is_address(address):
            raise ChainError(f"not an address: {address!r}", hint="expected 0x and 40 hex digits")
        if amount <= 0:
            raise ChainError("the amount must be positive", hint="e.g. `deai devnet fund 0x… 100`")
        w3 = connect(self.deployment().rpc_url)
        token = self.deployment().contract(w3, "Token")
        receipt = send(
            w3, demo_account("deployer"), token.functions.mint(to_checksum_address(address), amount)
        )
        return str(receipt["transactionHash"].to_0x_hex())

    # --- reading ----------------------------------------------------------------------------

    def deployment(self) -> Deployment:
        info = self.running()
        if info is None:
            raise DevnetNotRunning(f"no devnet runs for {self.config.data_dir}")
        return Deployment.load(self.config.deployment_file).with_rpc_url(info.rpc_url)

    def status(self) -> DevnetStatus:
        info = self.running()
        if info is None:
            return DevnetStatus(False, None, None, None, None, ())
        w3 = connect(info.rpc_url)
        deployment = Deployment.load(self.config.deployment_file).with_rpc_url(info.rpc_url)
        token = deployment.contract(w3, "Token")
        balances = tuple(
            AccountBalance(
                role,
                (addr := demo_account(role).address),
                w3.eth.get_balance(addr),
                token.functions.balanceOf(addr).call(),
            )
            for role in DEMO_ROLES
        )
        return DevnetStatus(
            True, info.rpc_url, w3.eth.chain_id, w3.eth.block_number, deployment, balances
        )

    def _existing_deployment(self, w3: Web3) -> Deployment | None:
        """The saved deployment, if its contracts exist on this (restored) chain."""
        path = self.config.deployment_file
        if not path.is_file() or not self.state_file.is_file():
            return None
        deployment = Deployment.load(path)
        if all(w3.eth.get_code(addr) for addr in deployment.contracts.values()):  # type: ignore[arg-type]
            return deployment
        return None


def fund_demo_accounts(w3: Web3, deployment: Deployment, amount: int = DEMO_FUNDING) -> None:
    """Mint ``amount`` tokens to every demo account but the deployer."""
    deployer = demo_account("deployer")
    token = deployment.contract(w3, "Token")
    for role in DEMO_ROLES[1:]:
        send(w3, deployer, token.functions.mint(demo_account(role).address, amount))
