"""Vouchers without a chain: the fast path equals eth-account's EIP-712, domains separate, accept rules."""

from __future__ import annotations

import threading
import time

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from hypothesis import given, settings
from hypothesis import strategies as st

from deai.errors import SignatureError, VoucherError
from deai.market.vouchers import (
    VOUCHER_TYPES,
    ChannelTerms,
    SignedVoucher,
    Voucher,
    VoucherVerifier,
    domain_separator,
    recover_voucher_signer,
    sign_voucher,
    voucher_domain,
)
from deai.units import Address, ChannelId, TokenAmount

CHANNELS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CLIENT: LocalAccount = Account.from_key("0x" + "11" * 32)
OTHER: LocalAccount = Account.from_key("0x" + "22" * 32)
PROVIDER = Address(Account.from_key("0x" + "33" * 32).address)
CHANNEL = ChannelId(bytes.fromhex("ab" * 32))
DOMAIN = voucher_domain(31337, CHANNELS)
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def test_digest_matches_eth_account_encoder() -> None:
    voucher = Voucher(CHANNEL, TokenAmount(123_456))
    signable = encode_typed_data(full_message={
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            **VOUCHER_TYPES,
        },
        "primaryType": "Voucher",
        "domain": DOMAIN.as_dict(),
        "message": voucher.message(),
    })
    assert signable.header == domain_separator(DOMAIN)
    assert signable.body == voucher.struct_hash()


@settings(max_examples=25, deadline=None)
@given(channel=st.binary(min_size=32, max_size=32), amount=st.integers(0, 2**256 - 1))
def test_fast_recovery_equals_reference(channel: bytes, amount: int) -> None:
    signed = sign_voucher(CLIENT, DOMAIN, channel, amount)
    verifier = VoucherVerifier(DOMAIN)
    assert verifier.recover(signed) == recover_voucher_signer(DOMAIN, signed) == CLIENT.address
    verifier.verify(signed, CLIENT.address)


@pytest.mark.parametrize(
    "other",
    [voucher_domain(1, CHANNELS), voucher_domain(31337, "0x" + "12" * 20)],
    ids=["another chain", "another contract"],
)
def test_domain_separation(other: object) -> None:
    signed = sign_voucher(CLIENT, DOMAIN, CHANNEL, 10)
    assert isinstance(other, type(DOMAIN))
    foreign = VoucherVerifier(other)
    assert foreign.recover(signed) != CLIENT.address
    with pytest.raises(SignatureError):
        foreign.verify(signed, CLIENT.address)


def test_malformed_signatures_are_refused() -> None:
    signed = sign_voucher(CLIENT, DOMAIN, CHANNEL, 10)
    verifier = VoucherVerifier(DOMAIN)
    sig = signed.signature
    s = int.from_bytes(sig[32:64], "big")
    twin = sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes((55 - sig[64],))
    for bad in (sig[:64], sig + b"\x00", sig[:64] + b"\x00", twin, bytes(64) + b"\x1b"):
        with pytest.raises(SignatureError):
            verifier.recover(SignedVoucher(signed.voucher, bad))


def test_header_encoding_round_trips() -> None:
    signed = sign_voucher(CLIENT, DOMAIN, CHANNEL, 2**200)
    text = signed.encode()
    assert text.startswith("0x" + "ab" * 32 + ":")
    assert SignedVoucher.decode(text) == signed
    for bad in ("", "0x12:1:0x34", "zz:1:00", f"0x{'ab' * 32}:-1:{signed.signature.hex()}",
                f"0x{'ab' * 31}:1:{signed.signature.hex()}", "a:b:c:d"):
        with pytest.raises(VoucherError) as info:
            SignedVoucher.decode(bad)
        assert info.value.reason == "malformed"


# --- accepting vouchers against channel state ---------------------------------------------------


def make_verifier(deposit: int = 1_000, paid: int = 0, closing: bool = False) -> VoucherVerifier:
    verifier = VoucherVerifier(DOMAIN, provider=PROVIDER)
    verifier.track(ChannelTerms(CHANNEL, Address(CLIENT.address), PROVIDER, TokenAmount(deposit),
                                TokenAmount(paid), closing))
    return verifier


def test_accept_takes_increasing_vouchers() -> None:
    verifier = make_verifier()
    first = verifier.accept(sign_voucher(CLIENT, DOMAIN, CHANNEL, 10), price=10)
    assert (first.cumulative_amount, first.increment, first.remaining) == (10, 10, 990)
    second = sign_voucher(CLIENT, DOMAIN, CHANNEL, 35)
    assert verifier.accept(second, price=20).increment == 25
    assert verifier.accepted(CHANNEL) == 35
    assert verifier.latest(CHANNEL) == second


@pytest.mark.parametrize(
    ("setup", "signer", "amount", "price", "reason"),
    [
        ({}, CLIENT, 10, 10, "unknown_channel"),
        ({"closing": True}, CLIENT, 10, 10, "closing"),
        ({}, OTHER, 10, 10, "bad_signature"),
        ({"paid": 50}, CLIENT, 50, 0, "stale"),
        ({"paid": 50}, CLIENT, 40, 0, "stale"),
        ({}, CLIENT, 5, 10, "underpaid"),
        ({"deposit": 100}, CLIENT, 101, 10, "over_deposit"),
    ],
)
def test_accept_refusals_record_nothing(
    setup: dict[str, object], signer: LocalAccount, amount: int, price: int, reason: str
) -> None:
    verifier = VoucherVerifier(DOMAIN, provider=PROVIDER) if reason == "unknown_channel" else \
        make_verifier(**setup)  # type: ignore[arg-type]
    before = verifier.accepted(CHANNEL)
    with pytest.raises(VoucherError) as info:
        verifier.accept(sign_voucher(signer, DOMAIN, CHANNEL, amount), price=price)
    assert info.value.reason == reason
    assert verifier.accepted(CHANNEL) == before
    assert verifier.latest(CHANNEL) is None


def test_replay_and_foreign_domain_are_refused() -> None:
    verifier = make_verifier()
    signed = sign_voucher(CLIENT, DOMAIN, CHANNEL, 10)
    verifier.accept(signed, price=10)
    with pytest.raises(VoucherError, match="not above") as info:
        verifier.accept(signed, price=0)
    assert info.value.reason == "stale"
    foreign = sign_voucher(CLIENT, voucher_domain(1, CHANNELS), CHANNEL, 20)
    with pytest.raises(VoucherError) as info:
        verifier.accept(foreign, price=10)
    assert info.value.reason == "bad_signature"


def test_wrong_provider_and_refresh_from_chain() -> None:
    verifier = VoucherVerifier(DOMAIN, provider=Address(OTHER.address))
    verifier.track(ChannelTerms(CHANNEL, Address(CLIENT.address), PROVIDER, TokenAmount(100), TokenAmount(0)))
    with pytest.raises(VoucherError) as info:
        verifier.accept(sign_voucher(CLIENT, DOMAIN, CHANNEL, 10), price=1)
    assert info.value.reason == "wrong_provider"

    mine = make_verifier(deposit=100)
    mine.accept(sign_voucher(CLIENT, DOMAIN, CHANNEL, 60), price=1)
    # A chain refresh (top-up seen, older redeem) keeps the higher off-chain amount.
    mine.track(ChannelTerms(CHANNEL, Address(CLIENT.address), PROVIDER, TokenAmount(500), TokenAmount(30)))
    assert mine.accepted(CHANNEL) == 60
    assert mine.accept(sign_voucher(CLIENT, DOMAIN, CHANNEL, 400), price=1).remaining == 100
    mine.mark_closing(CHANNEL)
    with pytest.raises(VoucherError, match="closing"):
        mine.accept(sign_voucher(CLIENT, DOMAIN, CHANNEL, 450), price=1)
    mine.forget(CHANNEL)
    assert mine.terms(CHANNEL) is None


def test_concurrent_accepts_take_each_increment_once() -> None:
    verifier = make_verifier(deposit=10_000)
    signed = [sign_voucher(CLIENT, DOMAIN, CHANNEL, 10 * (i + 1)) for i in range(40)]
    taken: list[int] = []
    lock = threading.Lock()

    def worker(items: list[SignedVoucher]) -> None:
        for item in items:
            try:
                got = verifier.accept(item, price=1).increment
            except VoucherError:
                continue
            with lock:
                taken.append(got)

    threads = [threading.Thread(target=worker, args=(signed[i::2] + signed,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # However the threads interleave, the increments add up to the highest voucher, never more.
    assert sum(taken) == verifier.accepted(CHANNEL) == 400


def test_voucher_fields_are_checked() -> None:
    with pytest.raises(VoucherError):
        Voucher(ChannelId(b"\x01" * 31), TokenAmount(1))
    with pytest.raises(VoucherError):
        Voucher(CHANNEL, TokenAmount(-1))
    with pytest.raises(VoucherError):
        Voucher(CHANNEL, TokenAmount(2**256))


def test_fast_path_is_fast() -> None:
    """A loose floor (the bench measures the real rate): well above 1,000 checks a second."""
    verifier = VoucherVerifier(DOMAIN)
    signed = [sign_voucher(CLIENT, DOMAIN, CHANNEL, i) for i in range(300)]
    start = time.perf_counter()
    for item in signed:
        verifier.recover_raw(item)
    assert len(signed) / (time.perf_counter() - start) > 1_000
