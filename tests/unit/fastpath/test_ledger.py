"""The payment ledger: a voucher is charged once, when its request is served; an unserved one may come again."""

from __future__ import annotations

import pytest
from eth_account import Account

from deai.errors import VoucherError
from deai.market.vouchers import ChannelTerms, VoucherVerifier, sign_voucher, voucher_domain
from deai.node.fastpath.ledger import PaymentLedger
from deai.units import Address, ChannelId, TokenAmount

PROVIDER = Account.from_key(b"\x01" * 32)
CLIENT = Account.from_key(b"\x02" * 32)
DOMAIN = voucher_domain(31337, "0x" + "cd" * 20)
CHANNEL = ChannelId(b"\x05" * 32)
PRICE = 10


def _ledger(deposit: int = 100) -> PaymentLedger:
    ledger = PaymentLedger(VoucherVerifier(DOMAIN, PROVIDER.address))
    ledger.track(ChannelTerms(CHANNEL, Address(CLIENT.address), Address(PROVIDER.address),
                              TokenAmount(deposit), TokenAmount(0)))
    return ledger


def _voucher(amount: int):  # type: ignore[no-untyped-def]
    return sign_voucher(CLIENT, DOMAIN, CHANNEL, amount)


def test_served_vouchers_are_charged_and_never_accepted_again() -> None:
    ledger = _ledger()
    charge = ledger.charge(_voucher(10), PRICE)
    assert ledger.finish(charge)[0] == 10
    assert ledger.served(CHANNEL)[0] == 10
    with pytest.raises(VoucherError) as refused:
        ledger.charge(_voucher(10), PRICE)
    assert refused.value.reason == "stale" and "served 10" in refused.value.hint


def test_an_unserved_voucher_buys_one_answer_when_sent_again() -> None:
    ledger = _ledger()
    charge = ledger.charge(_voucher(10), PRICE)
    with pytest.raises(VoucherError):
        ledger.charge(_voucher(10), PRICE)  # still running: not twice at once
    ledger.release(charge)
    again = ledger.charge(_voucher(10), PRICE)
    assert again.replay
    assert ledger.finish(again)[0] == 10
    with pytest.raises(VoucherError):
        ledger.charge(_voucher(10), PRICE)


def test_a_later_voucher_pays_for_an_earlier_one_that_failed() -> None:
    ledger = _ledger()
    ledger.release(ledger.charge(_voucher(10), PRICE))
    assert ledger.finish(ledger.charge(_voucher(20), PRICE))[0] == 20  # receipts cover all the client paid


@pytest.mark.parametrize(("amount", "reason"), [(5, "underpaid"), (101, "over_deposit")])
def test_refused_vouchers_change_nothing(amount: int, reason: str) -> None:
    ledger = _ledger()
    with pytest.raises(VoucherError) as refused:
        ledger.charge(_voucher(amount), PRICE)
    assert refused.value.reason == reason
    assert ledger.verifier.accepted(CHANNEL) == 0 and ledger.served(CHANNEL) == (0, None)


def test_restored_served_vouchers_keep_amounts_going_up_after_a_restart() -> None:
    ledger = _ledger()
    ledger.restore(_voucher(30))
    with pytest.raises(VoucherError):
        ledger.charge(_voucher(30), PRICE)
    assert ledger.finish(ledger.charge(_voucher(40), PRICE))[0] == 10


def test_a_receipt_that_cannot_be_stored_leaves_nothing_served() -> None:
    ledger = _ledger()
    charge = ledger.charge(_voucher(10), PRICE)

    def broken(paid: int) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError):
        ledger.finish(charge, broken)
    assert ledger.served(CHANNEL) == (0, None)
    ledger.release(charge)
    assert ledger.charge(_voucher(10), PRICE).replay
