"""`deai devnet` with a real anvil: persistence across down/up, isolation, and failures."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from deai.chain.devnet import Devnet, demo_account
from deai.chain.rpc import connect, send
from deai.cli.main import run
from deai.config import Config
from deai.errors import DevnetAlreadyRunning, DevnetNotRunning, PortInUse
from deai.units import tokens

# These tests are about the chain; tests/e2e/test_devnet_nodes.py starts the nodes.
NO_NODES = ("--providers", "0", "--validators", "0")


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    net = Devnet(Config(data_dir=tmp_path / "a"))
    try:
        yield net
    finally:
        if net.running():
            net.down()


def _status(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    assert run(["--data-dir", str(data_dir), "devnet", "status", "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_state_survives_down_and_up(devnet: Devnet, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = devnet.config.data_dir
    assert run(["--data-dir", str(data_dir), "devnet", "up", *NO_NODES]) == 0
    # Move tokens so the persisted state differs from a fresh deployment.
    deployment = devnet.deployment()
    w3 = connect(deployment.rpc_url)
    token = deployment.contract(w3, "Token")
    send(
        w3,
        demo_account("client1"),
        token.functions.transfer(demo_account("client2").address, tokens(7)),
    )
    before = _status(data_dir, capsys)
    assert before["running"] and before["contracts"]["Token"]
    assert run(["--data-dir", str(data_dir), "devnet", "down"]) == 0
    assert _status(data_dir, capsys)["running"] is False
    assert run(["--data-dir", str(data_dir), "devnet", "up", *NO_NODES]) == 0
    after = _status(data_dir, capsys)
    assert after["contracts"] == before["contracts"]
    assert after["accounts"] == before["accounts"]
    balances = {a["role"]: int(a["token"]) for a in after["accounts"]}
    assert balances["client2"] - balances["client1"] == 2 * tokens(7)


def test_two_devnets_run_side_by_side(devnet: Devnet, tmp_path: Path) -> None:
    other = Devnet(Config(data_dir=tmp_path / "b"))
    first = devnet.up()
    try:
        second = other.up()
        assert first.rpc_url != second.rpc_url
        assert devnet.status().running and other.status().running
    finally:
        if other.running():
            other.down()
    assert devnet.status().running


def test_second_up_and_down_when_stopped_are_typed_errors(devnet: Devnet) -> None:
    devnet.up()
    with pytest.raises(DevnetAlreadyRunning):
        devnet.up()
    devnet.down()
    with pytest.raises(DevnetNotRunning):
        devnet.down()


def test_port_in_use(devnet: Devnet) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with pytest.raises(PortInUse):
            devnet.up(port=sock.getsockname()[1])
    assert devnet.running() is None


def test_anvil_missing_exits_with_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEAI_ANVIL_BIN", str(tmp_path / "no-anvil"))
    assert run(["--data-dir", str(tmp_path / "c"), "devnet", "up", *NO_NODES]) == 4
    err = capsys.readouterr().err
    assert "make setup" in err


def test_reset_forgets_state(devnet: Devnet) -> None:
    devnet.up()
    devnet.fund(demo_account("client1").address, tokens(1))
    devnet.reset()
    assert devnet.running() is None
    devnet.up()
    assert {b.role: b.token for b in devnet.status().balances}["client1"] == tokens(10_000)
