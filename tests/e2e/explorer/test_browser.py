"""The explorer in headless Chromium against a devnet with real jobs.

A devnet (anvil as a daemon, contracts deployed, demo accounts funded) gets the sample job
history through the contract wrappers; the explorer runs as its own process
(``start_explorer``, what ``deai devnet up`` uses); Debian's Chromium, driven by Selenium
through /usr/bin/chromedriver, loads every page. The numbers each page shows are read from
the page and compared with the chain read through the wrappers. Screenshots go to
``test-artifacts/explorer/``. Then the devnet stops, and the pages must say so kindly.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from deai.apps.analytics.sample import SampleHistory, make_sample_history
from deai.chain.ai_requests import AIRequests, CallbackState
from deai.chain.deploy import Deployment
from deai.chain.devnet import DEMO_ROLES, Devnet, demo_account
from deai.chain.jobmarket import JobMarket
from deai.chain.rpc import connect
from deai.chain.staking import Staking
from deai.chain.token import Token
from deai.chain.types import JobStatus
from deai.config import Config
from deai.store import LocalStore
from deai.web import ExplorerProcess, start_explorer

pytestmark = pytest.mark.e2e

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "explorer"

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):  # pragma: no cover - setup installs both
    pytest.skip("Debian's chromium and chromium-driver are not installed (run make setup)", allow_module_level=True)

from selenium import webdriver  # noqa: E402 - only once the browser is known to be there
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


class Net:
    def __init__(self, config: Config, deployment: Deployment, history: SampleHistory, explorer: ExplorerProcess) -> None:
        self.config, self.deployment, self.history, self.explorer = config, deployment, history, explorer
        self.w3 = connect(deployment.rpc_url)
        self.market, self.staking, self.token = JobMarket(self.w3, deployment), Staking(self.w3, deployment), Token(self.w3, deployment)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    config = Config(data_dir=tmp_path_factory.mktemp("explorer") / "deai")
    devnet = Devnet(config)
    deployment = devnet.up()
    explorer: ExplorerProcess | None = None
    try:
        w3 = connect(deployment.rpc_url)
        history = make_sample_history(w3, deployment, store=LocalStore.from_config(config))
        explorer = start_explorer(config, refresh_s=0)
        yield Net(config, deployment, history, explorer)
    finally:
        if explorer is not None:
            explorer.stop()
        if devnet.running() is not None:
            devnet.down()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1800",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def load(browser: WebDriver, url: str, shot: str) -> None:
    browser.get(url)
    WebDriverWait(browser, 10).until(lambda b: b.execute_script("return document.readyState") == "complete")
    browser.save_screenshot(str(ARTIFACTS / f"{shot}.png"))


def value(browser: WebDriver, element_id: str) -> str:
    return str(browser.find_element(By.ID, element_id).get_attribute("data-value"))


def wait_indexed(browser: WebDriver, net: Net) -> None:
    """Reload until the explorer's follower has reached the chain's head."""
    head = net.w3.eth.block_number

    def caught_up(b: WebDriver) -> bool:
        b.get(net.explorer.url + "/")
        found = b.find_elements(By.ID, "indexed-block")
        return bool(found) and int(found[0].text) >= head

    WebDriverWait(browser, 20, poll_frequency=0.3).until(caught_up)


def test_every_page_shows_the_chains_numbers(net: Net, browser: WebDriver) -> None:
    wait_indexed(browser, net)
    load(browser, net.explorer.url + "/", "overview")
    count = net.market.job_count()
    assert int(value(browser, "jobs-total")) == count == 15
    assert int(value(browser, "ai-requests-total")) == len(net.history.ai_requests) == 6
    statuses = [net.market.job(i).status for i in range(1, count + 1)]
    for status in JobStatus:
        if status is not JobStatus.NONE:
            assert int(value(browser, f"state-{status.name}")) == statuses.count(status), status
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart")) >= 5
    for role in DEMO_ROLES:  # balances listed on the overview equal the token's
        address = demo_account(role).address
        cells = browser.find_elements(By.CSS_SELECTOR, f'td[data-address="{address}"]')
        if cells:
            assert int(str(cells[0].get_attribute("data-value"))) == net.token.balance_of(address)

    fraud = net.market.job(net.history.jobs["fraud"])
    load(browser, f"{net.explorer.url}/provider/{fraud.provider}", "provider")
    assert int(value(browser, "provider-stake")) == net.staking.stake_of(fraud.provider)
    assert int(value(browser, "provider-balance")) == net.token.balance_of(fraud.provider)
    assert browser.find_element(By.ID, "provider-address").text == fraud.provider

    finalized = net.market.job(net.history.jobs["finalized"])
    load(browser, f"{net.explorer.url}/job/{finalized.job_id}", "job")
    assert value(browser, "job-status") == finalized.status.name == "FINALIZED"
    assert int(value(browser, "job-price")) == finalized.price
    result = net.market.result(finalized.job_id)
    assert result is not None and browser.find_element(By.ID, "job-output").text == result.output_cid
    assert browser.find_element(By.ID, "job-why").text == net.market.why(finalized.job_id)
    events = browser.find_elements(By.CSS_SELECTOR, "#timeline li")
    assert [e.get_attribute("data-event") for e in events] == [
        type(e).__name__ for e in net.market.job_events(finalized.job_id)]
    assert browser.find_element(By.CSS_SELECTOR, "#timeline li .reason").text.startswith("The job was posted")

    load(browser, f"{net.explorer.url}/job/{net.history.jobs['fraud']}", "job-rejected")
    assert value(browser, "job-status") == "REJECTED"

    load(browser, f"{net.explorer.url}/model/{net.history.finetuned}", "model")
    assert int(value(browser, "asset-parents")) == 2
    assert len(browser.find_elements(By.CSS_SELECTOR, "#lineage svg a")) == 4  # itself, 2 parents, a grandparent

    ai = AIRequests(net.w3, net.deployment)
    load(browser, f"{net.explorer.url}/ai-requests", "ai-requests")
    shown = browser.find_elements(By.CSS_SELECTOR, "#ai-requests tbody tr")
    assert [int(str(r.get_attribute("data-request"))) for r in shown] == sorted(net.history.ai_requests.values(), reverse=True)
    failed_id = net.history.ai_requests["callback_failed"]
    load(browser, f"{net.explorer.url}/ai-request/{failed_id}", "ai-request")
    assert value(browser, "ai-request-status") == "callback failed"
    assert ai.request(failed_id).callback is CallbackState.FAILED
    assert "retry it" in browser.find_element(By.ID, "ai-request-why").text
    browser.find_element(By.ID, "ai-request-job").click()  # the request's job, and back through its link
    WebDriverWait(browser, 10).until(lambda b: f"/job/{failed_id}" in b.current_url)
    assert browser.find_element(By.CSS_SELECTOR, "#job-ai-request a").get_attribute("href").endswith(f"/ai-request/{failed_id}")

    load(browser, f"{net.explorer.url}/address/{demo_account('client1').address}", "address")
    assert int(value(browser, "address-balance")) == net.token.balance_of(demo_account("client1").address)


def test_search_box_goes_to_the_page(net: Net, browser: WebDriver) -> None:
    browser.get(net.explorer.url + "/")
    box = browser.find_element(By.ID, "search")
    box.send_keys(net.history.model)
    box.submit()
    WebDriverWait(browser, 10).until(lambda b: "/model/" in b.current_url)
    assert browser.find_element(By.ID, "asset-cid").text == net.history.model
    browser.save_screenshot(str(ARTIFACTS / "search-model.png"))


def test_unknown_ids_and_a_stopped_chain_give_friendly_pages(net: Net, browser: WebDriver) -> None:
    load(browser, f"{net.explorer.url}/job/424242", "unknown-job")
    assert "Job not found" in browser.find_element(By.ID, "message").text
    load(browser, f"{net.explorer.url}/model/not-a-cid", "unknown-cid")
    assert browser.find_elements(By.ID, "message")
    Devnet(net.config).down()
    WebDriverWait(browser, 20, poll_frequency=0.3).until(
        lambda b: (b.get(net.explorer.url + "/"), b.find_elements(By.ID, "chain-down"))[1])
    browser.save_screenshot(str(ARTIFACTS / "chain-down.png"))
    assert "Traceback" not in browser.page_source
    assert int(value(browser, "jobs-total")) == 15  # what was indexed is still shown


def test_screenshots_were_saved(net: Net) -> None:
    shots = sorted(p.name for p in ARTIFACTS.glob("*.png"))
    assert {"overview.png", "provider.png", "job.png", "model.png", "chain-down.png", "ai-requests.png",
            "ai-request.png"} <= set(shots)
    assert shutil.disk_usage(ARTIFACTS).free > 0
