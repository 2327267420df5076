"""Domain-separated signatures: EIP-712 typed data and EIP-191 personal messages.

Every EIP-712 domain deai uses names the chain id and the verifying contract, so a
signature made for one chain or contract can never be replayed on another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from deai.errors import SignatureError


@dataclass(frozen=True)
class Eip712Domain:
    """An EIP-712 domain; chain id and verifying contract are mandatory in deai."""

    name: str
    version: str
    chain_id: int
    verifying_contract: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": to_checksum_address(self.verifying_contract),
        }


def _typed_message(
    domain: Eip712Domain,
    types: dict[str, list[dict[str, str]]],
    primary_type: str,
    message: dict[str, Any],
) -> Any:
    if primary_type not in types:
        raise SignatureError(f"primary type {primary_type!r} is not among the types given")
    full = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            **types,
        },
        "primaryType": primary_type,
        "domain": domain.as_dict(),
        "message": message,
    }
    try:
        return encode_typed_data(full_message=full)
    except (ValueError, TypeError, KeyError) as exc:
        raise SignatureError(f"message does not match its EIP-712 types: {exc}") from None


def sign_typed(
    account: LocalAccount,
    domain: Eip712Domain,
    types: dict[str, list[dict[str, str]]],
    primary_type: str,
    message: dict[str, Any],
) -> bytes:
    """A 65-byte EIP-712 signature (r ‖ s ‖ v) of ``message`` under ``domain``."""
    signed = account.sign_message(_typed_message(domain, types, primary_type, message))
    return bytes(signed.signature)


def recover_typed(
    domain: Eip712Domain,
    types: dict[str, list[dict[str, str]]],
    primary_type: str,
    message: dict[str, Any],
    signature: bytes,
) -> str:
    """The checksummed address that signed ``message`` under ``domain``."""
    encoded = _typed_message(domain, types, primary_type, message)
    return _recover(encoded, signature)


def sign_text(account: LocalAccount, text: str | bytes) -> bytes:
    """An EIP-191 (``personal_sign``) signature of ``text``."""
    data = text.encode() if isinstance(text, str) else text
    return bytes(account.sign_message(encode_defunct(primitive=data)).signature)


def recover_text(text: str | bytes, signature: bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return _recover(encode_defunct(primitive=data), signature)


def _recover(encoded: Any, signature: bytes) -> str:
    if len(signature) != 65:
        raise SignatureError(f"a signature is 65 bytes, got {len(signature)}")
    try:
        return str(Account.recover_message(encoded, signature=signature))
    except Exception as exc:  # eth-keys raises several unrelated types for bad bytes
        raise SignatureError(f"cannot recover a signer: {exc}") from None
