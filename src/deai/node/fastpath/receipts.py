"""Signed receipts: what a provider hands back for every paid fast-path request.

A receipt is EIP-712 typed data, so a wallet, a validator or a contract can check it::

    DeaiReceipt(address provider, bytes32 channelId, uint256 sequence, bytes32 requestHash,
                bytes32 responseHash, string model, uint256 price, uint256 cumulativeAmount,
                uint256 issuedAt)
    domain: name "deai-receipts", version "1", chainId, verifyingContract = Anchors

- ``requestHash`` is keccak256 of the request body bytes as the provider received them;
- ``responseHash`` is keccak256 of the response body bytes (for a stream: every byte of
  the server-sent events before the receipt, see ``deai.node.fastpath.openai_api``);
- ``model`` is the model's CID, ``price`` what this request paid (the voucher's cumulative
  amount minus the amount already served on the channel), ``cumulativeAmount`` the
  voucher's amount, ``sequence`` the provider's receipt number (1, 2, … with no gaps).

The receipt's **leaf** (what goes into the anchored Merkle tree) is its EIP-712 digest,
the 32 bytes the provider signed; a validator challenges with the receipt and the proof.

Signing and recovery use the cached domain separator and libsecp256k1 (coincurve), the
same arithmetic as ``deai.market.vouchers.VoucherVerifier``, at tens of microseconds a
receipt; ``recover_receipt_reference`` goes through eth-account's EIP-712 encoder as the
independent check the tests compare with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from coincurve import PrivateKey, PublicKey
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from eth_utils.address import to_canonical_address, to_checksum_address

from deai.errors import SignatureError
from deai.identity.signing import Eip712Domain, recover_typed
from deai.market.vouchers import domain_separator
from deai.units import Address, ChannelId, TokenAmount

RECEIPT_DOMAIN_NAME = "deai-receipts"
RECEIPT_DOMAIN_VERSION = "1"
RECEIPT_PRIMARY_TYPE = "DeaiReceipt"
RECEIPT_TYPES: dict[str, list[dict[str, str]]] = {
    "DeaiReceipt": [
        {"name": "provider", "type": "address"},
        {"name": "channelId", "type": "bytes32"},
        {"name": "sequence", "type": "uint256"},
        {"name": "requestHash", "type": "bytes32"},
        {"name": "responseHash", "type": "bytes32"},
        {"name": "model", "type": "string"},
        {"name": "price", "type": "uint256"},
        {"name": "cumulativeAmount", "type": "uint256"},
        {"name": "issuedAt", "type": "uint256"},
    ]
}
RECEIPT_TYPEHASH = keccak(
    b"DeaiReceipt(address provider,bytes32 channelId,uint256 sequence,bytes32 requestHash,"
    b"bytes32 responseHash,string model,uint256 price,uint256 cumulativeAmount,uint256 issuedAt)"
)
RECEIPT_HEADER = "X-Deai-Receipt"
"""The response header that carries ``SignedReceipt.to_json()`` of a non-streamed answer."""
SSE_RECEIPT_PREFIX = b": deai-receipt "
"""A stream carries its receipt as an SSE comment line (every SSE parser skips comments)."""


def receipt_domain(chain_id: int, anchors_address: str) -> Eip712Domain:
    """The domain receipts are signed under: this chain, the Anchors contract they go to."""
    return Eip712Domain(RECEIPT_DOMAIN_NAME, RECEIPT_DOMAIN_VERSION, chain_id,
                        to_checksum_address(anchors_address))


def body_hash(data: bytes) -> bytes:
    """keccak256 of a request or response body: ``requestHash`` / ``responseHash``."""
    return bytes(keccak(data))


def _u256(value: int) -> bytes:
    return int(value).to_bytes(32, "big")


@dataclass(frozen=True)
class Receipt:
    """The fields a provider signs for one request."""

    provider: Address
    channel_id: ChannelId
    sequence: int
    request_hash: bytes
    response_hash: bytes
    model: str
    price: TokenAmount
    cumulative_amount: TokenAmount
    issued_at: int

    def struct_hash(self) -> bytes:
        return bytes(keccak(
            RECEIPT_TYPEHASH + bytes(12) + to_canonical_address(self.provider)
            + bytes(self.channel_id) + _u256(self.sequence) + self.request_hash
            + self.response_hash + keccak(self.model.encode()) + _u256(self.price)
            + _u256(self.cumulative_amount) + _u256(self.issued_at)
        ))

    def digest(self, separator: bytes) -> bytes:
        """``keccak256(0x1901 ‖ domainSeparator ‖ structHash)``: the signed bytes and the Merkle leaf."""
        return bytes(keccak(b"\x19\x01" + separator + self.struct_hash()))

    def message(self) -> dict[str, Any]:
        """The EIP-712 message for eth-account (the reference path)."""
        return {
            "provider": self.provider, "channelId": bytes(self.channel_id),
            "sequence": self.sequence, "requestHash": self.request_hash,
            "responseHash": self.response_hash, "model": self.model, "price": int(self.price),
            "cumulativeAmount": int(self.cumulative_amount), "issuedAt": self.issued_at,
        }


@dataclass(frozen=True)
class SignedReceipt:
    """A receipt with the provider's signature and the leaf it anchors as."""

    receipt: Receipt
    signature: bytes
    leaf: bytes

    @property
    def provider(self) -> Address:
        return self.receipt.provider

    @property
    def sequence(self) -> int:
        return self.receipt.sequence

    @property
    def channel_id(self) -> ChannelId:
        return self.receipt.channel_id

    def as_dict(self) -> dict[str, Any]:
        r = self.receipt
        return {
            "provider": r.provider, "channel_id": "0x" + bytes(r.channel_id).hex(),
            "sequence": r.sequence, "request_hash": "0x" + r.request_hash.hex(),
            "response_hash": "0x" + r.response_hash.hex(), "model": r.model,
            # Amounts as strings: 18-decimal integers overflow a JavaScript number.
            "price": str(int(r.price)), "cumulative_amount": str(int(r.cumulative_amount)),
            "issued_at": r.issued_at, "signature": "0x" + self.signature.hex(),
            "leaf": "0x" + self.leaf.hex(),
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any], separator: bytes | None = None) -> SignedReceipt:
        """Parse a receipt; the leaf is recomputed (with ``separator``) rather than trusted."""
        try:
            receipt = Receipt(
                provider=Address(to_checksum_address(str(data["provider"]))),
                channel_id=ChannelId(_hex(data["channel_id"], 32)),
                sequence=int(data["sequence"]),
                request_hash=_hex(data["request_hash"], 32),
                response_hash=_hex(data["response_hash"], 32),
                model=str(data["model"]),
                price=TokenAmount(int(data["price"])),
                cumulative_amount=TokenAmount(int(data["cumulative_amount"])),
                issued_at=int(data["issued_at"]),
            )
            signature = _hex(data["signature"], 65)
            leaf = receipt.digest(separator) if separator is not None else _hex(data["leaf"], 32)
        except (KeyError, TypeError, ValueError) as exc:
            raise SignatureError(f"malformed receipt: {exc}",
                                 hint="a receipt is the JSON a provider returned in X-Deai-Receipt") from None
        return cls(receipt, signature, leaf)

    @classmethod
    def from_json(cls, text: str | bytes, separator: bytes | None = None) -> SignedReceipt:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise SignatureError("malformed receipt: not JSON") from None
        if not isinstance(data, dict):
            raise SignatureError("malformed receipt: not a JSON object")
        return cls.from_dict(data, separator)


def _hex(value: Any, size: int) -> bytes:
    raw = bytes.fromhex(str(value).removeprefix("0x"))
    if len(raw) != size:
        raise ValueError(f"expected {size} bytes of hex, got {len(raw)}")
    return raw


_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def recover_signer(digest: bytes, signature: bytes) -> bytes:
    """The 20-byte address that signed ``digest`` (65-byte r ‖ s ‖ v, low s as in EIP-2)."""
    if len(signature) != 65 or signature[64] not in (27, 28):
        raise SignatureError("a signature is 65 bytes ending in v = 27 or 28")
    if int.from_bytes(signature[32:64], "big") > _SECP256K1_N // 2:
        raise SignatureError("bad signature: s is in the upper half (malleable form)")
    try:
        public = PublicKey.from_signature_and_message(
            signature[:64] + bytes((signature[64] - 27,)), digest, hasher=None
        )
    except Exception as exc:  # coincurve raises ValueError or its own errors for bad points
        raise SignatureError(f"cannot recover a signer: {exc}") from None
    return bytes(keccak(public.format(compressed=False)[1:])[12:])


class ReceiptSigner:
    """Signs receipts for one provider key under one domain (libsecp256k1, cached separator)."""

    def __init__(self, account: LocalAccount, domain: Eip712Domain) -> None:
        self.address = Address(to_checksum_address(account.address))
        self.domain = domain
        self.separator = domain_separator(domain)
        self._key = PrivateKey(bytes(account.key))

    def sign(self, receipt: Receipt) -> SignedReceipt:
        if receipt.provider != self.address:
            raise SignatureError(f"this signer is {self.address}, the receipt names {receipt.provider}")
        digest = receipt.digest(self.separator)
        raw = self._key.sign_recoverable(digest, hasher=None)
        return SignedReceipt(receipt, raw[:64] + bytes((raw[64] + 27,)), digest)


class ReceiptVerifier:
    """Checks receipts of one domain: recomputes the leaf and recovers the signer."""

    def __init__(self, domain: Eip712Domain) -> None:
        self.domain = domain
        self.separator = domain_separator(domain)

    def parse(self, text: str | bytes) -> SignedReceipt:
        return SignedReceipt.from_json(text, self.separator)

    def signer(self, signed: SignedReceipt) -> Address:
        return Address(to_checksum_address(recover_signer(signed.receipt.digest(self.separator),
                                                          signed.signature)))

    def verify(self, signed: SignedReceipt, *, leaf_checked: bool = False) -> None:
        """Raise SignatureError unless the named provider signed the receipt under this domain.

        ``leaf_checked``: the leaf was computed from the fields here (``parse``), not read.
        """
        leaf = signed.leaf if leaf_checked else signed.receipt.digest(self.separator)
        if leaf != signed.leaf:
            raise SignatureError("the receipt's leaf is not the digest of its fields")
        # Raw 20-byte comparison: a checksummed address costs another keccak per receipt.
        if recover_signer(leaf, signed.signature) != to_canonical_address(signed.provider):
            signer = self.signer(signed)
            raise SignatureError(
                f"receipt {signed.sequence} is signed by {signer}, not by its provider {signed.provider}",
                hint="the receipt was altered, or signed for another chain or Anchors contract",
            )


def recover_receipt_reference(domain: Eip712Domain, signed: SignedReceipt) -> Address:
    """The signer through eth-account's EIP-712 encoder: slow, independent of this module."""
    return Address(recover_typed(domain, RECEIPT_TYPES, RECEIPT_PRIMARY_TYPE,
                                 signed.receipt.message(), signed.signature))
