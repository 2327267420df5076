"""The multibase encodings deai reads (base32, base58btc, base16) and the two it writes.

CIDv1 strings are written in lower-case base32 (prefix ``b``), CIDv0 in bare base58btc.
"""

from __future__ import annotations

import base64
import binascii

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58_ALPHABET)}


class MultibaseError(ValueError):
    """Not valid text in the named base."""


def b32encode(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").lower().rstrip("=")


def b32decode(text: str) -> bytes:
    if not text or (text != text.lower() and text != text.upper()):
        raise MultibaseError("base32 text mixes cases")
    padded = text.upper() + "=" * (-len(text) % 8)
    try:
        return base64.b32decode(padded)
    except (binascii.Error, ValueError) as exc:
        raise MultibaseError(f"bad base32: {exc}") from None


def b58encode(data: bytes) -> str:
    zeros = len(data) - len(data.lstrip(b"\0"))
    num = int.from_bytes(data, "big")
    out = []
    while num:
        num, rem = divmod(num, 58)
        out.append(_B58_ALPHABET[rem])
    return "1" * zeros + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    if not text:
        raise MultibaseError("empty base58 text")
    num = 0
    for char in text:
        digit = _B58_INDEX.get(char)
        if digit is None:
            raise MultibaseError(f"bad base58 character {char!r}")
        num = num * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))
    body = num.to_bytes((num.bit_length() + 7) // 8, "big") if num else b""
    return b"\0" * zeros + body


def decode_multibase(text: str) -> bytes:
    """Bytes of a multibase string: ``b``/``B`` base32, ``z`` base58btc, ``f``/``F`` base16."""
    if len(text) < 2:
        raise MultibaseError("too short")
    prefix, body = text[0], text[1:]
    if prefix in "bB":
        if (prefix == "b") != (body == body.lower()):
            raise MultibaseError("base32 case does not match its prefix")
        return b32decode(body)
    if prefix == "z":
        return b58decode(body)
    if prefix in "fF":
        try:
            return bytes.fromhex(body)
        except ValueError:
            raise MultibaseError("bad base16") from None
    raise MultibaseError(f"multibase prefix {prefix!r} is not supported (use base32 'b…')")
