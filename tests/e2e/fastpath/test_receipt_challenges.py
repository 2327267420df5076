"""Validators catch a lazy fast path: sampled anchored receipts are re-run, challenged and slashed.

Real processes over loopback, all started by ``LocalNetwork``: a devnet, an honest provider
and a ``fastpath-lazy`` one (embeddings answered with noise, still paid and receipted), and
three validators. validator1 re-runs every anchored receipt (``receipt_sample_bps=10000``);
validator2 and validator3 sample none but sit on committees. Nobody tells a validator where
another is: each publishes its URL in the Registry at start, and the committee fetches the
challenger's evidence from the challenger's published endpoint. A client pays embeddings
through a channel to each provider directly. The lazy provider's receipt is challenged, the
committee votes fraud, the provider loses exactly ``slashFor(price)`` of its stake and the
challenger gets its bond back; the honest provider's receipts are checked and never challenged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from deai.chain.anchors import Anchors
from deai.chain.devnet import demo_account
from deai.chain.events import ReceiptChallenged, ReceiptDisputeResolved, ReceiptVoteCast
from deai.chain.receipt_disputes import ReceiptDisputes
from deai.chain.registry import Registry
from deai.chain.staking import Staking
from deai.chain.token import Token
from deai.chain.types import ReceiptDisputeStatus
from deai.client.channels import FastPath
from deai.market.discovery import list_validators
from deai.node.fastpath.receipts import RECEIPT_HEADER
from deai.runtime.demo_models import demo_model_dirs
from deai.testing.network import LocalNetwork, ProviderSpec, ValidatorSpec
from deai.units import tokens

pytestmark = pytest.mark.e2e

MODEL = "all-MiniLM-L6-v2"
PRICE = "embed=0.001"
COMMITTEE = ("validator2", "validator3")


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _addr(role: str) -> str:
    return str(demo_account(role).address)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    served = (demo_model_dirs()["minilm"],)
    net = LocalNetwork(tmp_path_factory.mktemp("receipt-net"), providers=[
        ProviderSpec("provider1", (PRICE,), served, max_jobs=1),
        ProviderSpec("provider2", (PRICE,), served, max_jobs=1, cheat="fastpath-lazy"),
    ], validators=[
        ValidatorSpec("validator1", served, receipt_sample_bps=10_000),
        *(ValidatorSpec(role, served, receipt_sample_bps=0) for role in COMMITTEE),
    ])
    with net:
        yield net


def _embed(fast: FastPath, url: str, provider: str, texts: list[str]) -> int:
    """Open a channel to ``provider`` and pay one embeddings request per text; returns the price."""
    session = fast.open_channel(provider, tokens(1), url=url)
    price = 0
    with httpx.Client(timeout=60.0) as http:
        for text in texts:
            body = json.dumps({"model": MODEL, "input": [text]}).encode()
            price = int(tokens(0.001))
            response = http.post(f"{url}/v1/embeddings", content=body, headers=session.headers(price))
            assert response.status_code == 200, response.text
            assert len(response.json()["data"][0]["embedding"]) == 384
            session.confirm(response.headers[RECEIPT_HEADER], request=body, response=response.content)
    return price


def test_a_lazy_fast_path_is_challenged_and_slashed_and_an_honest_one_is_not(network: LocalNetwork) -> None:
    net = network
    deployment = net.deployment_or_fail()
    fast = FastPath(demo_account("client1"), deployment, data_dir=net.root / "client1")
    disputes = ReceiptDisputes.from_deployment(fast.w3, deployment)
    staking, token = Staking(fast.w3, deployment), Token(fast.w3, deployment)
    anchors = Anchors.from_deployment(fast.w3, deployment)
    honest, lazy = _addr("provider1"), _addr("provider2")
    challenger = _addr("validator1")
    lazy_stake = staking.stake_of(lazy)
    challenger_balance = token.balance_of(challenger)

    _embed(fast, net.running[0].url, honest, ["the cat sat on the mat", "a list in Python"])
    price = _embed(fast, net.running[1].url, lazy, ["the lazy provider answers this"])
    _wait_for(lambda: anchors.last_sequence(lazy) >= 1 and anchors.last_sequence(honest) >= 1, "both anchors", 60)

    def resolved() -> list[ReceiptDisputeResolved]:
        return [e for e in disputes.events(from_block=deployment.block) if isinstance(e, ReceiptDisputeResolved)]

    _wait_for(lambda: bool(resolved()), "the lazy receipt's dispute to be resolved")
    events = disputes.events(from_block=deployment.block)
    [challenged] = [e for e in events if isinstance(e, ReceiptChallenged)]
    assert str(challenged.provider) == lazy and str(challenged.challenger) == challenger
    assert {str(a) for a in challenged.committee} == {_addr("validator2"), _addr("validator3")}
    votes = [e for e in events if isinstance(e, ReceiptVoteCast) and e.digest == challenged.digest]
    assert len(votes) == 2 and all(v.fraud for v in votes)

    [verdict] = resolved()
    slash = disputes.slash_for(price)
    assert verdict.status is ReceiptDisputeStatus.REJECTED and str(verdict.provider) == lazy
    assert verdict.slashed == slash and verdict.bond_returned == disputes.challenge_bond()
    assert staking.stake_of(lazy) == lazy_stake - slash
    assert token.balance_of(challenger) >= challenger_balance  # the bond came back (and the slash reward)

    # every validator published the URL it serves on; the committee found validator1's there
    challenger_url = net.validator("validator1").url
    registry = Registry(fast.w3, deployment)
    assert {(str(v.address), v.endpoint) for v in list_validators(registry, from_block=deployment.block)} == \
        {(_addr(role), net.validator(role).url) for role in ("validator1", *COMMITTEE)}
    evidence = httpx.get(f"{challenger_url}/ipfs/{challenged.evidence_cid}").json()
    assert evidence["kind"] == "deai-receipt-evidence" and evidence["method"] == "reexecute"
    for role in COMMITTEE:
        [vote] = [v for v in httpx.get(f"{net.validator(role).url}/v1/receipt-checks").json()["votes"]
                  if v["digest"] == "0x" + challenged.digest.hex()]
        assert vote["fraud"] == 1
        assert f"from the challenger's published endpoint {challenger_url}:" in vote["detail"], vote["detail"]

    # the honest provider's two receipts were re-run by validator1, matched, and never challenged
    def honest_checks() -> list[dict[str, object]]:
        rows = httpx.get(f"{challenger_url}/v1/receipt-checks").json()["checks"]
        return [r for r in rows if str(r["provider"]).lower() == honest.lower()]

    _wait_for(lambda: len([r for r in honest_checks() if r["verdict"] == "match"]) == 2, "honest receipts checked")
    assert all(r["stage"] == "checked" for r in honest_checks())
    assert all(str(e.provider) != honest for e in disputes.events(from_block=deployment.block)
               if isinstance(e, ReceiptChallenged))
    assert disputes.dispute(challenged.digest).status is ReceiptDisputeStatus.REJECTED
