"""`deai devnet up --providers N --validators M`: real node processes, registered, listed, stopped.

The CLI runs in-process (as in tests/integration/chain/test_devnet.py); the nodes it starts
are real ``deai provider start`` / ``deai validator start`` processes on loopback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deai.chain.anvil import pid_alive
from deai.chain.devnet import Devnet, demo_account
from deai.chain.registry import Registry
from deai.chain.rpc import connect
from deai.chain.types import ProviderState
from deai.cli.main import run
from deai.config import Config
from deai.node.devnet_nodes import DevnetNodes
from deai.node.processes import group_members


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A private data directory; whatever a failed test left running is stopped."""
    folder = tmp_path / "deai"
    try:
        yield folder
    finally:
        config = Config(data_dir=folder)
        DevnetNodes(config).stop()
        if Devnet(config).running() is not None:
            Devnet(config).down()


def _json(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return data


def _processes_naming(folder: Path) -> list[int]:
    """Pids of live processes whose command line names ``folder`` (the nodes' data dirs do)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(folder).encode() in cmdline and pid_alive(int(entry.name)):
                found.append(int(entry.name))
    return found


@pytest.mark.e2e
def test_up_starts_registered_nodes_that_down_stops(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    devnet = ["--data-dir", str(data_dir), "devnet"]
    assert run([*devnet, "up", "--providers", "2", "--validators", "1", "--no-explorer", "--json"]) == 0
    nodes = {node["role"]: node for node in _json(capsys)["nodes"]}
    assert {role: node["kind"] for role, node in nodes.items()} == {
        "provider1": "provider",
        "provider2": "provider",
        "validator1": "validator",
    }

    # On chain: both providers registered and active at the URL they serve; the validator too.
    deployment = Devnet(Config(data_dir=data_dir)).deployment()
    registry = Registry(connect(deployment.rpc_url), deployment)
    for role in ("provider1", "provider2"):
        entry = registry.provider(demo_account(role).address)
        assert entry.state == ProviderState.ACTIVE
        assert entry.endpoint == nodes[role]["url"]
    assert registry.is_active_validator(demo_account("validator1").address)

    # Each answers on its API as its own account.
    for role, node in nodes.items():
        health = httpx.get(f"{node['url']}/health", timeout=5).json()
        assert health["address"] == demo_account(role).address
        assert Path(node["log_file"]).is_file()

    # status lists them, alive and answering.
    assert run([*devnet, "status", "--json"]) == 0
    listed = {n["role"]: n for n in _json(capsys)["nodes"]}
    assert {role: (n["url"], n["alive"], n["answers"]) for role, n in listed.items()} == {
        role: (node["url"], True, True) for role, node in nodes.items()
    }
    keystore = data_dir / "devnet" / "nodes" / "provider1" / "keystores" / "provider1.json"
    key_file = keystore.read_bytes()

    # down leaves no process behind: no node, no worker of a node.
    assert run([*devnet, "down"]) == 0
    capsys.readouterr()
    for node in nodes.values():
        assert not pid_alive(node["pid"]) and group_members(node["pid"]) == []
    assert _processes_naming(data_dir) == []
    assert run([*devnet, "status", "--json"]) == 0
    after = _json(capsys)
    assert after["running"] is False
    assert {n["role"]: n["alive"] for n in after["nodes"]} == dict.fromkeys(nodes, False)

    # up again: the same node keystore is reused and the provider serves again.
    assert run([*devnet, "up", "--providers", "1", "--validators", "0", "--no-explorer", "--json"]) == 0
    again = _json(capsys)["nodes"]
    assert [n["role"] for n in again] == ["provider1"]
    assert keystore.read_bytes() == key_file
    assert httpx.get(f"{again[0]['url']}/health", timeout=5).json()["address"] == (
        demo_account("provider1").address
    )
    assert run([*devnet, "down"]) == 0
    assert _processes_naming(data_dir) == []


@pytest.mark.e2e
def test_a_node_that_fails_to_start_names_its_log_and_leaves_nothing(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A damaged node data directory: its store folder is a file, so the provider cannot open it.
    store = data_dir / "devnet" / "nodes" / "provider1" / "store"
    store.parent.mkdir(parents=True)
    store.write_text("not a folder")
    code = run(["--data-dir", str(data_dir), "devnet", "up", "--providers", "1", "--validators", "0",
                "--no-explorer"])
    err = "".join(capsys.readouterr().err.split("\n"))  # the console wraps long paths anywhere
    assert code == 10  # NodeError
    assert "provider1" in err and "provider1/node.log" in err
    assert Devnet(Config(data_dir=data_dir)).running() is None
    assert _processes_naming(data_dir) == []


@pytest.mark.parametrize(
    "args",
    [
        ("--providers", "-1"),
        ("--validators", "-2"),
        ("--providers", "4"),  # the devnet funds provider1..3
        ("--validators", "4"),
    ],
)
def test_bad_node_counts_are_config_errors_before_anything_starts(
    data_dir: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, str]
) -> None:
    assert run(["--data-dir", str(data_dir), "devnet", "up", *args]) == 2  # ConfigError
    err = capsys.readouterr().err
    assert args[0] in err and "funded" in err and "hint" in err
    assert not (data_dir / "devnet").exists()
