"""EIP-712 and EIP-191 signatures, DIDs: recovery, and domain separation."""

from __future__ import annotations

import pytest
from eth_account import Account

from deai.errors import IdentityError, SignatureError
from deai.identity import (
    Eip712Domain,
    did_pkh,
    parse_did_pkh,
    recover_text,
    recover_typed,
    sign_text,
    sign_typed,
)

ACCOUNT = Account.from_key("0x" + "22" * 32)
TYPES = {"Voucher": [{"name": "channel", "type": "bytes32"}, {"name": "amount", "type": "uint256"}]}
MESSAGE = {"channel": b"\x01" * 32, "amount": 10**18}
DOMAIN = Eip712Domain("deai-test", "1", 31337, "0x" + "ab" * 20)


def test_typed_signature_recovers_the_signer() -> None:
    signature = sign_typed(ACCOUNT, DOMAIN, TYPES, "Voucher", MESSAGE)
    assert len(signature) == 65
    assert recover_typed(DOMAIN, TYPES, "Voucher", MESSAGE, signature) == ACCOUNT.address


@pytest.mark.parametrize(
    "other",
    [
        Eip712Domain("deai-test", "1", 1, "0x" + "ab" * 20),  # another chain
        Eip712Domain("deai-test", "1", 31337, "0x" + "cd" * 20),  # another contract
        Eip712Domain("deai-test", "2", 31337, "0x" + "ab" * 20),  # another version
    ],
)
def test_signature_does_not_carry_over_to_another_domain(other: Eip712Domain) -> None:
    signature = sign_typed(ACCOUNT, DOMAIN, TYPES, "Voucher", MESSAGE)
    assert recover_typed(other, TYPES, "Voucher", MESSAGE, signature) != ACCOUNT.address


def test_changed_message_recovers_someone_else() -> None:
    signature = sign_typed(ACCOUNT, DOMAIN, TYPES, "Voucher", MESSAGE)
    tampered = {**MESSAGE, "amount": MESSAGE["amount"] + 1}
    assert recover_typed(DOMAIN, TYPES, "Voucher", tampered, signature) != ACCOUNT.address


def test_malformed_signatures_and_messages_are_typed_errors() -> None:
    with pytest.raises(SignatureError, match="65 bytes"):
        recover_typed(DOMAIN, TYPES, "Voucher", MESSAGE, b"\x00" * 10)
    with pytest.raises(SignatureError):
        sign_typed(ACCOUNT, DOMAIN, TYPES, "Missing", MESSAGE)
    with pytest.raises(SignatureError):
        sign_typed(ACCOUNT, DOMAIN, TYPES, "Voucher", {"channel": b"\x01" * 32})


def test_personal_message_roundtrip() -> None:
    signature = sign_text(ACCOUNT, "hello deai")
    assert recover_text("hello deai", signature) == ACCOUNT.address
    assert recover_text("hello deai!", signature) != ACCOUNT.address


def test_did_pkh_roundtrip_and_errors() -> None:
    did = did_pkh(ACCOUNT.address.lower(), 31337)
    assert did == f"did:pkh:eip155:31337:{ACCOUNT.address}"
    assert parse_did_pkh(did) == (31337, ACCOUNT.address)
    with pytest.raises(IdentityError):
        parse_did_pkh("did:key:z6Mk")
    with pytest.raises(IdentityError):
        did_pkh("0x1234", 1)
