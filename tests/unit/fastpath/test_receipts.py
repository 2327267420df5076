"""Receipts and vouchers signed on the fast path agree with eth-account's EIP-712 reference."""

from __future__ import annotations

import dataclasses

import pytest
from eth_account import Account

from deai.client.channels import VoucherSigner
from deai.errors import SignatureError
from deai.market.vouchers import sign_voucher, voucher_domain
from deai.node.fastpath.receipts import (
    Receipt,
    ReceiptSigner,
    ReceiptVerifier,
    SignedReceipt,
    body_hash,
    receipt_domain,
    recover_receipt_reference,
)
from deai.units import Address, ChannelId, TokenAmount

PROVIDER = Account.from_key(b"\x01" * 32)
CLIENT = Account.from_key(b"\x02" * 32)
ANCHORS = "0x" + "ab" * 20
CHANNELS = "0x" + "cd" * 20


def _receipt(**changes: object) -> Receipt:
    receipt = Receipt(
        provider=Address(PROVIDER.address), channel_id=ChannelId(b"\x07" * 32), sequence=5,
        request_hash=body_hash(b'{"model":"m"}'), response_hash=body_hash(b"{}"), model="bafkreimodel",
        price=TokenAmount(10**15), cumulative_amount=TokenAmount(3 * 10**15), issued_at=1_700_000_000,
    )
    return dataclasses.replace(receipt, **changes)  # type: ignore[arg-type]


def test_a_fast_signature_recovers_through_the_eth_account_encoder() -> None:
    domain = receipt_domain(31337, ANCHORS)
    signed = ReceiptSigner(PROVIDER, domain).sign(_receipt())
    assert recover_receipt_reference(domain, signed) == PROVIDER.address
    ReceiptVerifier(domain).verify(signed)
    assert signed.leaf == signed.receipt.digest(ReceiptVerifier(domain).separator)


def test_a_receipt_survives_json_and_its_leaf_is_recomputed() -> None:
    domain = receipt_domain(31337, ANCHORS)
    signed = ReceiptSigner(PROVIDER, domain).sign(_receipt())
    verifier = ReceiptVerifier(domain)
    again = verifier.parse(signed.to_json())
    assert again == signed
    forged = dict(signed.as_dict(), price=str(10**18))
    tampered = SignedReceipt.from_dict(forged, verifier.separator)
    with pytest.raises(SignatureError, match="not by its provider"):
        verifier.verify(tampered)


@pytest.mark.parametrize("domain", [receipt_domain(1, ANCHORS), receipt_domain(31337, CHANNELS)])
def test_a_receipt_for_another_chain_or_contract_does_not_verify(domain: object) -> None:
    signed = ReceiptSigner(PROVIDER, receipt_domain(31337, ANCHORS)).sign(_receipt())
    moved = SignedReceipt.from_dict(signed.as_dict(), ReceiptVerifier(domain).separator)  # type: ignore[arg-type]
    with pytest.raises(SignatureError):
        ReceiptVerifier(domain).verify(moved)  # type: ignore[arg-type]


def test_a_signer_refuses_a_receipt_naming_another_provider() -> None:
    with pytest.raises(SignatureError):
        ReceiptSigner(PROVIDER, receipt_domain(31337, ANCHORS)).sign(_receipt(provider=Address(CLIENT.address)))


def test_malformed_receipts_are_signature_errors() -> None:
    with pytest.raises(SignatureError, match="malformed"):
        SignedReceipt.from_json("{}")
    with pytest.raises(SignatureError, match="not JSON"):
        SignedReceipt.from_json("nope")


def test_the_sdk_signs_vouchers_exactly_as_the_reference_signer() -> None:
    domain = voucher_domain(31337, CHANNELS)
    fast = VoucherSigner(CLIENT, domain)
    for amount in (1, 10**15, 2**200):
        assert fast.sign(b"\x09" * 32, amount) == sign_voucher(CLIENT, domain, b"\x09" * 32, amount)
