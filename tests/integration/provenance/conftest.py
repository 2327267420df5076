"""Provenance against a real chain and real runtimes: staged providers, demo outputs, a log per test.

The demo models run once per session (digits classifier, image generator) into one store;
each test gets the chain reverted to the staged state (three registered providers, three
validators) and a fresh provenance log, since the chain's anchor sequences revert with it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from deai.chain.anchors import Anchors
from deai.chain.deploy import Deployment
from deai.provenance.credentials import C2paSigner, generate_c2pa_signer
from deai.provenance.log import ProvenanceIndex, ProvenanceLog
from deai.provenance.manifest import provenance_domain
from deai.runtime.canonical import RunSettings
from deai.runtime.catalog import add_model
from deai.runtime.demo_models import demo_model_dirs
from deai.runtime.execute import Executor, WorkloadResult
from deai.runtime.manifest import ModelManifest
from deai.runtime.spec import WorkloadSpec
from deai.store import LocalStore
from deai.testing.market import Market


@pytest.fixture(scope="session")
def prov_store(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    return LocalStore(tmp_path_factory.mktemp("provenance-store"))


@dataclass(frozen=True)
class DemoRun:
    spec: WorkloadSpec
    result: WorkloadResult
    model: ModelManifest


@pytest.fixture(scope="session")
def demo_runs(prov_store: LocalStore, tmp_path_factory: pytest.TempPathFactory) -> dict[str, DemoRun]:
    """The image generator drawing a 7 and the digits classifier reading one: real outputs."""
    dirs = demo_model_dirs()
    executor = Executor(prov_store, cache_dir=tmp_path_factory.mktemp("provenance-cache"),
                        settings=RunSettings())
    runs: dict[str, DemoRun] = {}
    image_cid, image_model = add_model(prov_store, dirs["imagegen"])
    spec = WorkloadSpec.parse({"kind": "image", "model": image_cid,
                               "inputs": [prov_store.add_bytes(b'{"label": 7, "seed": 3}')]})
    runs["image"] = DemoRun(spec, executor.execute(spec), image_model)
    digits_cid, digits_model = add_model(prov_store, dirs["digits"])
    pixels = [0.0] * 20 + [16.0] * 8 + [0.0] * 36
    spec = WorkloadSpec.parse({"kind": "classify", "model": digits_cid,
                               "inputs": [prov_store.add_bytes(json.dumps(pixels).encode())]})
    runs["classify"] = DemoRun(spec, executor.execute(spec), digits_model)
    return runs


@pytest.fixture(scope="session")
def c2pa_signers(deployment: Deployment, accounts: dict[str, LocalAccount]) -> dict[str, C2paSigner]:
    domain = provenance_domain(deployment.chain_id, deployment.address("Anchors"))
    return {role: generate_c2pa_signer(accounts[role], domain) for role in ("provider1", "provider2", "client1")}


@pytest.fixture
def make_log(m: Market, prov_store: LocalStore, tmp_path: Path) -> Iterator[object]:
    """``make_log(role)`` → a ProvenanceLog for that account, on a database private to the test."""
    logs: list[ProvenanceLog] = []

    def make(role: str = "provider1", **kwargs: object) -> ProvenanceLog:
        log = ProvenanceLog(store=prov_store, db_path=tmp_path / f"{role}-{len(logs)}.sqlite",
                            anchors=Anchors.from_deployment(m.w3, m.deployment), account=m[role],
                            **kwargs)  # type: ignore[arg-type]
        logs.append(log)
        return log

    yield make
    for log in logs:
        log.close()


def index_of(log: ProvenanceLog) -> ProvenanceIndex:
    return ProvenanceIndex(log.db_path)
