"""What the two on-chain AI examples share: a devnet with a provider, a consumer contract, funds.

``open_stage(local=False)`` uses the devnet you started (``deai devnet up``) and the
provider you run (``deai provider start …``); ``open_stage(local=True)`` starts a fresh
devnet and one provider process in a temporary folder and stops them afterwards. A
``Stage`` registers the demo model a game needs, deploys its contract, prepays its
AIRequests balance, and waits for callbacks.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from deai.chain.ai_requests import AIRequests, compile_consumer
from deai.chain.devnet import demo_account
from deai.chain.registry import Registry
from deai.chain.rpc import connect, deploy, send
from deai.chain.types import AssetKind
from deai.config import Config
from deai.node.onchain import publish
from deai.runtime.demo_models import demo_model_dirs
from deai.runtime.execute import Executor
from deai.store import LocalStore
from deai.units import TokenAmount

HERE = Path(__file__).parent
PROVIDER_PRICES = ("generate=1", "classify=1")


@dataclass
class Stage:
    w3: Web3
    deployment: Any
    ai: AIRequests
    store: LocalStore
    """The players' own store: models and inputs are added here to know their CIDs."""

    def account(self, role: str) -> LocalAccount:
        return demo_account(role)

    def model(self, name: str) -> str:
        """The CID of demo model ``name``, registered in the Registry if it is not yet."""
        cid = str(self.store.add_path(demo_model_dirs()[name]))
        registry = Registry(self.w3, self.deployment)
        if not registry.asset(cid).exists:
            licence = str(self.store.add_bytes(b"deai demo model"))
            registry.register_asset(demo_account("deployer"), AssetKind.MODEL, cid, licence)
        return cid

    def deploy(self, name: str, owner: str, *args: Any) -> Contract:
        """Compile ``<name>.vy`` next to this file and deploy it from ``owner``."""
        artifact = compile_consumer(HERE / f"{name}.vy")
        address, _ = deploy(self.w3, demo_account(owner), artifact, *args)
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact.abi)

    def fund(self, payer: str, consumer: str, amount: TokenAmount) -> None:
        """Prepay ``consumer``'s AIRequests balance from ``payer``'s wallet."""
        self.ai.deposit(demo_account(payer), amount, account=consumer)

    def send(self, role: str, fn: Any) -> Any:
        return send(self.w3, demo_account(role), fn)

    def publish(self, cids: list[str], role: str) -> int:
        """Put data a contract names by CID on the providers' gateways."""
        return publish(self.store, cids, demo_account(role), self.deployment)

    def now(self) -> int:
        return max(self.ai.chain_time(), int(time.time()))

    def executor(self) -> Executor:
        """A runtime over the players' store, to re-run a request's spec as a validator would."""
        return Executor(self.store, cache_dir=Path(tempfile.mkdtemp(prefix="deai-check-")))


def wait_for(check: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


@contextmanager
def open_stage(*, local: bool, models: tuple[str, ...]) -> Iterator[Stage]:
    """The devnet to play on: the running one, or (``local``) a fresh one with a provider."""
    if not local:
        config = Config()
        from deai.chain.deploy import Deployment

        deployment = Deployment.load(config.deployment_file)
        w3 = connect(deployment.rpc_url)
        yield Stage(w3, deployment, AIRequests(w3, deployment), LocalStore.from_config(config))
        return
    from deai.testing.network import LocalNetwork, ProviderSpec

    with tempfile.TemporaryDirectory(prefix="deai-example-") as tmp:
        dirs = demo_model_dirs()
        spec = ProviderSpec("provider1", PROVIDER_PRICES, tuple(dirs[m] for m in models), max_jobs=2)
        print("starting a local devnet and a provider (about half a minute)…")
        with LocalNetwork(Path(tmp), providers=[spec]) as net:
            deployment = net.deployment_or_fail()
            w3 = connect(deployment.rpc_url)
            yield Stage(w3, deployment, AIRequests(w3, deployment), LocalStore(Path(tmp) / "players"))
