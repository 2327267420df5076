"""`deai keys` through the real CLI entry point: output, exit codes, hints, no secrets printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deai.cli.main import run


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DEAI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DEAI_PASSWORD", "correct horse")
    return run


def test_new_then_show_prints_address_and_did(cli, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert cli(["keys", "new", "alice", "--json"]) == 0
    created = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert cli(["keys", "show", "alice", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert shown["address"] == created["address"]
    assert shown["did"] == f"did:pkh:eip155:31337:{created['address']}"
    assert cli(["keys", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [a["name"] for a in listed["accounts"]] == ["alice"]


def test_wrong_password_exits_nonzero_with_a_hint(
    cli,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    assert cli(["keys", "new", "alice"]) == 0
    monkeypatch.setenv("DEAI_PASSWORD", "wrong")
    code = cli(["keys", "show", "alice"])
    err = capsys.readouterr().err
    assert code == 3
    assert "wrong password" in err and "hint" in err
    assert "Traceback" not in err
    assert "correct horse" not in err and "wrong" in err


def test_password_file_option(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("DEAI_PASSWORD")
    secret = tmp_path / "pw.txt"
    secret.write_text("from-a-file\n")
    assert cli(["--password-file", str(secret), "keys", "new", "bob"]) == 0
    assert cli(["--password-file", str(secret), "keys", "show", "bob"]) == 0
    secret.write_text("other\n")
    assert cli(["--password-file", str(secret), "keys", "show", "bob"]) == 3


def test_corrupt_keystore_and_unknown_account(
    cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    assert cli(["keys", "new", "alice"]) == 0
    (tmp_path / "data" / "keystores" / "alice.json").write_text("garbage")
    assert cli(["keys", "show", "alice"]) == 3
    assert "not a JSON keystore" in capsys.readouterr().err
    assert cli(["keys", "show", "alicia"]) == 3


def test_import_and_export(cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    key_file = tmp_path / "key.txt"
    key_file.write_text("0x" + "33" * 32)
    assert cli(["keys", "import", "imp", "--private-key-file", str(key_file), "--json"]) == 0
    address = json.loads(capsys.readouterr().out)["address"]
    assert cli(["keys", "export", "imp"]) == 0
    exported = capsys.readouterr().out
    assert "33" * 32 not in exported and address[2:].lower() in exported.lower()
    assert cli(["keys", "import", "both"]) == 3  # neither source given


def test_unknown_option_is_a_usage_error(cli, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert cli(["keys", "list", "--no-such-option"]) == 2
    assert "No such option" in capsys.readouterr().err


def test_help_lists_every_group(cli, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert cli(["--help"]) == 0
    out = capsys.readouterr().out
    for group in ("keys", "devnet"):
        assert group in out
