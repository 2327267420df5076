"""``deai index run|status`` and ``deai stats`` against a real chain, with and without an explorer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deai.chain.anvil import free_port
from deai.cli.main import run
from deai.config import Config
from deai.web import start_explorer

from .conftest import Sampled

pytestmark = pytest.mark.integration


def last_json(out: str) -> dict:  # type: ignore[type-arg]
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def data_dir(sampled: Sampled, tmp_path: Path) -> Path:
    config = Config(data_dir=tmp_path / "deai")
    sampled.deployment.save(config.deployment_file)
    return config.data_dir


def test_index_run_status_and_stats(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--data-dir", str(data_dir), "index", "run", "--json"]) == 0
    ran = last_json(capsys.readouterr().out)
    assert ran["jobs"] == 15 and ran["behind"] == 0
    assert run(["--data-dir", str(data_dir), "index", "status", "--json"]) == 0
    assert last_json(capsys.readouterr().out)["source"] == "index file"
    assert run(["--data-dir", str(data_dir), "stats", "--json"]) == 0
    stats = last_json(capsys.readouterr().out)
    assert stats["overview"]["jobs_by_state"]["FINALIZED"] == 3 and stats["chain_ok"]
    assert run(["--data-dir", str(data_dir), "stats"]) == 0
    human = capsys.readouterr().out
    assert "live providers" in human and "reliability" in human
    # the sample history has a fraud verdict on a fast-path receipt, fee claims and AI requests
    assert "fast-path receipt disputes: 1 rejected" in human and "fees earned" in human
    assert "on-chain AI requests: " in human and "delivered" in human


def test_a_running_explorer_answers_for_the_index(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    explorer = start_explorer(Config(data_dir=data_dir), refresh_s=0)
    try:
        assert run(["--data-dir", str(data_dir), "stats", "--json"]) == 0
        assert last_json(capsys.readouterr().out)["overview"]["jobs"] in range(0, 16)
        assert run(["--data-dir", str(data_dir), "index", "status", "--json"]) == 0
        assert last_json(capsys.readouterr().out)["source"] == f"explorer at {explorer.url}"
        assert run(["--data-dir", str(data_dir), "index", "run"]) == 9  # IndexInUse
        assert "indexing this chain already" in capsys.readouterr().err
    finally:
        explorer.stop()


def test_stats_with_the_chain_down(data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEAI_RPC_URL", f"http://127.0.0.1:{free_port()}")
    assert run(["--data-dir", str(data_dir), "stats"]) == 4  # no index yet: ChainUnavailable
    assert "hint:" in capsys.readouterr().err
    monkeypatch.delenv("DEAI_RPC_URL")
    assert run(["--data-dir", str(data_dir), "index", "run", "--json"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("DEAI_RPC_URL", f"http://127.0.0.1:{free_port()}")
    assert run(["--data-dir", str(data_dir), "stats", "--json"]) == 0
    captured = capsys.readouterr()
    assert "showing what was indexed before" in captured.err
    assert last_json(captured.out)["chain_ok"] is False
