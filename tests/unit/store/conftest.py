"""Fixtures for deai.store tests: stores in tmp dirs and the IPIP-0499 deterministic data."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from Crypto.Cipher import ChaCha20

from deai.store import LocalStore

# kubo's testutils.AlphabetEasy, which the IPIP-0499 directory fixtures name files from
ALPHABET_EASY = "abcdefghijklmnopqrstuvwxyz01234567890-_"


def chacha_bytes(size: int, seed: str) -> bytes:
    """kubo's DeterministicRandomReader: the ChaCha20 keystream under sha256(seed), nonce 0."""
    key = hashlib.sha256(seed.encode()).digest()
    return ChaCha20.new(key=key, nonce=bytes(12)).encrypt(bytes(size))


def chacha_names(count: int, length: int, last_length: int, seed: str) -> list[str]:
    stream = chacha_bytes(1024 * 1024, seed)
    names, offset = [], 0
    for i in range(count):
        n = last_length if i == count - 1 else length
        names.append("".join(ALPHABET_EASY[b % len(ALPHABET_EASY)] for b in stream[offset : offset + n]))
        offset += n
    return names


@pytest.fixture
def det_bytes() -> Callable[[int, str], bytes]:
    return chacha_bytes


@pytest.fixture
def det_names() -> Callable[[int, int, int, str], list[str]]:
    return chacha_names


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes: to prove an operation wrote nothing."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def tree_snapshot() -> Callable[[Path], dict[str, bytes]]:
    return snapshot
