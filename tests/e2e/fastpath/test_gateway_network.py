"""The fast path across real processes: a devnet, three provider daemons and a gateway.

A client sends 1,000 embedding and 100 chat requests through the gateway; a provider is
killed in the middle of a stream and the gateway finishes the answer elsewhere; then the
channels close and every token is accounted for: each provider is paid exactly what its
receipts say, the client exactly that much less, and every receipt is anchored on chain.
The tests run in file order and share one network.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from deai.chain.channels import ChannelClosed
from deai.chain.devnet import demo_account
from deai.chain.token import Token
from deai.client.channels import FastPath
from deai.node.fastpath.receipts import RECEIPT_HEADER, SignedReceipt
from deai.runtime.demo_models import demo_model_dirs
from deai.testing.network import GatewayProcess, LocalNetwork, ProviderSpec, start_gateway
from deai.testing.waiting import wait_for

pytestmark = pytest.mark.e2e

EMBED_MODEL = "all-MiniLM-L6-v2"
CHAT_MODEL = "textgen-small"
ROLES = ("provider1", "provider2", "provider3")
SLOW = 2  # provider3: a slow machine (delay spread over a stream's tokens), killed mid-stream


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    models = demo_model_dirs()
    served = (models["minilm"], models["textgen-small"])
    net = LocalNetwork(tmp_path_factory.mktemp("fastnet"), providers=[
        ProviderSpec("provider1", ("embed=0.001", "generate=0.01"), served, max_jobs=1),
        ProviderSpec("provider2", ("embed=0.0012", "generate=0.011"), served, max_jobs=1),
        ProviderSpec("provider3", ("embed=0.0008", "generate=0.009"), served, delay_s=1.5, max_jobs=1),
    ])
    with net:
        yield net


@pytest.fixture(scope="module")
def gateway(network: LocalNetwork) -> Iterator[GatewayProcess]:
    with start_gateway(network, "client1", lanes=3, deposit=0.5) as gw:
        yield gw


@pytest.fixture(scope="module")
def start_balances(network: LocalNetwork) -> dict[str, int]:
    token = _token(network)
    accounts = ["client1", *ROLES]
    return {role: token.balance_of(demo_account(role).address) for role in accounts}


def _token(network: LocalNetwork) -> Token:
    assert network.deployment is not None
    fast = FastPath(demo_account("client1"), network.deployment)
    return Token(fast.w3, network.deployment)


def _chat_body(i: int, *, stream: bool, max_tokens: int = 4) -> dict[str, object]:
    return {"model": CHAT_MODEL, "messages": [{"role": "user", "content": f"question {i}: what is a list?"}],
            "max_tokens": max_tokens, "stream": stream, "seed": i}


def _read_stream(chunks: Iterable[bytes]) -> tuple[str, list[str], bool, list[bytes]]:
    """Text, receipt comments, whether [DONE] came, and the raw events of a gateway stream."""
    text, receipts, done, events = "", [], False, []
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            events.append(event)
            if event.startswith(b": deai-receipt "):
                receipts.append(event[len(b": deai-receipt "):].decode())
            elif event == b"data: [DONE]":
                done = True
            elif event.startswith(b"data: "):
                data = json.loads(event[6:])
                assert "error" not in data, data
                for choice in data["choices"]:
                    text += choice["delta"].get("content") or ""
    return text, receipts, done, events


def test_a_thousand_embeddings_and_a_hundred_chats_through_the_gateway(
    network: LocalNetwork, gateway: GatewayProcess, start_balances: dict[str, int]
) -> None:
    receipts: list[str] = []

    def embed(i: int) -> None:
        with httpx.Client(timeout=60.0) as http:
            response = http.post(f"{gateway.url}/v1/embeddings",
                                 json={"model": EMBED_MODEL, "input": [f"sentence number {i}"]})
            assert response.status_code == 200, response.text
            assert len(response.json()["data"][0]["embedding"]) == 384
            receipts.append(response.headers[RECEIPT_HEADER])

    def chat(i: int) -> None:
        with httpx.Client(timeout=60.0) as http:
            if i % 4:
                response = http.post(f"{gateway.url}/v1/chat/completions", json=_chat_body(i, stream=False))
                assert response.status_code == 200, response.text
                assert response.json()["choices"][0]["message"]["content"]
                receipts.append(response.headers[RECEIPT_HEADER])
                return
            with http.stream("POST", f"{gateway.url}/v1/chat/completions", json=_chat_body(i, stream=True)) as r:
                assert r.status_code == 200
                text, found, done, _ = _read_stream(r.iter_bytes())
            assert text and done and len(found) == 1
            receipts.extend(found)

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(embed, range(1000)))
        list(pool.map(chat, range(100)))
    assert len(receipts) == 1100
    parsed = [SignedReceipt.from_json(r) for r in receipts]
    assert len({(r.provider, r.sequence) for r in parsed}) == 1100  # one receipt per request
    used = {r.provider for r in parsed}
    assert len(used) >= 2, "the gateway spread the load"

    # The official openai client, pointed at the gateway, works unchanged (no voucher: the gateway pays).
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused")
    stream = client.chat.completions.create(model=CHAT_MODEL, messages=[{"role": "user", "content": "hi"}],
                                            max_tokens=4, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def test_a_provider_killed_mid_stream_the_client_gets_one_whole_answer_and_pays_once(
    network: LocalNetwork, gateway: GatewayProcess
) -> None:
    slow = str(demo_account(ROLES[SLOW]).address)
    body = _chat_body(7, stream=True, max_tokens=24)
    with httpx.Client(timeout=60.0) as http:
        reference = http.post(f"{gateway.url}/v1/chat/completions", json={**body, "stream": False}).json()
        wanted = reference["choices"][0]["message"]["content"]
        receipts_before = len(http.get(f"{gateway.url}/v1/receipts").json()["receipts"])
        with http.stream("POST", f"{gateway.url}/v1/chat/completions", json=body,
                         headers={"X-Deai-Route": slow}) as response:
            assert response.status_code == 200
            chunks = response.iter_bytes()
            head = b""
            while b'"content":"' not in head.replace(b'"content":""', b""):
                head += next(chunks)  # the slow provider has begun to answer
            network.kill(SLOW)
            rest = b"".join(chunks)
        status = http.get(f"{gateway.url}/v1/gateway").json()
        receipts_after = http.get(f"{gateway.url}/v1/receipts").json()["receipts"]
    text, found, done, events = _read_stream([head + rest])
    assert text == wanted and done
    assert len(found) == 1, "one answer, one receipt"
    receipt = SignedReceipt.from_json(found[0])
    assert receipt.provider != slow
    assert len(receipts_after) == receipts_before + 1  # paid once
    assert sum(1 for e in events if b'"finish_reason":"' in e) == 1
    assert status["failovers"] >= 1


def test_channels_close_and_every_token_is_accounted_for(
    network: LocalNetwork, gateway: GatewayProcess, start_balances: dict[str, int]
) -> None:
    network.restart(SLOW)  # the killed provider comes back to claim what it served
    gateway.stop()
    assert network.deployment is not None
    fast = FastPath(demo_account("client1"), network.deployment, data_dir=gateway.data_dir / "gateway")
    kept = fast.wallet.receipts()
    assert len(kept) >= 1100 + 1 + 2
    earned: dict[str, int] = {str(demo_account(r).address): 0 for r in ROLES}
    for receipt, _url in kept:
        earned[receipt.provider] += int(receipt.receipt.price)
    sessions = fast.sessions()
    for session in sessions:
        session.start_close()
    wait_for(lambda: not any(s.chain_state().exists for s in sessions),
             "every provider to close its channels when asked", timeout=60, interval=0.25)

    token = _token(network)
    total = sum(earned.values())
    for role in ROLES:
        address = demo_account(role).address
        assert token.balance_of(address) - start_balances[role] == earned[address], role
    assert start_balances["client1"] - token.balance_of(demo_account("client1").address) == total
    closes = [e for e in fast.channels.events(from_block=network.deployment.block)
              if isinstance(e, ChannelClosed)]
    assert len(closes) == len(sessions)
    for event in closes:  # each channel's deposit split exactly between provider and client
        session = next(s for s in sessions if bytes(s.channel_id) == bytes(event.channel_id))
        assert int(event.cumulative_amount) + int(event.refund) == int(session.deposit)

    # Every receipt is provably anchored: a Merkle proof to a root the Anchors contract holds.
    urls = {p.spec.role: p.url for p in network.running}
    with httpx.Client(timeout=10.0) as http:
        deadline = time.monotonic() + 30
        for receipt, _url in kept:
            role = next(r for r in ROLES if str(demo_account(r).address) == receipt.provider)
            while True:
                check = fast.check(receipt, provider_url=urls[role], http=http)
                if check.included or time.monotonic() > deadline:
                    break
                time.sleep(0.5)  # the restarted provider anchors what was left unbatched
            assert check.included, (receipt.sequence, check.reason)
    fast.close()

