"""The provider's payment ledger: accept a voucher before any work, charge only what is served.

``VoucherVerifier`` (deai.market.vouchers) checks a voucher's signature, channel, amount,
price and deposit and records the highest amount accepted. On top of it the ledger keeps,
per channel, the cumulative amount **served** (answered with a receipt) and the amounts
**in flight**, so that:

- a request is charged ``cumulative - served`` when its receipt is issued, and receipts
  always add up to exactly what the provider can redeem (the latest served voucher);
- a request that fails after its voucher was accepted (the runtime failed, the client
  hung up, the node crashed) leaves nothing served: the client may send **the same
  voucher again**, here or after a restart, and it is accepted once more (a *replay of an
  unserved voucher*). A voucher whose request was served is refused as stale forever, so
  a replayed paid voucher never buys a second answer;
- after a restart, ``restore`` feeds the last served voucher of each channel back into the
  verifier, so amounts never go backwards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from deai.errors import VoucherError
from deai.market.vouchers import ChannelTerms, SignedVoucher, VoucherVerifier
from deai.units import ChannelId, TokenAmount

_T = TypeVar("_T")


@dataclass(frozen=True)
class Charge:
    """An accepted voucher whose request is running; ``finish`` or ``release`` it."""

    channel_id: ChannelId
    voucher: SignedVoucher
    price: TokenAmount
    """The provider's quote for this request (the voucher pays at least this much)."""
    replay: bool = False

    @property
    def cumulative_amount(self) -> TokenAmount:
        return self.voucher.cumulative_amount


@dataclass
class _Served:
    amount: int = 0
    voucher: SignedVoucher | None = None
    in_flight: set[int] = field(default_factory=set)


class PaymentLedger:
    """Channel payments of one provider (thread-safe)."""

    def __init__(self, verifier: VoucherVerifier) -> None:
        self.verifier = verifier
        self._served: dict[bytes, _Served] = {}
        self._lock = threading.Lock()

    def _book(self, channel: bytes) -> _Served:
        book = self._served.get(channel)
        if book is None:
            book = self._served[channel] = _Served()
        return book

    def restore(self, voucher: SignedVoucher) -> None:
        """A served voucher from the node's database (after ``verifier.track`` of its channel)."""
        channel = bytes(voucher.channel_id)
        with self._lock:
            book = self._book(channel)
            if int(voucher.cumulative_amount) <= book.amount:
                return
            book.amount, book.voucher = int(voucher.cumulative_amount), voucher
        if int(voucher.cumulative_amount) > int(self.verifier.accepted(channel)):
            # price 0: only raises the accepted amount and remembers the voucher.
            self.verifier.accept(voucher, 0)

    def track(self, terms: ChannelTerms) -> None:
        self.verifier.track(terms)

    def charge(self, voucher: SignedVoucher, price: int) -> Charge:
        """Accept ``voucher`` for a request priced ``price``; raises VoucherError, recording nothing."""
        channel = bytes(voucher.channel_id)
        try:
            self.verifier.accept(voucher, price)
        except VoucherError as exc:
            if exc.reason != "stale" or not self._replayable(voucher, price):
                raise self._explained(exc, channel, price) from None
            return Charge(ChannelId(channel), voucher, TokenAmount(price), replay=True)
        with self._lock:
            self._book(channel).in_flight.add(int(voucher.cumulative_amount))
        return Charge(ChannelId(channel), voucher, TokenAmount(price))

    def _replayable(self, voucher: SignedVoucher, price: int) -> bool:
        """The latest accepted voucher, never served and not running now, may buy one answer."""
        channel = bytes(voucher.channel_id)
        latest = self.verifier.latest(channel)
        if latest is None or latest != voucher:
            return False
        amount = int(voucher.cumulative_amount)
        with self._lock:
            book = self._book(channel)
            if amount <= book.amount or amount in book.in_flight or amount - book.amount < price:
                return False
            terms = self.verifier.terms(channel)
            if terms is None or terms.closing:
                return False
            book.in_flight.add(amount)
            return True

    def _explained(self, exc: VoucherError, channel: bytes, price: int) -> VoucherError:
        if exc.reason in ("stale", "underpaid"):
            accepted = int(self.verifier.accepted(channel))
            with self._lock:
                served = self._book(channel).amount
            exc.hint = (f"this channel has served {served} and accepted {accepted}; sign a voucher for "
                        f"{accepted + price} (or send again the last voucher whose request failed)")
        return exc

    def finish(self, charge: Charge, record: Callable[[TokenAmount], _T] | None = None) -> tuple[TokenAmount, _T | None]:
        """The request was answered: mark the voucher served; returns what it paid.

        ``record(paid)`` (the receipt's signing and storage) runs first, under the ledger's
        lock: if it raises, nothing is marked served, so the served amount never runs ahead
        of the stored receipts, and two answers on one channel never count the same amount.
        """
        amount = int(charge.cumulative_amount)
        with self._lock:
            book = self._book(bytes(charge.channel_id))
            paid = TokenAmount(max(0, amount - book.amount))
            result = record(paid) if record is not None else None
            book.in_flight.discard(amount)
            if amount > book.amount:
                book.amount, book.voucher = amount, charge.voucher
        return paid, result

    def release(self, charge: Charge) -> None:
        """The request failed before an answer: nothing is charged; the voucher may come again."""
        with self._lock:
            self._book(bytes(charge.channel_id)).in_flight.discard(int(charge.cumulative_amount))

    def served(self, channel_id: bytes) -> tuple[TokenAmount, SignedVoucher | None]:
        with self._lock:
            book = self._served.get(bytes(channel_id))
            return (TokenAmount(0), None) if book is None else (TokenAmount(book.amount), book.voucher)

    def in_flight(self, channel_id: bytes) -> int:
        with self._lock:
            book = self._served.get(bytes(channel_id))
            return 0 if book is None else len(book.in_flight)

    def channels(self) -> list[ChannelId]:
        with self._lock:
            return [ChannelId(c) for c in self._served]
