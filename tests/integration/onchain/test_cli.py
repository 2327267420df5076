"""``deai ai-request`` against a real chain: list, show, ask, retry, settle, subscriptions, watch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from deai.chain.ai_requests import AIParams, CallbackState, Policy, RequestKind
from deai.chain.cids import cid_to_bytes
from deai.chain.types import Verification
from deai.cli.main import run
from deai.node.onchain import verify_delivery
from deai.store import GatewayServer

from .conftest import Kit, digit_label, pixels

pytestmark = pytest.mark.integration


@pytest.fixture
def data_dir(kit: Kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cli"
    kit.m.deployment.save(folder / "devnet" / "deployment.json")
    monkeypatch.setenv("DEAI_RPC_URL", kit.m.deployment.rpc_url)
    return folder


def _cli(capsys: pytest.CaptureFixture[str], data_dir: Path, *args: str) -> tuple[int, Any]:
    """The exit code and the JSON answer, or (on failure) the error text."""
    code = run(["--data-dir", str(data_dir), "ai-request", *args, "--json"])
    captured = capsys.readouterr()
    out = captured.out.strip().splitlines()
    return code, json.loads(out[-1]) if code == 0 and out else captured.err


def test_show_list_and_retry_a_request_whose_callback_failed(
    kit: Kit, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kit.call_probe("setBehaviour", 1)
    request = kit.ask(pixels(0))
    kit.answer(request)
    code, shown = _cli(capsys, data_dir, "show", str(request.request_id))
    assert code == 0 and shown["status"] == "delivered" and shown["callback"] == "failed"
    assert shown["delivered"]["output"] == digit_label(0) and "retry" in shown["why"]
    assert shown["input_cid"] == request.input_cid and shown["callbacks"][0]["success"] is False
    code, listed = _cli(capsys, data_dir, "list", "--consumer", kit.probe.address)
    assert code == 0 and [r["request_id"] for r in listed] == [request.request_id]
    code, retried = _cli(capsys, data_dir, "retry", str(request.request_id), "--devnet-role", "client2")
    assert code == 0 and retried["success"] is False  # the consumer still refuses
    kit.call_probe("setBehaviour", 0)
    code, retried = _cli(capsys, data_dir, "retry", str(request.request_id), "--devnet-role", "client2",
                         "--gas", "400000")
    assert code == 0 and retried["success"] is True and retried["gas_limit"] == 400_000
    assert kit.ai.request(request.request_id).callback is CallbackState.OK


def test_ask_from_an_account_then_settle_it_after_its_deadline(
    kit: Kit, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, asked = _cli(capsys, data_dir, "ask", "--model", kit.models["textgen"], "--text", "The guard says:",
                       "--kind", "generate", "--verification", "rescore", "--max-tokens", "8",
                       "--devnet-role", "client2")
    assert code == 0
    request_id = asked["request_id"]
    requested = kit.ai.requested(request_id)
    assert requested.params.kind is RequestKind.GENERATE and requested.input == b"The guard says:"
    code, error = _cli(capsys, data_dir, "settle", str(request_id), "--devnet-role", "client1")
    assert code != 0 and "nothing to settle" in error  # refused, with the contract's reason
    kit.m.advance(kit.ai.job_timeout() + 1)
    code, settled = _cli(capsys, data_dir, "settle", str(request_id), "--devnet-role", "client1")
    assert code == 0 and settled["reason"] == "expired"
    code, shown = _cli(capsys, data_dir, "show", str(request_id))
    assert shown["status"] == "failed" and shown["failed"]["reason"] == "expired"


def test_bad_asks_are_refused_with_a_reason(kit: Kit, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, error = _cli(capsys, data_dir, "ask", "--model", kit.models["digits"], "--text", "x" * 2000,
                       "--kind", "classify", "--devnet-role", "client2")
    assert code != 0 and "at most 1024" in error
    code, error = _cli(capsys, data_dir, "show", "999999")
    assert code != 0 and "no on-chain AI request" in error


def test_subscriptions_are_listed(kit: Kit, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kit.call_probe("subscribe", cid_to_bytes(kit.models["digits"]), pixels(1), 10**18, 0, 200_000,
                   int(Policy.FINAL), AIParams(RequestKind.CLASSIFY).as_tuple(Verification()), 10, 4, False)
    code, rows = _cli(capsys, data_dir, "subscriptions")
    assert code == 0 and rows[0]["rounds_left"] == 4 and rows[0]["period"] == 10
    assert rows[0]["consumer"] == kit.probe.address


def test_watch_prints_what_happens(kit: Kit, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    request = kit.ask(pixels(2))
    kit.answer(request)
    code = run(["--data-dir", str(data_dir), "ai-request", "watch", "--since", str(request.block_number),
                "--seconds", "1"])
    out = capsys.readouterr().out
    assert code == 0 and f"request {request.request_id} from {kit.probe.address}" in out
    assert f"request {request.request_id}: onAIResult ok" in out


def test_verify_checks_the_delivery_against_the_committed_result(
    kit: Kit, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    honest = kit.ask(pixels(5))
    kit.answer(honest)
    cheat = kit.ask(pixels(6))
    kit.answer(cheat, wrong=True)  # delivers an answer its committed result does not give
    server = GatewayServer(kit.store)
    server.start()
    try:
        code, verdict = _cli(capsys, data_dir, "verify", str(honest.request_id), "--gateway", server.url)
        assert code == 0 and verdict["ok"] is True
        assert {c["name"] for c in verdict["checks"]} == {"committed", "output", "manifest"}
        code, _ = _cli(capsys, data_dir, "verify", str(cheat.request_id), "--gateway", server.url)
        assert code == 1
        checks = verify_delivery(kit.ai, kit.m.market, cheat.request_id, kit.store, [server.url])
        assert [c.name for c in checks if not c.ok] == ["output"]
    finally:
        server.stop()
