"""The job path across real processes: a devnet, provider daemons over loopback HTTP, clients.

Balances are checked to the last unit; providers are killed (SIGKILL) and restarted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deai.chain.devnet import demo_account
from deai.chain.events import ResultCommitted, Slashed
from deai.chain.jobmarket import JobMarket
from deai.chain.staking import Staking
from deai.chain.types import JobStatus
from deai.client import Client, Job
from deai.node.auth import request_domain, sign_request
from deai.node.provider import DEFAULT_STAKE
from deai.runtime.datasets import digits_split
from deai.runtime.demo_models import demo_model_dirs
from deai.store import LocalStore
from deai.testing.network import LocalNetwork, ProviderSpec
from deai.testing.waiting import wait_for
from deai.units import tokens

pytestmark = pytest.mark.e2e


def _digits() -> Path:
    return demo_model_dirs()["digits"]


def _client(net: LocalNetwork, role: str) -> Client:
    config = net.client_config(role)
    return Client.from_config(config, demo_account(role))


def _pixels(client: Client, row: int) -> str:
    _, _, x_test, _ = digits_split()
    return client.add_bytes(json.dumps({"pixels": x_test[row].tolist()}).encode())


def _classify(client: Client, row: int, **kwargs: object) -> Job:
    spec = {
        "kind": "classify",
        "model": client.add_path(_digits()),
        "inputs": [_pixels(client, row)],
    }
    return client.submit(spec, max_price=tokens(3), **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    digits = _digits()
    net = LocalNetwork(
        tmp_path_factory.mktemp("net"),
        providers=[
            ProviderSpec("provider1", ("classify=1",), (digits,), max_jobs=2),
            ProviderSpec("provider2", ("classify=1.5",), (digits,), max_jobs=2),
            ProviderSpec("provider3", ("classify=2",), (digits,), delay_s=1.0, max_jobs=2),
        ],
    )
    with net:
        yield net


def test_jobs_from_two_clients_across_three_providers_settle_to_the_last_unit(
    network: LocalNetwork,
) -> None:
    clients = [_client(network, "client1"), _client(network, "client2")]
    token = clients[0].market.token()
    start = {c.address: token.balance_of(c.address) for c in clients}
    providers = [demo_account(s.role).address for s in network.providers]
    provider_start = {p: token.balance_of(p) for p in providers}
    jobs = [_classify(clients[i % 2], i, bid_window_s=5) for i in range(6)]
    for job in jobs:
        assert job.wait(timeout=120) is JobStatus.FINALIZED, job.why()
    market: JobMarket = clients[0].market
    paid: dict[str, int] = {p: 0 for p in providers}
    spent: dict[str, int] = {c.address: 0 for c in clients}
    for job in jobs:
        info = job.info()
        paid[info.provider] += info.price
        spent[info.client] += info.price + market.fee_for(info.price)
        assert job.result().result.result["index"] in range(10)
    for client in clients:
        client.withdraw()
        assert token.balance_of(client.address) == start[client.address] - spent[client.address]
    wait_for(lambda: all(market.balance_of(p) == 0 for p in providers), "the providers to withdraw", timeout=60)
    staking = Staking(clients[0].w3, clients[0].deployment)
    for p in providers:  # each staked at start-up, before provider_start was read
        assert token.balance_of(p) == provider_start[p] + paid[p]
        assert staking.stake_of(p) == DEFAULT_STAKE
    assert sum(1 for p in providers if paid[p] > 0) >= 2  # the work was spread


def test_bad_requests_are_refused_and_nodes_keep_working(
    network: LocalNetwork, tmp_path: Path
) -> None:
    url = network.running[0].url
    client = _client(network, "client1")
    domain = request_domain(client.deployment.chain_id, client.deployment.address("Registry"))
    body = b"not a car"
    headers = sign_request(client.account, domain, "POST", "/v1/store/car", body)
    forged = {**headers, "X-Deai-Signer": demo_account("client2").address}
    response = httpx.post(f"{url}/v1/store/car", content=body, headers=forged)
    assert response.status_code == 401 and "not from" in response.json()["error"]
    huge = b"x" * (64 * 2**20 + 1)
    response = httpx.post(
        f"{url}/v1/store/car",
        content=huge,
        headers=sign_request(client.account, domain, "POST", "/v1/store/car", huge),
    )
    assert response.status_code == 413
    response = httpx.post(f"{url}/v1/store/car", content=body, headers=headers)
    assert response.status_code == 400  # signed, but not a CAR: a clear error, nothing stored
    assert httpx.get(f"{url}/v1/jobs/999999").status_code == 404
    # A spec nobody can fetch: providers cannot read it and do not bid; the client is told.
    lonely = Client(client.account, client.deployment, LocalStore(tmp_path / "lonely"))
    spec = {
        "kind": "classify",
        "model": lonely.add_path(_digits()),
        "inputs": [_pixels(lonely, 0)],
        "params": {"seed": 424242},
    }  # a spec no provider has seen before
    job = lonely.submit(spec, max_price=tokens(3), bid_window_s=1, deadline_s=8, upload=False)
    assert job.wait(timeout=60) is JobStatus.EXPIRED
    assert "no bids" in job.why() and "refunded" in job.why()
    for provider in network.running:
        assert httpx.get(f"{provider.url}/health").json()["status"] == "ok"


@pytest.fixture
def single(tmp_path: Path) -> Iterator[LocalNetwork]:
    net = LocalNetwork(
        tmp_path,
        providers=[
            ProviderSpec("provider1", ("classify=1",), (_digits(),), delay_s=4.0, max_jobs=1)
        ],
    )
    with net:
        yield net


def _stage(net: LocalNetwork, job_id: int) -> str:
    try:
        response = httpx.get(f"{net.running[0].url}/v1/jobs/{job_id}", timeout=2)
    except httpx.HTTPError:
        return "down"
    return str(response.json().get("stage", "unknown"))


def test_a_provider_killed_mid_job_is_penalized_and_the_client_refunded(
    single: LocalNetwork,
) -> None:
    client = _client(single, "client1")
    token = client.market.token()
    before = token.balance_of(client.address)
    provider = demo_account("provider1").address
    staking = Staking(client.w3, client.deployment)
    stake_before = staking.stake_of(provider)
    job = _classify(client, 1, bid_window_s=3, deadline_s=12)
    wait_for(lambda: _stage(single, job.id) == "running", "the provider to start the job", timeout=60)
    single.kill(0)
    assert job.wait(timeout=60) is JobStatus.EXPIRED
    assert "refunded" in job.why().lower()
    client.withdraw()
    slashes = [
        e
        for e in staking.events(from_block=client.deployment.block)
        if isinstance(e, Slashed) and e.who == provider
    ]
    assert len(slashes) == 1 and slashes[0].beneficiary == client.address
    # Refunded in full, plus the client's share of the provider's slashed collateral.
    assert token.balance_of(client.address) == before + slashes[0].to_beneficiary
    assert staking.stake_of(provider) == stake_before - slashes[0].amount


def test_a_provider_restarted_mid_job_resumes_and_commits_once(single: LocalNetwork) -> None:
    client = _client(single, "client1")
    job = _classify(client, 2, bid_window_s=3, deadline_s=120)
    wait_for(lambda: _stage(single, job.id) == "running", "the provider to start the job", timeout=60)
    single.kill(0)
    single.restart(0)
    assert job.wait(timeout=120) is JobStatus.FINALIZED, job.why()
    events = client.market.job_events(job.id, from_block=client.deployment.block)
    assert len([e for e in events if isinstance(e, ResultCommitted)]) == 1
    assert job.result().result.result["index"] in range(10)
