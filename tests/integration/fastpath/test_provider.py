"""A provider's fast path on a real chain with real models: pay, answer, refuse, anchor, settle."""

from __future__ import annotations

import json
import time

import httpx
import numpy as np
import openai
import pytest

from deai.client.channels import ChannelSession, FastPath
from deai.errors import SignatureError
from deai.identity.signing import Eip712Domain
from deai.market.vouchers import VOUCHER_HEADER, SignedVoucher, sign_voucher
from deai.node.fastpath.openai_api import decode_embeddings
from deai.node.fastpath.receipts import RECEIPT_HEADER, SignedReceipt
from deai.provenance.merkle import MerkleTree
from deai.units import tokens

from .conftest import EMBED_PRICE, GENERATE_PRICE, FastEnv, start_provider

pytestmark = pytest.mark.integration

EMBED = "all-MiniLM-L6-v2"
TEXT = "textgen-small"


def _open(env: FastEnv, fast: FastPath, deposit: int = tokens(1)) -> ChannelSession:
    p = env.provider
    return fast.open_channel(p.account.address, deposit, url=p.url)


def _embed_body(*texts: str) -> bytes:
    return json.dumps({"model": EMBED, "input": list(texts)}).encode()


def _post(env: FastEnv, body: bytes, voucher: SignedVoucher | None, path: str = "/v1/embeddings") -> httpx.Response:
    headers = {"content-type": "application/json"}
    if voucher is not None:
        headers[VOUCHER_HEADER] = voucher.encode()
    return httpx.post(env.provider.url + path, content=body, headers=headers, timeout=60.0)


def test_the_official_openai_client_works_unchanged_with_the_voucher_transport(fast_env: FastEnv) -> None:
    fast = fast_env.client()
    session = _open(fast_env, fast)
    client = openai.OpenAI(base_url=session.url + "/v1", api_key="unused",
                           http_client=session.openai_http_client())
    assert {m.id for m in client.models.list()} == {EMBED, TEXT}
    embedded = client.embeddings.create(model=EMBED, input=["a cat", "a dog"])  # base64 under the hood
    assert len(embedded.data) == 2 and len(embedded.data[0].embedding) == 384
    whole = client.chat.completions.create(model=TEXT, messages=[{"role": "user", "content": "hi"}],
                                           max_tokens=8)
    streamed = client.chat.completions.create(model=TEXT, messages=[{"role": "user", "content": "hi"}],
                                              max_tokens=8, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert text == whole.choices[0].message.content and text
    completion = client.completions.create(model=TEXT, prompt="def ", max_tokens=4)
    assert completion.choices[0].text
    # One voucher-paid receipt per request, each checked against the bytes sent and received.
    kept = fast.wallet.receipts()
    assert [int(r.receipt.price) for r, _ in kept] == [2 * EMBED_PRICE] + [GENERATE_PRICE] * 3
    assert session.confirmed == 2 * EMBED_PRICE + 3 * GENERATE_PRICE and session.pending is None
    # The one-shot header works for any client too (extra_headers / default_headers).
    one = openai.OpenAI(base_url=session.url + "/v1", api_key="unused",
                        default_headers=session.headers(EMBED_PRICE), max_retries=0)
    raw = one.embeddings.with_raw_response.create(model=EMBED, input="one", encoding_format="float")
    assert raw.headers[RECEIPT_HEADER]


def test_embeddings_equal_the_runtime_called_directly(fast_env: FastEnv) -> None:
    fast = fast_env.client()
    session = _open(fast_env, fast)
    with session.http_client(timeout=60.0) as http:
        response = http.post(fast_env.provider.url + "/v1/embeddings",
                             json={"model": EMBED, "input": ["hello world"], "encoding_format": "float"})
    assert response.status_code == 200
    service = fast_env.provider.service
    loaded = service._loaded(service.models[EMBED])
    direct = loaded.embed(["hello world"])  # type: ignore[attr-defined,unused-ignore]
    assert np.array_equal(decode_embeddings(response.json()), direct)


def test_refused_requests_do_no_work_and_cost_nothing(fast_env: FastEnv) -> None:
    env, service = fast_env, fast_env.provider.service
    fast = env.client("client2")
    session = _open(env, fast, deposit=tokens("0.01"))
    channel = bytes(session.channel_id)
    domain = fast.channels.domain()

    def state() -> tuple[int, int, int, int]:
        return (service.stats.requests, service.store.count(), int(service.verifier.accepted(channel)),
                int(service.ledger.served(channel)[0]))

    before = state()
    body = _embed_body("x")
    cases: list[tuple[str, httpx.Response]] = []
    cases.append(("missing", _post(env, body, None)))
    cases.append(("underpaid", _post(env, body, sign_voucher(fast.account, domain, channel, EMBED_PRICE - 1))))
    cases.append(("over_deposit", _post(env, body, sign_voucher(fast.account, domain, channel, tokens("0.02")))))
    other_chain = Eip712Domain(domain.name, domain.version, domain.chain_id + 1, domain.verifying_contract)
    cases.append(("bad_signature", _post(env, body, sign_voucher(fast.account, other_chain, channel, EMBED_PRICE))))
    other_contract = Eip712Domain(domain.name, domain.version, domain.chain_id, env.deployment.address("Anchors"))
    cases.append(("bad_signature", _post(env, body, sign_voucher(fast.account, other_contract, channel, EMBED_PRICE))))
    stranger = env.accounts["client1"]
    cases.append(("bad_signature", _post(env, body, sign_voucher(stranger, domain, channel, EMBED_PRICE))))
    cases.append(("unknown_channel", _post(env, body, sign_voucher(fast.account, domain, b"\x01" * 32, EMBED_PRICE))))
    for reason, response in cases:
        assert response.status_code == 402, (reason, response.text)
        data = response.json()
        assert data["error"]["code"] == reason, (reason, data)
        assert data["error"]["message"] and data["payment"]["header"] == VOUCHER_HEADER
    assert cases[0][1].json()["payment"]["price"] == str(EMBED_PRICE)
    assert cases[1][1].json()["payment"]["channel"]["next_amount"] == str(EMBED_PRICE)
    assert state() == before

    # Too large, too many, or a model it does not serve: refused before the voucher is even read.
    good = sign_voucher(fast.account, domain, channel, EMBED_PRICE)
    huge = _post(env, _embed_body("x" * (70 * 1024)), good)
    assert huge.status_code == 413 and "limit" in huge.json()["error"]["message"]
    many = _post(env, _embed_body(*["x"] * 300), good)
    assert many.status_code == 400 and "at most" in many.json()["error"]["message"]
    long = _post(env, json.dumps({"model": TEXT, "prompt": "x", "max_tokens": 500}).encode(), good,
                 "/v1/completions")
    assert long.status_code == 400 and "at most" in long.json()["error"]["message"]
    unknown = _post(env, json.dumps({"model": "gpt-9", "input": "x"}).encode(), good)
    assert unknown.status_code == 404 and EMBED in unknown.json()["hint"]
    assert state() == before

    # Replayed and reordered vouchers.
    first = _post(env, body, good)
    assert first.status_code == 200
    replay = _post(env, body, good)
    assert replay.status_code == 402 and replay.json()["error"]["code"] == "stale"
    later = sign_voucher(fast.account, domain, channel, 3 * EMBED_PRICE)
    earlier = sign_voucher(fast.account, domain, channel, 2 * EMBED_PRICE)
    assert _post(env, body, later).status_code == 200
    reordered = _post(env, body, earlier)
    assert reordered.status_code == 402 and reordered.json()["error"]["code"] == "stale"
    assert service.ledger.served(channel)[0] == 3 * EMBED_PRICE
    assert service.store.count() == before[1] + 2


def test_a_voucher_whose_answer_never_arrived_pays_once_when_sent_again(fast_env: FastEnv) -> None:
    env, service = fast_env, fast_env.provider.service
    fast = env.client()
    session = _open(env, fast)
    body = json.dumps({"model": TEXT, "prompt": "import", "max_tokens": 40, "stream": True}).encode()
    voucher = session.pay(GENERATE_PRICE)
    with httpx.Client(timeout=60.0) as http, http.stream(
        "POST", env.provider.url + "/v1/completions", content=body,
        headers={VOUCHER_HEADER: voucher.encode(), "content-type": "application/json"},
    ) as response:
        assert response.status_code == 200
        next(response.iter_bytes())  # the first piece, then hang up
    session.failed()
    deadline = time.monotonic() + 10
    while service.ledger.in_flight(session.channel_id):  # the provider notices the hang-up
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert service.ledger.served(session.channel_id)[0] == 0
    assert session.pay(GENERATE_PRICE) == voucher  # the transport will send the same voucher again
    with session.http_client(timeout=60.0) as http:
        answered = http.post(env.provider.url + "/v1/completions",
                             json={"model": TEXT, "prompt": "import", "max_tokens": 4})
    assert answered.status_code == 200
    assert int(SignedReceipt.from_json(answered.headers[RECEIPT_HEADER]).receipt.price) == GENERATE_PRICE
    assert service.ledger.served(session.channel_id)[0] == GENERATE_PRICE


def test_receipts_are_anchored_and_proven_included_or_left_out_against_the_chain(fast_env: FastEnv) -> None:
    env, service = fast_env, fast_env.provider.service
    fast = env.client()
    session = _open(env, fast)
    with session.http_client(timeout=60.0) as http:
        for i in range(5):
            assert http.post(env.provider.url + "/v1/embeddings",
                             json={"model": EMBED, "input": [f"text {i}"]}).status_code == 200
    service.flush()
    mine = fast.wallet.receipts()
    assert len(mine) == 5
    for receipt, url in mine:
        check = fast.check(receipt, provider_url=url)
        assert check.included, check.reason
        assert check.proof is not None and check.proof.verify()
    # Without the provider's help: the batch listing by CID, the root from the chain.
    receipt, url = mine[2]
    check = fast.check(receipt, provider_url=None)
    assert check.status == "pending"  # no gateway named to read listings from
    from deai.client.channels import check_receipt

    assert check_receipt(receipt, anchors=fast.anchors, gateways=[url]).included
    # A receipt the provider signed but left out of the batch covering its sequence.
    forged = SignedReceipt(receipt.receipt, receipt.signature, b"\x42" * 32)
    left_out = check_receipt(forged, anchors=fast.anchors, gateways=[url])
    assert left_out.status == "excluded" and left_out.found_leaf == receipt.leaf
    # One not anchored yet.
    later = SignedReceipt(receipt.receipt.__class__(**{**receipt.receipt.__dict__, "sequence": 10**6}),
                          receipt.signature, receipt.leaf)
    assert check_receipt(later, anchors=fast.anchors, gateways=[url]).status == "pending"
    assert len(MerkleTree([r.leaf for r, _ in mine])) == 5


def test_top_ups_redeems_and_closes_follow_the_chain(fast_env: FastEnv) -> None:
    env, service = fast_env, fast_env.provider.service
    fast = env.client()
    token = fast.channels.token
    provider = env.provider.account.address
    session = _open(env, fast, deposit=EMBED_PRICE)
    with session.http_client(timeout=60.0) as http:
        ok = http.post(env.provider.url + "/v1/embeddings", json={"model": EMBED, "input": ["a"]})
        assert ok.status_code == 200
        session.top_up(2 * EMBED_PRICE)  # the provider learns the new deposit from the event
        for _ in range(2):
            assert http.post(env.provider.url + "/v1/embeddings",
                             json={"model": EMBED, "input": ["b"]}).status_code == 200
    before = token.functions.balanceOf(provider).call()
    redeemed = service.redeem_all()  # every channel of this provider, this one among them
    assert token.functions.balanceOf(provider).call() - before == redeemed
    assert session.chain_state().paid == 3 * EMBED_PRICE

    second = _open(env, fast, deposit=tokens("0.1"))
    with second.http_client(timeout=60.0) as http:
        assert http.post(env.provider.url + "/v1/embeddings",
                         json={"model": EMBED, "input": ["c"]}).status_code == 200
    client_before = token.functions.balanceOf(fast.address).call()
    provider_before = token.functions.balanceOf(provider).call()
    second.start_close()
    deadline = time.monotonic() + 20
    while second.chain_state().exists:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert token.functions.balanceOf(provider).call() - provider_before == EMBED_PRICE
    assert token.functions.balanceOf(fast.address).call() - client_before == tokens("0.1") - EMBED_PRICE


def test_a_restarted_provider_remembers_what_it_served(fast_env: FastEnv) -> None:
    env = fast_env
    fast = env.client()
    account, data_dir = env.accounts["provider2"], env.tmp / "provider2"
    provider, server = start_provider(env.w3, env.deployment, account, data_dir)
    try:
        session = fast.open_channel(account.address, tokens(1), url=provider.url)
        with session.http_client(timeout=60.0) as http:
            assert http.post(provider.url + "/v1/embeddings",
                             json={"model": EMBED, "input": ["a"]}).status_code == 200
    finally:
        server.stop()
        provider.service.stop()
    # The same key and database again, as after a crash: the served voucher stays spent.
    again, server = start_provider(env.w3, env.deployment, account, data_dir, blocks=provider.service.blocks)
    try:
        spent = sign_voucher(fast.account, fast.channels.domain(), session.channel_id, EMBED_PRICE)
        refused = _post_to(again.url, _embed_body("a"), spent)
        assert refused.status_code == 402 and refused.json()["error"]["code"] == "stale"
        assert refused.json()["payment"]["channel"]["served"] == str(EMBED_PRICE)
        session.url = again.url  # it came back on another port
        with session.http_client(timeout=60.0) as http:
            assert http.post(again.url + "/v1/embeddings", json={"model": EMBED, "input": ["b"]}).status_code == 200
        assert session.confirmed == 2 * EMBED_PRICE
    finally:
        server.stop()
        again.service.stop()


def _post_to(url: str, body: bytes, voucher: SignedVoucher) -> httpx.Response:
    return httpx.post(url + "/v1/embeddings", content=body,
                      headers={VOUCHER_HEADER: voucher.encode(), "content-type": "application/json"}, timeout=60.0)


def test_the_client_sdk_opens_a_channel_and_pays_through_it(fast_env: FastEnv) -> None:
    from deai.client import Client
    from deai.store import LocalStore

    client = Client(fast_env.accounts["client2"], fast_env.deployment, LocalStore(fast_env.tmp / "sdk-store"))
    session = client.open_channel(fast_env.provider.account.address, tokens(1), url=fast_env.provider.url)
    with session.http_client(timeout=60.0) as http:
        assert http.post(session.url + "/v1/embeddings", json={"model": EMBED, "input": ["x"]}).status_code == 200
    assert session.confirmed == EMBED_PRICE
    assert [r.sequence for r, _ in client.fast_path().wallet.receipts()]


def test_a_client_that_gives_up_waiting_is_not_charged(fast_env: FastEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    """A gateway that times out goes elsewhere: the answer it never read costs nothing."""
    from dataclasses import replace

    env, service = fast_env, fast_env.provider.service
    fast = env.client()
    session = _open(env, fast)
    # 0.25 s a token: the answer cannot be done before the client hangs up, however short it is
    # (a fast model may end its text at once, and a loaded machine shifts every timing)
    monkeypatch.setattr(service, "settings", replace(service.settings, delay_s=2.0))
    body = json.dumps({"model": TEXT, "prompt": "class", "max_tokens": 8}).encode()
    voucher = session.pay(GENERATE_PRICE)
    with pytest.raises(httpx.TimeoutException):
        httpx.post(env.provider.url + "/v1/completions", content=body, timeout=0.05,
                   headers={VOUCHER_HEADER: voucher.encode(), "content-type": "application/json"})
    session.failed()
    deadline = time.monotonic() + 10
    while service.ledger.in_flight(session.channel_id):  # the provider finishes, sees the hang-up
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert service.ledger.served(session.channel_id)[0] == 0
    monkeypatch.undo()
    with session.http_client(timeout=60.0) as http:  # the same voucher buys the next answer
        again = http.post(env.provider.url + "/v1/completions", json={"model": TEXT, "prompt": "x", "max_tokens": 2})
    assert again.status_code == 200 and session.confirmed == GENERATE_PRICE


def test_a_receipt_dated_far_from_now_is_refused_by_the_client(fast_env: FastEnv) -> None:
    # A receipt may be challenged for a fixed time after its issuedAt: a backdated one would
    # shorten the validators' window, so the client refuses it (and keeps the voucher as spent).
    from dataclasses import replace

    from deai.client.channels import MAX_RECEIPT_SKEW_S
    from deai.node.fastpath.receipts import body_hash

    fast = FastPath(fast_env.accounts["client1"], fast_env.deployment, data_dir=fast_env.tmp / "skew-client")
    session = _open(fast_env, fast)
    body = _embed_body("dated")
    voucher = session.pay(EMBED_PRICE)
    answer = _post(fast_env, body, voucher)
    assert answer.status_code == 200
    honest = SignedReceipt.from_json(answer.headers[RECEIPT_HEADER])
    assert body_hash(answer.content) == honest.receipt.response_hash
    backdated = replace(honest.receipt, issued_at=honest.receipt.issued_at - MAX_RECEIPT_SKEW_S - 60)
    forged = fast_env.provider.service.signer.sign(backdated)
    with pytest.raises(SignatureError, match=r"dated -3[6-9][0-9] s from now"):
        session.confirm(forged, request=body, response=answer.content)
    assert session.pending is None and session.confirmed == EMBED_PRICE
    assert fast.wallet.receipts() == []
