"""Deploy every deai contract, wired together, in one call; read and write the deployment file.

The deployment file (JSON) names the chain id, RPC URL, each contract's address and the
block of deployment; the devnet writes it under its data directory and every other
component finds the contracts through it.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract

from deai.chain.compile import compile_contract
from deai.chain.market_setup import (
    MarketParams,
    ReceiptDisputeParams,
    deploy_market,
    deploy_receipt_disputes,
)
from deai.chain.rpc import deploy
from deai.errors import ChainError


@dataclass(frozen=True)
class Deployment:
    chain_id: int
    rpc_url: str
    block: int
    deployer: str
    contracts: dict[str, str] = field(default_factory=dict)

    def address(self, name: str) -> str:
        try:
            return self.contracts[name]
        except KeyError:
            raise ChainError(
                f"contract {name!r} is not in this deployment",
                hint=f"deployed: {', '.join(self.contracts) or 'none'}; redeploy with `deai devnet reset`",
            ) from None

    def contract(self, w3: Web3, name: str) -> Contract:
        address = to_checksum_address(self.address(name))
        return w3.eth.contract(address=address, abi=compile_contract(name).abi)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            json.dump(asdict(self), handle, indent=2)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Deployment:
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            return cls(**data)
        except FileNotFoundError:
            raise ChainError(
                f"no deployment file at {path}", hint="start the devnet with `deai devnet up`"
            ) from None
        except (json.JSONDecodeError, TypeError) as exc:
            raise ChainError(
                f"deployment file {path} is damaged: {exc}", hint="run `deai devnet reset`"
            ) from None

    def with_rpc_url(self, rpc_url: str) -> Deployment:
        return Deployment(self.chain_id, rpc_url, self.block, self.deployer, dict(self.contracts))


def deploy_protocol(
    w3: Web3, deployer: LocalAccount, rpc_url: str, *, params: MarketParams | None = None,
    receipt_params: ReceiptDisputeParams | None = None,
) -> Deployment:
    """Deploy all deai contracts from ``deployer`` and wire them together.

    ``params`` sets the market's windows, stakes and fees (``MarketParams()`` by default),
    ``receipt_params`` those of the receipt challenges (``ReceiptDisputeParams()``).
    """
    token, receipt = deploy(w3, deployer, compile_contract("Token"), "deai devnet token", "DEAI")
    contracts = {"Token": token}
    # --- market contracts (Staking, Registry, ValidatorPool, JobMarket) are deployed and wired here ---
    contracts.update(deploy_market(w3, deployer, token, params=params))
    # --- fast-path contracts (Channels, Anchors) are deployed here ---
    # One hour for the provider to answer a client's close with its latest voucher.
    contracts["Channels"], _ = deploy(w3, deployer, compile_contract("Channels"), token, 3600)
    contracts["Anchors"], _ = deploy(w3, deployer, compile_contract("Anchors"))
    # --- fast-path receipt challenges: validators dispute anchored receipts (a slasher) ---
    contracts["ReceiptDisputes"] = deploy_receipt_disputes(w3, deployer, contracts, params=receipt_params)
    # --- AI-generated NFTs: proofs are provenance manifests anchored in Anchors ---
    contracts["AINFT"], _ = deploy(
        w3, deployer, compile_contract("AINFT"), contracts["Anchors"], contracts["Registry"]
    )
    # --- on-chain AI requests: a consumer contract's request becomes a JobMarket job ---
    from deai.chain.ai_requests import deploy_ai_requests  # it imports this module (Deployment)

    contracts["AIRequests"] = deploy_ai_requests(w3, deployer, contracts["JobMarket"])
    return Deployment(
        chain_id=w3.eth.chain_id,
        rpc_url=rpc_url,
        block=int(receipt["blockNumber"]),
        deployer=deployer.address,
        contracts=contracts,
    )
