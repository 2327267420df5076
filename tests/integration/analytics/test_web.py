"""The explorer's pages over a real chain, in process: content, search, and friendly failures."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from deai.apps.analytics.sample import make_sample_history
from deai.chain.anvil import free_port, start_anvil
from deai.chain.deploy import Deployment, deploy_protocol
from deai.chain.devnet import demo_account, fund_demo_accounts
from deai.chain.jobmarket import JobMarket
from deai.chain.rpc import connect
from deai.chain.staking import Staking
from deai.chain.token import Token
from deai.config import Config
from deai.web import Explorer, ExplorerSettings, create_app

from .conftest import Sampled

pytestmark = pytest.mark.integration


def explorer_for(deployment: Deployment, tmp_path: Path, sampled: Sampled | None = None) -> Explorer:
    file = tmp_path / "deployment.json"
    deployment.save(file)
    kinds = sampled.history.spec_kinds.get if sampled else None
    return Explorer(ExplorerSettings(deployment_file=file, index_file=None, refresh_s=0, spec_kinds=kinds))


@pytest.fixture(scope="module")
def client(sampled: Sampled, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    explorer = explorer_for(sampled.deployment, tmp_path_factory.mktemp("web"), sampled)
    assert explorer.index_once()
    with TestClient(create_app(explorer, follow=False)) as test_client:
        yield test_client


def no_trace(text: str) -> None:
    assert "Traceback" not in text and "File \"" not in text


def test_overview_shows_the_chains_figures_and_charts(client: TestClient, sampled: Sampled) -> None:
    page = client.get("/")
    assert page.status_code == 200
    html = page.text
    market = JobMarket(sampled.w3, sampled.deployment)
    assert f'id="jobs-total" data-value="{market.job_count()}"' in html
    assert 'id="state-FINALIZED" data-value="3"' in html and 'id="state-REJECTED" data-value="1"' in html
    assert html.count("<svg") >= 5
    assert "failure" in html or "none: no provider" in html  # the anomalies panel is there


def test_provider_job_model_and_address_pages(client: TestClient, sampled: Sampled) -> None:
    h, w3, d = sampled.history, sampled.w3, sampled.deployment
    market, staking, token = JobMarket(w3, d), Staking(w3, d), Token(w3, d)
    job = market.job(h.jobs["fraud"])
    page = client.get(f"/job/{job.job_id}")
    assert page.status_code == 200
    assert 'data-value="REJECTED"' in page.text
    assert "The validator committee found the result wrong" in page.text
    assert page.text.count('data-event="VoteCast"') == 2
    provider = client.get(f"/provider/{job.provider.lower()}")  # any letter case works
    assert provider.status_code == 200
    assert f'id="provider-stake" data-value="{staking.stake_of(job.provider)}"' in provider.text
    assert f'id="provider-balance" data-value="{token.balance_of(job.provider)}"' in provider.text
    model = client.get(f"/model/{h.finetuned}")
    assert model.status_code == 200 and 'id="asset-parents" data-value="2"' in model.text
    assert model.text.count(f'href="/model/{h.dataset}"') == 1  # the grandparent is in the graph
    client_page = client.get(f"/address/{job.client}")
    assert f'data-value="{token.balance_of(job.client)}"' in client_page.text


def test_search_finds_jobs_addresses_and_cids(client: TestClient, sampled: Sampled) -> None:
    h = sampled.history
    assert client.get("/search", params={"q": str(h.jobs["open"])}, follow_redirects=False).headers["location"] == f"/job/{h.jobs['open']}"
    assert client.get("/search", params={"q": h.model}, follow_redirects=False).headers["location"] == f"/model/{h.model}"
    spec = next(iter(h.spec_kinds))
    assert client.get("/search", params={"q": spec}, follow_redirects=False).headers["location"].startswith("/job/")
    provider = sampled.deployment.deployer
    assert client.get("/search", params={"q": provider}, follow_redirects=False).headers["location"] == f"/address/{provider}"


@pytest.mark.parametrize("path", [
    "/job/999999", "/job/not-a-number", "/job/-1", "/provider/0x123", "/provider/0x0000000000000000000000000000000000000001",
    "/model/bafkreinotacid", "/model/bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4",
    "/search?q=nothing-like-this", "/job/5/provenance/../../../etc/passwd", "/no/such/page",
    "/job/99999999999999999999999999999", "/ai-request/1", "/ai-request/424242", "/ai-request/x",
    "/ai-requests?status=lost", "/ai-requests?consumer=0x12", "/search?q=ai+424242",
])
def test_unknown_or_malformed_ids_give_a_friendly_page(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 404, (path, page.status_code)
    assert 'id="message"' in page.text and "Back to the network overview" in page.text
    no_trace(page.text)


def test_a_chain_that_is_down_gives_a_friendly_page(tmp_path: Path, deployment: Deployment) -> None:
    dead = deployment.with_rpc_url(f"http://127.0.0.1:{free_port()}")
    explorer = explorer_for(dead, tmp_path)
    assert not explorer.index_once()
    with TestClient(create_app(explorer, follow=False)) as test_client:
        for path in ("/", "/job/1", f"/provider/{deployment.deployer}", "/search?q=1"):
            page = test_client.get(path)
            assert page.status_code == 503, path
            assert "The chain is not reachable" in page.text and "deai devnet up" in page.text
            no_trace(page.text)
        assert test_client.get("/api/health").json()["chain_ok"] is False


def test_a_chain_that_goes_down_leaves_the_indexed_pages_with_a_banner(tmp_path: Path) -> None:
    anvil = start_anvil(Config().resolve_anvil())  # a chain of its own, to stop mid-test
    try:
        w3 = connect(anvil.rpc_url)
        deployment = deploy_protocol(w3, demo_account("deployer"), anvil.rpc_url)
        fund_demo_accounts(w3, deployment)
        history = make_sample_history(w3, deployment)
        explorer = explorer_for(deployment, tmp_path)
        assert explorer.index_once()
    finally:
        anvil.stop()
    assert not explorer.index_once()
    with TestClient(create_app(explorer, follow=False)) as test_client:
        for path in ("/", f"/job/{history.jobs['finalized']}", f"/model/{history.model}"):
            page = test_client.get(path)
            assert page.status_code == 200 and 'id="chain-down"' in page.text, path
            no_trace(page.text)
        assert 'id="jobs-total" data-value="15"' in test_client.get("/").text


def test_the_json_api_reports_the_figures(client: TestClient, sampled: Sampled) -> None:
    stats = client.get("/api/stats").json()
    assert stats["overview"]["jobs"] == 15 and stats["chain_ok"] is True
    assert stats["overview"]["ai_requests"] == 6 and stats["ai_requests"]["by_status"]["retried"] == 1
    assert {r["provider"] for r in stats["reliability"]} == {
        demo_account(role).address for role in ("provider1", "provider2", "provider3")
    }


def test_the_follower_thread_picks_up_new_jobs(sampled: Sampled, tmp_path: Path, chain: object) -> None:
    explorer = explorer_for(sampled.deployment, tmp_path, sampled)
    explorer.settings.__dict__["poll_s"] = 0.1  # frozen dataclass; a test-only speed-up
    with TestClient(create_app(explorer, follow=True)) as test_client:
        from deai.apps.analytics.indexer import wait_for

        assert wait_for(lambda: 'data-value="15"' in test_client.get("/").text, 10)
        make_more = JobMarket(sampled.w3, sampled.deployment)
        make_more.post_job(demo_account("client1"), next(iter(sampled.history.spec_kinds)), 10**18,
                           bid_window=60, deadline=make_more.chain_time() + 3600)
        assert wait_for(lambda: 'id="jobs-total" data-value="16"' in test_client.get("/").text, 10)


def test_ai_request_pages_list_and_explain_each_request(client: TestClient, sampled: Sampled) -> None:
    h = sampled.history
    ids = h.ai_requests
    overview = client.get("/").text
    assert 'id="ai-requests-total" data-value="6"' in overview and 'href="/ai-requests"' in overview
    listing = client.get("/ai-requests")
    assert listing.status_code == 200
    html = listing.text
    rows = re.findall(r'<tr data-request="(\d+)" data-status="([^"]+)">', html)
    assert rows == [(str(ids[label]), status) for label, status in (  # newest first
        ("subscription_round", "requested"), ("assigned", "assigned"), ("retried", "retried"),
        ("callback_failed", "callback failed"), ("answered", "delivered"), ("expired", "failed"))]
    for label in ids:
        assert f'href="/job/{ids[label]}"' in html  # each request links its job
    assert 'id="ai-total" data-value="6"' in html and 'id="ai-status-callback-failed" data-value="1"' in html
    assert f'data-consumer="{h.ai_consumer}"' in html and 'data-subscription="1"' in html
    only_failed = client.get("/ai-requests", params={"status": "callback failed"}).text
    assert re.findall(r'data-request="(\d+)"', only_failed) == [str(ids["callback_failed"])]
    of_consumer = client.get("/ai-requests", params={"consumer": h.ai_consumer.lower()}).text
    assert len(re.findall(r'<tr data-request=', of_consumer)) == 6

    failed = client.get(f"/ai-request/{ids['callback_failed']}").text
    assert 'id="ai-request-status" data-value="callback failed"' in failed
    assert "callback failed (it reverted or ran out of gas)" in failed and "deai ai-request retry" in failed
    assert 'id="ai-request-callback" data-value="failed"' in failed and 'id="ai-request-gas" data-value="200000"' in failed
    assert f'id="ai-request-job" href="/job/{ids["callback_failed"]}"' in failed
    assert 'id="ai-request-output">class 7<' in failed
    retried = client.get(f"/ai-request/{ids['retried']}").text
    assert retried.count('data-event="CallbackCalled"') == 2
    assert 'data-success="false"' in retried and 'data-success="true"' in retried
    expired = client.get(f"/ai-request/{ids['expired']}").text
    assert 'data-value="failed"' in expired and 'id="ai-request-failure" data-value="2"' in expired
    assert "No provider delivered a result by the deadline" in expired
    assert 'id="ai-request-job-status" data-value="EXPIRED"' in expired
    waiting = client.get(f"/ai-request/{ids['subscription_round']}").text
    assert 'data-value="requested"' in waiting and "subscription 1" in waiting

    job = client.get(f"/job/{ids['retried']}").text  # a job that came from a request says so
    assert f'href="/ai-request/{ids["retried"]}"' in job and 'id="job-ai-request"' in job
    assert 'id="job-ai-request"' not in client.get(f"/job/{h.jobs['finalized']}").text
    consumer = client.get(f"/address/{h.ai_consumer}").text
    assert len(re.findall(r'<tr data-request=', consumer)) == 6
    found = client.get("/search", params={"q": f"ai {ids['answered']}"}, follow_redirects=False)
    assert found.headers["location"] == f"/ai-request/{ids['answered']}"
    no_trace(html + failed + expired)


def test_validator_fees_and_receipt_disputes_are_shown(client: TestClient, sampled: Sampled) -> None:
    h = sampled.history
    html = client.get("/").text
    v1, v2 = demo_account("validator1").address, demo_account("validator2").address
    assert f'<tr data-validator="{v1}">' in html and f'<tr data-validator="{v2}">' in html
    assert '<span class="small muted endpoint">http://127.0.0.1:9201</span>' in html  # validator1's API
    assert f'<tr data-epoch="{h.pool_epoch}">' in html
    assert f'<tr data-digest="{h.receipt_dispute}" data-status="REJECTED">' in html
    assert "fast-path receipt: fraud proven" in html  # in the verification outcomes chart
    provider = client.get(f"/provider/{demo_account('provider1').address}").text
    assert f'data-slash-receipt="{h.receipt_dispute}"' in provider
    assert f'<tr data-digest="{h.receipt_dispute}" data-status="REJECTED">' in provider
    assert "found the receipt&#39;s response wrong" in provider or "found the receipt's response wrong" in provider
    stats = client.get("/api/stats").json()
    assert stats["overview"]["receipt_disputes"] == 1 and stats["overview"]["validator_fees_claimed"] > 0


def test_the_provenance_page_gives_a_verdict_or_says_why_not(client: TestClient, sampled: Sampled) -> None:
    page = client.get(f"/job/{sampled.history.jobs['finalized']}/provenance")
    assert page.status_code == 200 and 'id="verdict"' in page.text
    no_trace(page.text)  # the sample's outputs have no manifest: a failing verdict, not a crash
    assert client.get(f"/job/{sampled.history.jobs['open']}/provenance").status_code == 404
