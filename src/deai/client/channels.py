"""Fast-path channels in the SDK: open, pay per request with vouchers, keep and prove receipts.

::

    fast = FastPath(account, deployment, data_dir=Path("~/.deai/client1"))
    session = fast.open_channel(provider_address, tokens(5), url="http://127.0.0.1:8001")

    # 1. the official openai client, unchanged: every request gets a fresh voucher
    oai = openai.OpenAI(base_url=session.url + "/v1", api_key="unused",
                        http_client=session.openai_http_client())
    oai.embeddings.create(model="minilm", input=["hello"])
    # 2. or a one-shot header for any HTTP client
    httpx.post(url, json=body, headers=session.headers(price))   # then session.confirm(...)

    fast.check(receipt)      # AnchorCheck: included (with proof, checked on chain), excluded, pending
    session.start_close()    # the provider closes with its latest voucher; the rest comes back

A ``ChannelSession`` is one channel and a *lane*: one request at a time, because vouchers
are cumulative and two in flight could reach the provider out of order (the later amount
first, the earlier one then refused as stale). Run several sessions (channels) to one
provider for concurrency; the gateway does. The session keeps ``confirmed`` (the amount
of the last receipt) and ``pending`` (the voucher of the request in flight): when a
request fails without a receipt, the next request sends that same voucher again, which
the provider accepts once more because it was never served — a failure costs nothing.

Receipts are checked as they arrive (signature under the receipt domain, provider,
channel, amount, request and response hashes) and kept in the ``Wallet`` (SQLite), with
the channels, so a restarted client or gateway carries on with the same amounts.
``check_receipt`` proves a receipt's inclusion in an anchored batch against the chain, or
proves that it was left out (the batch covering its sequence holds another leaf there).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from coincurve import PrivateKey
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3 import Web3

from deai.chain.anchors import Anchors
from deai.chain.channels import Channel, Channels
from deai.chain.deploy import Deployment
from deai.chain.rpc import connect
from deai.errors import DeaiError, MerkleError, SignatureError, VoucherError
from deai.identity.signing import Eip712Domain
from deai.market.vouchers import VOUCHER_HEADER, SignedVoucher, Voucher, domain_separator
from deai.node.fastpath.receipts import (
    RECEIPT_HEADER,
    SSE_RECEIPT_PREFIX,
    ReceiptVerifier,
    SignedReceipt,
    body_hash,
    receipt_domain,
)
from deai.provenance.merkle import MerkleProof, MerkleTree
from deai.sqlite_rows import connect as open_sqlite
from deai.units import Address, ChannelId, TokenAmount

__all__ = [
    "AnchorCheck",
    "ChannelSession",
    "FastPath",
    "Pricing",
    "VoucherSigner",
    "VoucherTransport",
    "Wallet",
    "check_receipt",
    "stream_receipt",
]

LISTING_KIND = "deai-receipt-batch"
NO_DELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
"""Socket option for HTTP clients on the fast path: httpx writes a request's headers and body
in two sends, and with Nagle's algorithm on, the body waits for the server's delayed ACK
(~40 ms on Linux) — twenty times the whole fast-path overhead."""


MAX_RECEIPT_SKEW_S = 300
"""How far a receipt's ``issuedAt`` may be from the client's clock (clocks drift; minutes do not)."""


class VoucherSigner:
    """Signs vouchers for one account and Channels domain with libsecp256k1 (~50 µs each).

    Gives the same 65 bytes as ``deai.market.vouchers.sign_voucher`` (RFC 6979 nonces,
    low s), without eth-account's typed-data encoder on the request path.
    """

    def __init__(self, account: LocalAccount, domain: Eip712Domain) -> None:
        self.address = Address(to_checksum_address(account.address))
        self.domain = domain
        self.separator = domain_separator(domain)
        self._key = PrivateKey(bytes(account.key))

    def sign(self, channel_id: bytes, cumulative_amount: int) -> SignedVoucher:
        voucher = Voucher(ChannelId(bytes(channel_id)), TokenAmount(cumulative_amount))
        raw = self._key.sign_recoverable(voucher.digest(self.separator), hasher=None)
        return SignedVoucher(voucher, raw[:64] + bytes((raw[64] + 27,)))


# --- the wallet: channels and receipts on disk -------------------------------------------------

_WALLET_SCHEMA = """
CREATE TABLE IF NOT EXISTS channels (
    channel BLOB PRIMARY KEY,
    provider TEXT NOT NULL,
    url TEXT NOT NULL,
    deposit TEXT NOT NULL,
    confirmed TEXT NOT NULL,
    pending TEXT,
    state TEXT NOT NULL DEFAULT 'open'     -- open | closing | closed
);
CREATE TABLE IF NOT EXISTS receipts (
    provider TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    channel BLOB NOT NULL,
    receipt TEXT NOT NULL,
    url TEXT NOT NULL,
    PRIMARY KEY (provider, sequence)
);
"""


@dataclass(frozen=True)
class ChannelRecord:
    channel_id: ChannelId
    provider: Address
    url: str
    deposit: TokenAmount
    confirmed: TokenAmount
    pending: SignedVoucher | None
    state: str


class Wallet:
    """A client's channels and receipts (SQLite; ``path=None`` keeps them in memory)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._db = open_sqlite(":memory:" if path is None else Path(path), _WALLET_SCHEMA, synchronous="NORMAL")
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def save_channel(self, session: ChannelSession, state: str | None = None,
                     receipt: tuple[SignedReceipt, str] | None = None) -> None:
        """Write the channel's amounts (and a new receipt with them, in the same transaction)."""
        pending = session.pending.encode() if session.pending is not None else None
        with self._lock:
            if receipt is not None:
                self._db.execute("BEGIN")
                self._add_receipt(*receipt)
            self._db.execute(
                "INSERT INTO channels (channel, provider, url, deposit, confirmed, pending, state) "
                "VALUES (?, ?, ?, ?, ?, ?, COALESCE(?, 'open')) ON CONFLICT(channel) DO UPDATE SET "
                "url = excluded.url, deposit = excluded.deposit, confirmed = excluded.confirmed, "
                "pending = excluded.pending, state = COALESCE(?, channels.state)",
                (bytes(session.channel_id), session.provider, session.url, str(int(session.deposit)),
                 str(int(session.confirmed)), pending, state, state),
            )
            if receipt is not None:
                self._db.execute("COMMIT")

    def channels(self, *, state: str | None = "open") -> list[ChannelRecord]:
        query = "SELECT channel, provider, url, deposit, confirmed, pending, state FROM channels"
        args: tuple[Any, ...] = ()
        if state is not None:
            query += " WHERE state = ?"
            args = (state,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY rowid", args).fetchall()
        return [ChannelRecord(ChannelId(bytes(r[0])), Address(str(r[1])), str(r[2]), TokenAmount(int(r[3])),
                              TokenAmount(int(r[4])), SignedVoucher.decode(r[5]) if r[5] else None, str(r[6]))
                for r in rows]

    def add_receipt(self, receipt: SignedReceipt, url: str) -> None:
        with self._lock:
            self._add_receipt(receipt, url)

    def _add_receipt(self, receipt: SignedReceipt, url: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO receipts (provider, sequence, channel, receipt, url) VALUES (?, ?, ?, ?, ?)",
            (receipt.provider, receipt.sequence, bytes(receipt.channel_id), receipt.to_json(), url),
        )

    def receipts(self, *, provider: str | None = None) -> list[tuple[SignedReceipt, str]]:
        """Every kept receipt with the URL of the provider that issued it."""
        query, args = "SELECT receipt, url FROM receipts", tuple[str, ...]()
        if provider is not None:
            query, args = query + " WHERE provider = ?", (to_checksum_address(provider),)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY provider, sequence", args).fetchall()
        return [(SignedReceipt.from_json(str(r[0])), str(r[1])) for r in rows]


# --- one channel ------------------------------------------------------------------------------


class ChannelSession:
    """One open channel to one provider, used by one request at a time (see the module docstring)."""

    def __init__(self, fast: FastPath, channel_id: bytes, provider: str, deposit: int, *, url: str = "",
                 confirmed: int = 0, pending: SignedVoucher | None = None) -> None:
        self.fast = fast
        self.channel_id = ChannelId(bytes(channel_id))
        self.provider = Address(to_checksum_address(provider))
        self.url = url.rstrip("/")
        self.deposit = TokenAmount(deposit)
        self.confirmed = TokenAmount(confirmed)
        self.pending = pending
        self.closing = False
        self.lock = threading.Lock()
        """The lane: hold it from ``pay`` until ``confirm`` or ``failed``."""

    def __repr__(self) -> str:
        return (f"ChannelSession(0x{bytes(self.channel_id).hex()[:12]}…, provider={self.provider}, "
                f"confirmed={self.confirmed}, deposit={self.deposit})")

    @property
    def committed(self) -> TokenAmount:
        """The most the provider may hold a voucher for: the pending amount, else the confirmed one."""
        return TokenAmount(max(int(self.confirmed), int(self.pending.cumulative_amount) if self.pending else 0))

    @property
    def remaining(self) -> TokenAmount:
        return TokenAmount(int(self.deposit) - int(self.committed))

    # --- paying ------------------------------------------------------------------------------

    def pay(self, price: int) -> SignedVoucher:
        """The voucher for a request priced ``price``: the unserved one again, or a new amount."""
        if self.closing:
            raise VoucherError(f"channel 0x{bytes(self.channel_id).hex()} is closing",
                               reason="closing", hint="open a new channel")
        pending = self.pending
        if pending is not None and int(pending.cumulative_amount) - int(self.confirmed) >= price:
            return pending  # a request that failed was never served: the same voucher pays again
        amount = int(self.committed) + int(price)
        if amount > int(self.deposit):
            raise VoucherError(
                f"the channel has {int(self.remaining)} left, the request costs {price}",
                reason="over_deposit", hint="top the channel up (session.top_up(amount))",
            )
        self.pending = self.fast.signer.sign(self.channel_id, amount)
        return self.pending

    def headers(self, price: int) -> dict[str, str]:
        """``{"X-Deai-Voucher": …}`` for one request (e.g. ``extra_headers`` of the openai client)."""
        return {VOUCHER_HEADER: self.pay(price).encode()}

    def confirm(self, receipt: SignedReceipt | str, *, request: bytes, response: bytes) -> SignedReceipt:
        """Check the receipt of the request in flight against what was sent and received; keep it.

        Raises SignatureError (and treats the voucher as spent) when the receipt does not
        match: the provider holds the voucher either way, and the mismatch is the evidence.
        """
        voucher = self.pending
        parsed = isinstance(receipt, str)
        signed = self.fast.receipts.parse(receipt) if isinstance(receipt, str) else receipt
        if voucher is None:
            raise SignatureError("no request is in flight on this channel")
        self.pending = None
        self.confirmed = TokenAmount(max(int(self.confirmed), int(voucher.cumulative_amount)))
        good = False
        try:
            self.fast.receipts.verify(signed, leaf_checked=parsed)
            problems = []
            if signed.provider != self.provider:
                problems.append(f"it names provider {signed.provider}")
            if bytes(signed.channel_id) != bytes(self.channel_id):
                problems.append("it is for another channel")
            if int(signed.receipt.cumulative_amount) != int(voucher.cumulative_amount):
                problems.append(f"it says {signed.receipt.cumulative_amount}, the voucher {voucher.cumulative_amount}")
            if signed.receipt.request_hash != body_hash(request):
                problems.append("its request hash is not the request sent")
            if signed.receipt.response_hash != body_hash(response):
                problems.append("its response hash is not the response received")
            # A receipt can be challenged for a fixed time after its issuedAt: a provider that
            # backdated it would shorten (or close) the window validators have to check it.
            skew = int(signed.receipt.issued_at) - int(time.time())
            if abs(skew) > MAX_RECEIPT_SKEW_S:
                problems.append(f"it is dated {skew:+d} s from now (at most ±{MAX_RECEIPT_SKEW_S} s)")
            if problems:
                raise SignatureError(f"receipt {signed.sequence} does not match: {'; '.join(problems)}",
                                     hint="keep the receipt and the response as evidence against the provider")
            good = True
        finally:
            self.fast.wallet.save_channel(self, receipt=(signed, self.url) if good else None)
        return signed

    def failed(self) -> None:
        """The request in flight got no receipt: its voucher stays pending, to be sent again."""
        self.fast.wallet.save_channel(self)

    def refused(self) -> None:
        """The provider refused the request before taking its voucher (any 4xx): nothing is pending.

        A provider answers 4xx only before it accepts a voucher; failures after that are
        5xx (or a broken connection), which leave the voucher pending (``failed``).
        """
        self.pending = None
        self.fast.wallet.save_channel(self)

    def resync(self, served: int) -> None:
        """The provider says it served up to ``served`` (a 402 after a lost answer): start from there."""
        if served > int(self.confirmed):
            self.confirmed = TokenAmount(served)
        if self.pending is not None and int(self.pending.cumulative_amount) <= served:
            self.pending = None
        self.fast.wallet.save_channel(self)

    # --- on chain ----------------------------------------------------------------------------

    def chain_state(self) -> Channel:
        return self.fast.channels.channel(self.channel_id)

    def top_up(self, amount: int) -> TokenAmount:
        with self.fast.tx_lock:
            event = self.fast.channels.top_up(self.fast.account, self.channel_id, amount)
        self.deposit = TokenAmount(int(event.deposit))
        self.fast.wallet.save_channel(self)
        return self.deposit

    def start_close(self) -> int:
        """Ask to close: the provider closes with its latest voucher, or ``settle`` after the period."""
        with self.fast.tx_lock:
            event = self.fast.channels.start_close(self.fast.account, self.channel_id)
        self.closing = True
        self.fast.wallet.save_channel(self, "closing")
        return int(event.closes_at)

    def settle(self) -> int:
        """After the challenge period: the unpaid deposit comes back; returns the refund."""
        with self.fast.tx_lock:
            event = self.fast.channels.settle(self.fast.account, self.channel_id)
        self.fast.wallet.save_channel(self, "closed")
        return int(event.refund)

    def mark_closed(self) -> None:
        self.closing = True
        self.fast.wallet.save_channel(self, "closed")

    # --- HTTP clients --------------------------------------------------------------------------

    def http_client(self, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` whose requests carry vouchers and whose receipts are checked."""
        return httpx.Client(transport=VoucherTransport(self), **kwargs)

    def openai_http_client(self, **kwargs: Any) -> Any:
        """The client object the official ``openai`` package takes as ``http_client``.

        openai ≥ 3 is built on ``httpx2``, earlier versions on ``httpx``: whichever it
        uses, the same voucher transport goes under it.
        """
        try:
            import httpx2
        except ImportError:
            return self.http_client(**kwargs)
        transport = _httpx2_transport(self, httpx2)
        return httpx2.Client(transport=transport, **kwargs)


# --- pricing -----------------------------------------------------------------------------------


class Pricing:
    """A provider's prices (``GET /v1/fastpath``) and the quote of a request body."""

    def __init__(self, prices: dict[str, int]) -> None:
        self.prices = prices

    @classmethod
    def fetch(cls, url: str, http: httpx.Client | None = None) -> Pricing:
        client = http or httpx.Client(timeout=10.0)
        try:
            data = client.get(url.rstrip("/") + "/v1/fastpath").raise_for_status().json()
        except httpx.HTTPError as exc:
            raise VoucherError(f"cannot read the prices of {url}: {exc}", reason="no_prices",
                               hint="is the provider up? GET /v1/fastpath") from None
        finally:
            if http is None:
                client.close()
        return cls({k: int(v["price"]) for k, v in data["prices"].items()})

    def quote(self, path: str, body: bytes | dict[str, Any]) -> TokenAmount:
        """What a request costs: ``embed`` per input text, ``generate`` per request."""
        if path.rstrip("/").endswith("/embeddings"):
            data = json.loads(body) if isinstance(body, bytes) else body
            value = data.get("input", "") if isinstance(data, dict) else ""
            units = len(value) if isinstance(value, list) and value and isinstance(value[0], str) else 1
            return TokenAmount(self.prices["embed"] * units)
        return TokenAmount(self.prices["generate"])


# --- a transport for httpx (and httpx2, under the openai client) ---------------------------------


def stream_receipt(data: bytes) -> tuple[bytes, str | None]:
    """Split a finished SSE body into (the bytes the receipt hashes, the receipt JSON or None)."""
    at = data.find(SSE_RECEIPT_PREFIX)
    while at > 0 and data[at - 2:at] != b"\n\n":
        at = data.find(SSE_RECEIPT_PREFIX, at + 1)
    if at < 0:
        return data, None
    end = data.find(b"\n", at)
    line = data[at + len(SSE_RECEIPT_PREFIX): end if end >= 0 else len(data)]
    return data[:at], line.decode()


class _Exchange:
    """One paid request through a transport: pay, send, check the receipt, release the lane."""

    def __init__(self, session: ChannelSession, pricing: Callable[[], Pricing]) -> None:
        self.session = session
        self.pricing = pricing

    def send(self, request: Any, forward: Callable[[Any], Any]) -> Any:
        body = request.read()
        path = request.url.path
        if request.method != "POST" or not path.rstrip("/").endswith(("/embeddings", "/completions")):
            return forward(request)  # /v1/models and friends are free
        session = self.session
        session.lock.acquire()
        released = False
        try:
            price = self.pricing().quote(path, body)
            for attempt in range(2):
                request.headers[VOUCHER_HEADER] = session.pay(price).encode()
                try:
                    response = forward(request)
                except BaseException:
                    session.failed()
                    raise
                if response.status_code == 200:
                    break
                response.read()
                if 400 <= response.status_code < 500 and response.status_code != 499:
                    served = _served_after_refusal(response) if response.status_code == 402 else None
                    session.refused()
                    if served is not None and attempt == 0:
                        session.resync(served)  # an answer was lost on the way: pay on from there
                        continue
                else:
                    session.failed()
                return response
            if response.headers.get("content-type", "").startswith("text/event-stream"):
                released = True  # the stream releases the lane when it ends
                return response, _StreamCheck(session, body)
            data = response.read()
            header = response.headers.get(RECEIPT_HEADER)
            if header is None:
                session.failed()
                raise SignatureError("the provider answered without a receipt")
            session.confirm(header, request=body, response=data)
            return response
        finally:
            if not released:
                session.lock.release()


def _served_after_refusal(response: Any) -> int | None:
    """The amount the provider has served, from a 402 for a stale or underpaid voucher."""
    try:
        data = json.loads(response.content)
        if data["error"]["code"] not in ("stale", "underpaid"):
            return None
        return int(data["payment"]["channel"]["served"])
    except (ValueError, KeyError, TypeError):
        return None


class _StreamCheck:
    """Collects a stream's bytes; at its end checks the receipt and frees the lane."""

    def __init__(self, session: ChannelSession, request: bytes) -> None:
        self.session = session
        self.request = request
        self.buffer = bytearray()
        self.done = False

    def feed(self, chunk: bytes) -> None:
        self.buffer += chunk

    def finish(self, complete: bool) -> None:
        if self.done:
            return
        self.done = True
        try:
            hashed, receipt = stream_receipt(bytes(self.buffer))
            # The receipt follows the last event: once it is here the answer is whole, even
            # if the reader stopped at it (the openai client closes the stream at [DONE]).
            if receipt is not None:
                self.session.confirm(receipt, request=self.request, response=hashed)
            else:
                self.session.failed()
        finally:
            self.session.lock.release()


def _checked_stream(inner: Iterable[bytes], check: _StreamCheck, close: Callable[[], None]) -> Iterator[bytes]:
    complete = False
    try:
        for chunk in inner:
            check.feed(chunk)
            yield chunk
        complete = True
    finally:
        close()
        check.finish(complete)


class VoucherTransport(httpx.BaseTransport):
    """An httpx transport that pays each fast-path request from ``session`` and checks its receipt."""

    def __init__(self, session: ChannelSession, inner: httpx.BaseTransport | None = None) -> None:
        self.session = session
        self.inner = inner or httpx.HTTPTransport(socket_options=NO_DELAY)
        self._pricing: Pricing | None = None
        self.exchange = _Exchange(session, self.pricing)

    def pricing(self) -> Pricing:
        if self._pricing is None:
            self._pricing = Pricing.fetch(self.session.url)
        return self._pricing

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        result = self.exchange.send(request, self.inner.handle_request)
        if not isinstance(result, tuple):
            assert isinstance(result, httpx.Response)
            return result
        response, check = result
        stream = response.stream
        assert isinstance(stream, httpx.SyncByteStream)
        return httpx.Response(response.status_code, headers=response.headers,
                              stream=_IterStream(_checked_stream(stream, check, stream.close)),
                              extensions=response.extensions)

    def close(self) -> None:
        self.inner.close()


class _Chunks:
    """A response body from an iterator of chunks; mixed into httpx's and httpx2's stream bases."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if callable(close):
            close()


class _IterStream(_Chunks, httpx.SyncByteStream):
    pass


def _httpx2_transport(session: ChannelSession, httpx2: Any) -> Any:
    """The same transport for httpx2 (the openai ≥ 3 client), built on its base classes."""
    inner = httpx2.HTTPTransport(socket_options=NO_DELAY)
    pricing: list[Pricing] = []

    def get_pricing() -> Pricing:
        if not pricing:
            pricing.append(Pricing.fetch(session.url))
        return pricing[0]

    exchange = _Exchange(session, get_pricing)

    class IterStream(_Chunks, httpx2.SyncByteStream):  # type: ignore[misc]
        pass

    class Transport(httpx2.BaseTransport):  # type: ignore[misc]
        def handle_request(self, request: Any) -> Any:
            result = exchange.send(request, inner.handle_request)
            if not isinstance(result, tuple):
                return result
            response, check = result
            stream = response.stream
            return httpx2.Response(response.status_code, headers=response.headers,
                                   stream=IterStream(_checked_stream(stream, check, stream.close)),
                                   extensions=response.extensions)

        def close(self) -> None:
            inner.close()

    return Transport()


# --- proving receipts against the chain ----------------------------------------------------------


@dataclass(frozen=True)
class AnchorCheck:
    """Where a receipt stands on chain.

    ``status``: ``included`` (``proof`` leads to the root anchored as ``anchor_sequence``,
    checked by the contract), ``excluded`` (the anchored batch ``listing`` covers the
    receipt's sequence and holds ``found_leaf`` there instead: the provider left it out),
    or ``pending`` (no anchored batch covers it yet).
    """

    status: str
    reason: str
    anchor_sequence: int | None = None
    proof: MerkleProof | None = None
    listing: str | None = None
    found_leaf: bytes | None = None

    @property
    def included(self) -> bool:
        return self.status == "included"


def check_receipt(receipt: SignedReceipt, *, anchors: Anchors, provider_url: str | None = None,
                  gateways: Iterable[str] = (), http: httpx.Client | None = None,
                  from_block: int = 0) -> AnchorCheck:
    """Prove a receipt's inclusion (or exclusion) against the chain; see ``AnchorCheck``.

    Asks the provider for the proof first (``GET /v1/receipts/{sequence}``); when it has
    none, or one that does not hold, reads the provider's anchors from the chain and the
    batch listings by CID (hash-checked, from the provider or any other gateway).
    """
    client = http or httpx.Client(timeout=10.0)
    try:
        if provider_url:
            found = _from_provider(receipt, anchors, provider_url, client)
            if found is not None:
                return found
        return _from_chain(receipt, anchors, [u for u in [provider_url, *gateways] if u], from_block)
    finally:
        if http is None:
            client.close()


def _from_provider(receipt: SignedReceipt, anchors: Anchors, url: str, http: httpx.Client) -> AnchorCheck | None:
    try:
        response = http.get(f"{url.rstrip('/')}/v1/receipts/{receipt.sequence}")
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    data = response.json()
    if not data.get("proof") or not data.get("anchor"):
        return None
    try:
        proof = MerkleProof.from_dict(data["proof"])
    except MerkleError:
        return None
    sequence = int(data["anchor"]["sequence"])
    if proof.leaf != receipt.leaf or not proof.verify():
        return None
    if not anchors.verify_inclusion(receipt.provider, sequence, proof.leaf, proof.siblings):
        return None
    return AnchorCheck("included", f"in batch {sequence} of {receipt.provider}, checked by the Anchors contract",
                       sequence, proof, str(data["anchor"].get("listing") or ""))


def _from_chain(receipt: SignedReceipt, anchors: Anchors, urls: list[str], from_block: int) -> AnchorCheck:
    from deai.store import GatewayClient

    events = anchors.events(provider=receipt.provider, from_block=from_block)
    if not urls:
        return AnchorCheck("pending", "no gateway to read batch listings from; give provider_url or gateways")
    with GatewayClient(urls, timeout=10.0) as gateway:
        for event in events:
            if not event.uri:
                continue
            try:
                listing = json.loads(gateway.read_bytes(event.uri))
            except (DeaiError, ValueError):
                continue
            if not isinstance(listing, dict) or listing.get("kind") != LISTING_KIND:
                continue  # a provenance batch, not receipts
            first, last = int(listing["first_sequence"]), int(listing["last_sequence"])
            if not first <= receipt.sequence <= last:
                continue
            leaves = [bytes.fromhex(str(v).removeprefix("0x")) for v in listing["leaves"]]
            tree = MerkleTree(leaves)
            if tree.root != event.root:
                continue  # a listing that does not match its anchor proves nothing
            index = receipt.sequence - first
            if leaves[index] != receipt.leaf:
                return AnchorCheck(
                    "excluded", f"batch {event.sequence} covers receipts {first}–{last} but holds another leaf "
                    f"at {receipt.sequence}: the provider left this receipt out", event.sequence,
                    listing=event.uri, found_leaf=leaves[index])
            proof = tree.proof(index)
            if anchors.verify_inclusion(receipt.provider, event.sequence, proof.leaf, proof.siblings):
                return AnchorCheck("included", f"in batch {event.sequence} of {receipt.provider} (listing "
                                   f"{event.uri}), checked by the Anchors contract", event.sequence, proof,
                                   event.uri)
    return AnchorCheck("pending", f"no anchored batch of {receipt.provider} covers receipt {receipt.sequence} yet")


# --- the facade ------------------------------------------------------------------------------------


class FastPath:
    """One account's fast-path channels against one deployment, with its wallet."""

    def __init__(self, account: LocalAccount, deployment: Deployment, *, data_dir: Path | None = None,
                 w3: Web3 | None = None) -> None:
        self.account = account
        self.address = Address(str(account.address))
        self.deployment = deployment
        self.w3 = w3 or connect(deployment.rpc_url)
        self.channels = Channels.from_deployment(self.w3, deployment)
        self.anchors = Anchors.from_deployment(self.w3, deployment)
        self.signer = VoucherSigner(account, self.channels.domain())
        self.receipts = ReceiptVerifier(receipt_domain(deployment.chain_id, self.anchors.address))
        self.wallet = Wallet(None if data_dir is None else Path(data_dir) / "fastpath" / "wallet.sqlite")
        # One transaction at a time from this account: each takes the next nonce from the
        # chain, and two lanes opening channels at once would otherwise pick the same one.
        self.tx_lock = threading.Lock()

    def close(self) -> None:
        self.wallet.close()

    def open_channel(self, provider: str, deposit: int, *, url: str = "") -> ChannelSession:
        """Open (and fund) a channel to ``provider``; ``url`` is where its API answers."""
        if deposit <= 0:
            raise VoucherError("a channel needs a positive deposit", reason="malformed",
                               hint="e.g. deposit=tokens(5)")
        with self.tx_lock:
            event = self.channels.open(self.account, provider, deposit)
        session = ChannelSession(self, event.channel_id, provider, int(event.deposit), url=url)
        self.wallet.save_channel(session)
        return session

    def sessions(self) -> list[ChannelSession]:
        """The open channels this wallet holds, as sessions (after a restart, with their amounts)."""
        return [ChannelSession(self, r.channel_id, r.provider, int(r.deposit), url=r.url,
                               confirmed=int(r.confirmed), pending=r.pending)
                for r in self.wallet.channels()]

    def session(self, channel_id: bytes, *, url: str = "") -> ChannelSession:
        """A session for a channel this account opened (read from the chain when not in the wallet)."""
        for record in self.wallet.channels(state=None):
            if bytes(record.channel_id) == bytes(channel_id):
                return ChannelSession(self, record.channel_id, record.provider, int(record.deposit),
                                      url=url or record.url, confirmed=int(record.confirmed),
                                      pending=record.pending)
        channel = self.channels.channel(channel_id)
        if not channel.exists or channel.client != self.address:
            raise VoucherError(f"channel 0x{bytes(channel_id).hex()} is not an open channel of {self.address}",
                               reason="unknown_channel")
        session = ChannelSession(self, channel_id, channel.provider, int(channel.deposit), url=url,
                                 confirmed=int(channel.paid))
        self.wallet.save_channel(session)
        return session

    def check(self, receipt: SignedReceipt, *, provider_url: str | None = None,
              http: httpx.Client | None = None) -> AnchorCheck:
        """``check_receipt`` against this deployment's Anchors."""
        return check_receipt(receipt, anchors=self.anchors, provider_url=provider_url, http=http,
                             from_block=self.deployment.block)

