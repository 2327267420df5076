"""The job path in one process: a real provider node and a client on a real chain and store."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from deai.chain.types import JobStatus
from deai.client import Client
from deai.config import Config
from deai.errors import BlockNotFound, InsufficientFunds, SpecError
from deai.node.provider import ProviderNode, ProviderSettings
from deai.provenance import verify
from deai.runtime.datasets import digits_split
from deai.runtime.demo_models import demo_model_dirs
from deai.store import LocalStore
from deai.testing.plugin import Chain
from deai.units import tokens


def advance_time(chain: Chain, seconds: int) -> None:
    chain.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


@pytest.fixture
def provider(chain: Chain, tmp_path: Path) -> Iterator[ProviderNode]:
    digits = demo_model_dirs()["digits"]
    node = ProviderNode(
        Config(data_dir=tmp_path / "provider"),
        chain.accounts["provider1"],
        chain.deployment,
        ProviderSettings(
            prices={"classify": tokens(1)}, model_dirs=(digits,), poll_interval_s=0.05
        ),
    )
    node.start()
    stop = threading.Event()
    thread = threading.Thread(target=node.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        yield node
    finally:
        stop.set()
        thread.join(timeout=10)
        node.stop()


@pytest.fixture
def client(chain: Chain, tmp_path: Path) -> Client:
    return Client(chain.accounts["client1"], chain.deployment, LocalStore(tmp_path / "client"))


def test_a_classify_job_is_bid_run_committed_finalized_and_checked(
    chain: Chain, provider: ProviderNode, client: Client
) -> None:
    _, _, x_test, y_test = digits_split()
    pixels = client.add_bytes(json.dumps({"pixels": x_test[0].tolist()}).encode())
    token = client.market.token()
    before_client = token.balance_of(client.address)
    before_provider = token.balance_of(provider.address)
    job = client.submit(
        {"kind": "classify", "model": provider.models[0], "inputs": [pixels]},
        max_price=tokens(2),
        bid_window_s=2,
    )
    assert job.wait(until=JobStatus.COMMITTED, timeout=60) is JobStatus.COMMITTED
    advance_time(chain, 61)  # the plugin's deployment keeps the default 60 s challenge window
    assert job.wait(timeout=30) is JobStatus.FINALIZED
    result = job.result()
    assert result.result.result["index"] == int(y_test[0])
    probabilities = np.load(io.BytesIO(result.outputs["probabilities.npy"]))
    assert int(probabilities.argmax()) == int(y_test[0])
    assert "paid" in job.why().lower()
    # Every output carries a signed manifest, anchored on chain: a stranger can check it.
    provider.flush_provenance(force=True)
    verdict = verify(
        result.result.output("probabilities.npy").cid, store=client.store, w3=chain.w3,
        deployment=chain.deployment, gateways=[provider.endpoint],
    )
    assert verdict.ok, verdict.summary
    assert provider.address in verdict.summary and "not disputed" in verdict.summary
    client.withdraw()
    fee = client.market.fee_for(tokens(1))
    assert token.balance_of(client.address) == before_client - tokens(1) - fee
    provider.tick()
    assert token.balance_of(provider.address) == before_provider + tokens(1)


def test_no_provider_serves_the_model_and_the_client_is_told(
    chain: Chain, provider: ProviderNode, client: Client
) -> None:
    unknown_model = client.add_bytes(b"not a model")
    data = client.add_bytes(b"[1, 2, 3]")
    job = client.submit(
        {"kind": "classify", "model": unknown_model, "inputs": [data]},
        max_price=tokens(2),
        bid_window_s=1,
        deadline_s=30,
    )
    advance_time(chain, 2)
    assert job.why().startswith(f"no bids yet: no provider serves model {unknown_model}")
    # Past the deadline as the chain counts it (earlier tests may have moved its clock).
    advance_time(chain, job.info().deadline - client.market.chain_time() + 2)
    assert job.wait(timeout=20) is JobStatus.EXPIRED
    assert "refunded in full" in job.why()
    before = client.market.token().balance_of(client.address)
    assert client.withdraw() == tokens(2)
    assert client.market.token().balance_of(client.address) == before + tokens(2)


def test_bad_submissions_change_nothing(chain: Chain, client: Client, tmp_path: Path) -> None:
    count = client.market.job_count()
    missing = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
    model = client.add_bytes(b"m")
    with pytest.raises(BlockNotFound, match="not in your store"):
        client.submit(
            {"kind": "classify", "model": model, "inputs": [missing]}, max_price=tokens(1)
        )
    data = client.add_bytes(b"[1]")
    with pytest.raises(SpecError):
        client.submit(
            {"kind": "classify", "model": "nonsense", "inputs": [data]}, max_price=tokens(1)
        )
    poor = Client(chain.accounts["deployer"], chain.deployment, LocalStore(tmp_path / "poor"))
    poor_data = poor.add_bytes(b"[1]")
    with pytest.raises(InsufficientFunds):
        poor.submit(
            {"kind": "classify", "model": model, "inputs": [poor_data]}, max_price=tokens(1)
        )
    assert client.market.job_count() == count
