"""Named accounts in encrypted JSON keystores (Web3 Secret Storage V3, scrypt).

One file per account, ``<dir>/<name>.json``, written atomically with mode 0600. The
private key exists in memory only while an account is loaded; it is never printed.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import is_address, to_checksum_address

from deai.errors import (
    KeystoreCorrupt,
    KeystoreExists,
    KeystoreNotFound,
    WrongPassword,
    did_you_mean,
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DEFAULT_SCRYPT_N = 2**18  # eth-account's default: ~0.5 s to unlock, as geth and MetaMask do


@dataclass(frozen=True)
class AccountInfo:
    """What can be said about an account without its password."""

    name: str
    address: str
    path: Path


class Keystore:
    """The encrypted accounts in one folder."""

    def __init__(self, directory: Path, *, scrypt_n: int = DEFAULT_SCRYPT_N) -> None:
        self.directory = directory
        self.scrypt_n = scrypt_n

    # --- reading ----------------------------------------------------------------------------

    def list(self) -> list[AccountInfo]:
        if not self.directory.is_dir():
            return []
        infos = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                infos.append(self._info(path))
            except KeystoreCorrupt:
                continue  # listed by `deai keys list` as unreadable, never fatal to the list
        return infos

    def find(self, name_or_address: str) -> AccountInfo:
        """The account with this name, or this address (any case)."""
        if is_address(name_or_address):
            wanted = to_checksum_address(name_or_address)
            for info in self.list():
                if info.address == wanted:
                    return info
        else:
            path = self._path(name_or_address)
            if path.is_file():
                return self._info(path)
        names = [info.name for info in self.list()]
        hint = did_you_mean(name_or_address, names) or (
            f"known accounts: {', '.join(names)}" if names else "create one with `deai keys new`"
        )
        raise KeystoreNotFound(f"no account {name_or_address!r} in {self.directory}", hint=hint)

    def load(self, name_or_address: str, password: str) -> LocalAccount:
        """Decrypt an account. WrongPassword if the password does not fit."""
        info = self.find(name_or_address)
        data = self._read(info.path)
        try:
            key = Account.decrypt(data, password)
        except ValueError as exc:
            if "MAC mismatch" in str(exc):
                raise WrongPassword(f"wrong password for account {info.name!r}") from None
            raise KeystoreCorrupt(f"cannot decrypt {info.path}: {exc}") from None
        except (KeyError, TypeError) as exc:
            raise KeystoreCorrupt(f"{info.path} lacks a field: {exc}") from None
        account: LocalAccount = Account.from_key(key)
        return account

    # --- writing ----------------------------------------------------------------------------

    def create(self, name: str, password: str) -> AccountInfo:
        """A new random account."""
        return self.import_key(name, Account.create().key, password)

    def import_key(self, name: str, private_key: bytes | str, password: str) -> AccountInfo:
        path = self._path(name)
        if path.exists():
            raise KeystoreExists(f"an account named {name!r} already exists at {path}")
        try:
            account: LocalAccount = Account.from_key(private_key)
        except (ValueError, TypeError) as exc:
            raise KeystoreCorrupt(
                f"not a private key: {exc}", hint="a private key is 32 bytes, 0x and 64 hex digits"
            ) from None
        data = Account.encrypt(account.key, password, kdf="scrypt", iterations=self.scrypt_n)
        self._write_atomic(path, data)
        return AccountInfo(name=name, address=account.address, path=path)

    def import_file(self, name: str, source: Path, password: str) -> AccountInfo:
        """Import an existing V3 keystore file (checks the password before copying)."""
        data = self._read(source)
        try:
            key = Account.decrypt(data, password)
        except ValueError:
            raise WrongPassword(f"the password does not decrypt {source}") from None
        return self.import_key(name, key, password)

    def export(self, name_or_address: str) -> dict[str, Any]:
        """The encrypted keystore JSON of an account (still password-protected)."""
        return self._read(self.find(name_or_address).path)

    # --- internals --------------------------------------------------------------------------

    def _path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise KeystoreNotFound(
                f"bad account name {name!r}",
                hint="use letters, digits, '.', '_' or '-' (at most 64), starting with a letter or digit",
            )
        return self.directory / f"{name}.json"

    def _info(self, path: Path) -> AccountInfo:
        data = self._read(path)
        address = data.get("address")
        if not isinstance(address, str) or not is_address("0x" + address.removeprefix("0x")):
            raise KeystoreCorrupt(f"{path} has no valid address field")
        return AccountInfo(
            name=path.stem,
            address=to_checksum_address("0x" + address.removeprefix("0x")),
            path=path,
        )

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise KeystoreNotFound(f"no keystore file at {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise KeystoreCorrupt(f"{path} is not a JSON keystore: {exc}") from None
        if not isinstance(data, dict) or "crypto" not in {k.lower() for k in data}:
            raise KeystoreCorrupt(f"{path} is not an encrypted keystore (no 'crypto' section)")
        return data

    def _write_atomic(self, path: Path, data: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
