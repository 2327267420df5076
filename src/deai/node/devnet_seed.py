"""Fill a fresh devnet with what the demo and a newcomer need: the demo models and datasets.

``deai devnet up`` calls ``seed_devnet`` after deploying: every demo model and dataset is
added to the devnet's store (so any node can fetch it by CID through a gateway) and
registered in the ``Registry`` with its licence and lineage, owned by the deployer. A
second call finds them registered and does nothing on chain.
"""

from __future__ import annotations

from dataclasses import dataclass

from deai.chain.deploy import Deployment
from deai.chain.devnet import demo_account
from deai.chain.registry import Registry
from deai.chain.rpc import connect
from deai.chain.types import AssetKind
from deai.config import Config
from deai.runtime.catalog import ModelCatalog, add_demo_datasets, add_demo_models
from deai.runtime.manifest import MANIFEST_NAME, parse_manifest
from deai.store import LocalStore


@dataclass(frozen=True)
class SeededAsset:
    name: str
    kind: str
    cid: str
    newly_registered: bool


def seed_devnet(config: Config, deployment: Deployment) -> list[SeededAsset]:
    """Add and register the demo models and datasets; returns what is there."""
    store = LocalStore.from_config(config)
    registry = Registry(connect(deployment.rpc_url), deployment)
    owner = demo_account("deployer")
    seeded: list[SeededAsset] = []
    models = add_demo_models(store, ModelCatalog.for_data_dir(config.data_dir))
    datasets = add_demo_datasets(store)
    for name, cid in models.items():
        manifest = parse_manifest(store.read_bytes(f"{cid}/{MANIFEST_NAME}"))
        licence = str(store.add_bytes(manifest.license.encode()))
        parents = [p.cid for p in manifest.parents if p.cid]
        fresh = not registry.asset(cid).exists
        if fresh:
            registry.register_asset(owner, AssetKind.MODEL, cid, licence, parents)
        seeded.append(SeededAsset(name, "model", cid, fresh))
    for name, cid in datasets.items():
        fresh = not registry.asset(cid).exists
        if fresh:
            licence = str(store.add_bytes(b"BSD-3-Clause (scikit-learn digits)"))
            registry.register_asset(owner, AssetKind.DATASET, cid, licence, [])
        seeded.append(SeededAsset(name, "dataset", cid, fresh))
    return seeded
