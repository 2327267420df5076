"""A fast-path provider in this process (service + FastAPI app on a loopback port) on the session chain.

Loading the embedding and text models takes seconds, so one provider serves the whole
module; the chain is snapshotted when the module starts and reverted when it ends, so
other modules see the state the ``chain`` fixture promises.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount
from fastapi import FastAPI
from web3 import Web3

from deai.chain.deploy import Deployment
from deai.client.channels import FastPath
from deai.http_server import AppServer
from deai.node.fastpath.router import fastpath_router
from deai.node.fastpath.service import FastPathService, FastPathSettings
from deai.runtime.demo_models import demo_model_dirs
from deai.store import LocalStore, gateway_router
from deai.units import tokens

EMBED_PRICE = tokens("0.001")
GENERATE_PRICE = tokens("0.01")


@dataclass
class Provider:
    service: FastPathService
    url: str
    account: LocalAccount
    data_dir: Path


@dataclass
class FastEnv:
    w3: Web3
    deployment: Deployment
    accounts: dict[str, LocalAccount]
    provider: Provider
    tmp: Path
    wallets: int = 0

    def client(self, role: str = "client1") -> FastPath:
        """A fresh wallet (its own data directory) for ``role``'s account."""
        self.wallets += 1
        return FastPath(self.accounts[role], self.deployment, data_dir=self.tmp / f"{role}-{self.wallets}",
                        w3=self.w3)

    def mine(self, seconds: int = 0) -> None:
        if seconds:
            self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def start_provider(w3: Web3, deployment: Deployment, account: LocalAccount, data_dir: Path,
                   blocks: LocalStore | None = None) -> tuple[Provider, AppServer]:
    blocks = blocks or LocalStore(data_dir / "store")
    models = demo_model_dirs()
    cids = tuple(str(blocks.add_path(models[name])) for name in ("minilm", "textgen-small"))
    service = FastPathService(
        w3=w3, deployment=deployment, account=account, blocks=blocks, data_dir=data_dir,
        model_cids=cids, prices={"embed": EMBED_PRICE, "generate": GENERATE_PRICE},
        settings=FastPathSettings(batch_interval_s=0.3, poll_interval_s=0.05, max_body_bytes=64 * 1024),
    )
    app = FastAPI()
    app.include_router(fastpath_router(service))
    app.include_router(gateway_router(blocks))  # batch listings by CID, as a provider node serves them
    server = AppServer(app, name="fastpath")
    service.start(warm=False)
    server.start()
    return Provider(service, server.url, account, data_dir), server


@pytest.fixture(scope="module")
def fast_env(w3: Web3, deployment: Deployment, accounts: dict[str, LocalAccount],
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastEnv]:
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    tmp = tmp_path_factory.mktemp("fastpath")
    provider, server = start_provider(w3, deployment, accounts["provider1"], tmp / "provider1")
    try:
        yield FastEnv(w3, deployment, accounts, provider, tmp)
    finally:
        server.stop()
        provider.service.stop()
        w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
