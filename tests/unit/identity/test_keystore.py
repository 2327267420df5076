"""Encrypted keystores: create, find, unlock, import, export, and every way they fail."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from deai.errors import KeystoreCorrupt, KeystoreExists, KeystoreNotFound, WrongPassword
from deai.identity import Keystore

FAST_SCRYPT = 2**4  # keeps unit tests quick; production uses eth-account's default


@pytest.fixture
def keystore(tmp_path: Path) -> Keystore:
    return Keystore(tmp_path / "keys", scrypt_n=FAST_SCRYPT)


def test_create_then_load_gives_the_same_address(keystore: Keystore) -> None:
    info = keystore.create("alice", "pw")
    account = keystore.load("alice", "pw")
    assert account.address == info.address
    assert keystore.find(info.address.lower()).name == "alice"


def test_keystore_file_is_private_and_holds_no_plain_key(keystore: Keystore) -> None:
    info = keystore.create("alice", "pw")
    account = keystore.load("alice", "pw")
    text = info.path.read_text()
    assert account.key.hex().removeprefix("0x") not in text
    assert stat.S_IMODE(info.path.stat().st_mode) == 0o600


def test_wrong_password_is_a_typed_error(keystore: Keystore) -> None:
    keystore.create("alice", "pw")
    with pytest.raises(WrongPassword, match="alice"):
        keystore.load("alice", "not-it")


def test_unknown_account_suggests_a_close_name(keystore: Keystore) -> None:
    keystore.create("alice", "pw")
    with pytest.raises(KeystoreNotFound) as err:
        keystore.find("alise")
    assert "alice" in err.value.hint


def test_existing_account_is_never_overwritten(keystore: Keystore) -> None:
    first = keystore.create("alice", "pw")
    before = first.path.read_bytes()
    with pytest.raises(KeystoreExists):
        keystore.create("alice", "pw")
    assert first.path.read_bytes() == before


def test_corrupt_keystore_is_reported(keystore: Keystore) -> None:
    info = keystore.create("alice", "pw")
    info.path.write_text("{not json")
    with pytest.raises(KeystoreCorrupt):
        keystore.load("alice", "pw")
    assert keystore.list() == []  # a damaged file never breaks listing


def test_keystore_missing_crypto_section_is_corrupt(keystore: Keystore) -> None:
    info = keystore.create("alice", "pw")
    info.path.write_text(json.dumps({"address": "00" * 20}))
    with pytest.raises(KeystoreCorrupt, match="crypto"):
        keystore.load("alice", "pw")


def test_import_key_and_export_roundtrip(keystore: Keystore, tmp_path: Path) -> None:
    key = "0x" + "11" * 32
    info = keystore.import_key("imported", key, "pw")
    exported = tmp_path / "exported.json"
    exported.write_text(json.dumps(keystore.export("imported")))
    other = Keystore(tmp_path / "other", scrypt_n=FAST_SCRYPT)
    again = other.import_file("copy", exported, "pw")
    assert again.address == info.address
    with pytest.raises(WrongPassword):
        other.import_file("copy2", exported, "wrong")
    assert [i.name for i in other.list()] == ["copy"]


def test_bad_private_key_and_bad_name(keystore: Keystore) -> None:
    with pytest.raises(KeystoreCorrupt, match="private key"):
        keystore.import_key("x", "0x1234", "pw")
    with pytest.raises(KeystoreNotFound, match="bad account name"):
        keystore.create("../escape", "pw")
    assert keystore.list() == []
