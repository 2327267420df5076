"""``FastPathService``: a provider's paid, receipted, OpenAI-compatible inference.

Per request (``router.py`` drives it): the body's size is checked, the request parsed and
validated and its price quoted (``prepare_*``) — all before payment; then the voucher is
accepted (``charge``; HTTP 402 with the price and how to pay when it is missing or
refused); then the loaded model runs in-process (no worker process, no store writes);
then ``issue`` signs and stores the receipt in one SQLite transaction and the answer goes
back with it. A request that fails after its voucher was accepted is released: nothing is
charged and the client may send the same voucher again (``ledger.py``).

A background thread keeps the channel state in step with the ``Channels`` events, anchors
receipt batches (``anchoring.py``), closes a channel with its latest served voucher as
soon as its client starts a close, and redeems served vouchers every ``redeem_interval_s``.

Prices are the provider's listed prices (``ProviderSettings.prices``, the same numbers the
Registry shows): ``embed`` per input text, ``generate`` per request (up to the model's
context). The node's ``delay_s`` (a slower machine, in demos and tests) is added to each
request, spread over the tokens of a stream.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from eth_account.signers.local import LocalAccount
from web3 import Web3

from deai.chain.anchors import Anchors
from deai.chain.channels import ChannelClosed, Channels, ChannelSettled, CloseStarted
from deai.chain.deploy import Deployment
from deai.errors import ContractRevert, DeaiError, InputError, ModelError, VoucherError
from deai.market.vouchers import ChannelTerms, SignedVoucher, VoucherVerifier
from deai.node.fastpath import openai_api as oa
from deai.node.fastpath.anchoring import DEFAULT_MAX_BATCH, ReceiptBatcher
from deai.node.fastpath.ledger import Charge, PaymentLedger
from deai.node.fastpath.receipts import (
    Receipt,
    ReceiptSigner,
    SignedReceipt,
    body_hash,
    receipt_domain,
)
from deai.node.fastpath.store import ReceiptStore
from deai.node.fastpath.streaming import TextPieces, generate_tokens, prompt_ids
from deai.runtime.base import LoadedModel
from deai.runtime.execute import Executor, text_generator_of
from deai.runtime.manifest import MANIFEST_NAME, parse_manifest
from deai.runtime.tasks import EmbedRequest, load_npy
from deai.runtime.textgen import TextGenerator
from deai.store import LocalStore
from deai.units import Address, ChannelId, TokenAmount

if TYPE_CHECKING:
    from deai.node.provider import ProviderNode

log = logging.getLogger("deai.fastpath")

FASTPATH_KINDS = ("embed", "generate")
PRICE_UNITS = {"embed": "input text", "generate": "request"}
SWITCH_INTERVAL_S = 0.001


@dataclass(frozen=True)
class FastPathSettings:
    """Limits and timers of a provider's fast path."""

    max_body_bytes: int = 1 * 2**20
    max_inputs: int = 256
    default_max_tokens: int = 16
    batch_interval_s: float = 10.0
    """Anchor at least this often (and whenever ``max_batch`` receipts wait): each anchor is a
    transaction, and the chain reads it sets off cost the node CPU that requests would use."""
    max_batch: int = DEFAULT_MAX_BATCH
    poll_interval_s: float = 1.0
    redeem_interval_s: float = 300.0
    delay_s: float = 0.0
    keep_bodies: bool = True
    cheat: str | None = None
    """Tests only: a fast-path adversary mode (``deai.node.adversary.FASTPATH_MODES``); None is honest."""


@dataclass
class ModelEntry:
    """One served model: name and CID, its task, and the loaded runtime once warm."""

    cid: str
    name: str
    task: str
    loaded: LoadedModel | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class Prepared:
    """A parsed, validated, priced request: nothing has run and nothing is paid yet."""

    kind: str
    model: ModelEntry
    price: TokenAmount
    request: oa.Req
    texts: tuple[str, ...] = ()
    prompt: tuple[int, ...] = ()
    max_tokens: int = 0
    chat: bool = False

    @property
    def stream(self) -> bool:
        return not isinstance(self.request, oa.EmbeddingsRequest) and self.request.stream


@dataclass
class FastPathStats:
    requests: int = 0
    refused: int = 0
    released: int = 0
    earned: int = 0


class FastPathService:
    """The fast path of one provider key (see the module docstring)."""

    def __init__(
        self, *, w3: Web3, deployment: Deployment, account: LocalAccount, blocks: LocalStore,
        data_dir: Path, model_cids: tuple[str, ...], prices: dict[str, int],
        anchor_lock: threading.Lock | threading.RLock | None = None, cache_dir: Path | None = None,
        settings: FastPathSettings | None = None,
    ) -> None:
        self.w3 = w3
        self.deployment = deployment
        self.account = account
        self.address = Address(str(account.address))
        self.blocks = blocks
        self.settings = settings or FastPathSettings()
        self.prices = {k: TokenAmount(int(v)) for k, v in prices.items() if k in FASTPATH_KINDS}
        self.channels = Channels.from_deployment(w3, deployment)
        self.anchors = Anchors.from_deployment(w3, deployment)
        self.voucher_domain = self.channels.domain()
        self.receipt_domain = receipt_domain(deployment.chain_id, self.anchors.address)
        self.verifier = VoucherVerifier(self.voucher_domain, self.address)
        self.ledger = PaymentLedger(self.verifier)
        self.signer = ReceiptSigner(account, self.receipt_domain)
        self.store = ReceiptStore(Path(data_dir) / "fastpath" / "receipts.sqlite",
                                  keep_bodies=self.settings.keep_bodies)
        self.batcher = ReceiptBatcher(self.store, blocks, self.anchors, account,
                                      anchor_lock if anchor_lock is not None else threading.Lock(),
                                      chain_id=deployment.chain_id, max_batch=self.settings.max_batch)
        self.executor = Executor(blocks, cache_dir=cache_dir or Path(data_dir) / "cache")
        self.models: dict[str, ModelEntry] = {}
        for cid in model_cids:
            manifest = parse_manifest(blocks.read_bytes(f"{cid}/{MANIFEST_NAME}"))
            kind = "generate" if manifest.task == "generate" else manifest.task
            if kind in FASTPATH_KINDS:
                entry = ModelEntry(str(cid), manifest.name, kind)
                self.models[str(cid)] = entry
                self.models.setdefault(manifest.name, entry)
        self.stats = FastPathStats()
        self._cursor = deployment.block
        self._closing: dict[bytes, float] = {}
        self._unknown: dict[bytes, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_redeem = time.monotonic()
        self._chain_lock = threading.Lock()

    @classmethod
    def for_node(cls, node: ProviderNode) -> FastPathService:
        """The fast path of a provider node: its key, store, models, prices and anchor lock."""
        return cls(
            w3=node.w3, deployment=node.deployment, account=node.account, blocks=node.store,
            data_dir=node.config.data_dir, model_cids=node.models, prices=node.settings.prices,
            anchor_lock=node.anchor_lock, cache_dir=node.cache_dir,
            settings=FastPathSettings(delay_s=node.settings.delay_s, cheat=_fastpath_cheat(node.settings.cheat)),
        )

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self, *, warm: bool = True) -> FastPathService:
        """Read the channels from the chain, restore served vouchers, start the background thread."""
        # The model runs in one thread at a time and needs the GIL between kernels; with the
        # default 5 ms switch interval it waits behind the event loop and the chain followers.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        self.sync_channels()
        for voucher in self.store.served_vouchers():
            self._restore(voucher)
        self._thread = threading.Thread(target=self._run, name="fastpath", daemon=True)
        self._thread.start()
        if warm:
            threading.Thread(target=self._warm, name="fastpath-warm", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        try:
            self.batcher.flush()
        except DeaiError as exc:
            log.warning("final receipt anchor failed: %s", exc)
        self.store.close()

    def _warm(self) -> None:
        for entry in {id(e): e for e in self.models.values()}.values():
            try:
                self._loaded(entry)
            except DeaiError as exc:
                log.warning("fast path cannot load %s: %s", entry.name, exc)

    def _run(self) -> None:
        last_flush = time.monotonic()
        while not self._stop.wait(self.settings.poll_interval_s):
            try:
                self.sync_channels()
                self._close_requested()
                now = time.monotonic()
                waiting = self.store.unbatched_count()
                if waiting and (now - last_flush >= self.settings.batch_interval_s
                                or waiting >= self.settings.max_batch):
                    self.flush()
                    last_flush = now
                if now - self._last_redeem >= self.settings.redeem_interval_s:
                    self.redeem_all()
            except DeaiError as exc:
                log.warning("fast path: %s", exc)
            except Exception:
                log.exception("fast path background step failed")

    # --- channels ----------------------------------------------------------------------------

    def sync_channels(self) -> None:
        """Apply every Channels event since the last call (top-ups, redeems, closes)."""
        head = int(self.w3.eth.block_number)
        if self._cursor > head:
            return
        for event in self.channels.events(from_block=self._cursor, to_block=head):
            self.verifier.apply(event)
            if isinstance(event, CloseStarted) and event.provider == self.address:
                self._closing.setdefault(bytes(event.channel_id), time.monotonic())
            elif isinstance(event, (ChannelClosed, ChannelSettled)):
                self._closing.pop(bytes(event.channel_id), None)
        self._cursor = head + 1

    def _restore(self, voucher: SignedVoucher) -> None:
        try:
            self.ledger.restore(voucher)
        except VoucherError as exc:  # e.g. the channel is closing: the ledger still has it
            log.info("served voucher of 0x%s kept as is: %s", bytes(voucher.channel_id).hex(), exc.message)

    def _lookup(self, channel_id: bytes) -> bool:
        """A channel opened or topped up after the last sync: read it from the chain (rate-limited)."""
        now = time.monotonic()
        if self._unknown.get(channel_id, 0.0) > now:
            return False
        known = self.verifier.terms(channel_id)
        channel = self.channels.channel(channel_id)
        terms = self.verifier.terms(channel_id)
        if known is None and terms is not None:
            return True  # the event follower tracked it in the meantime
        if terms is not None and int(channel.deposit) <= int(terms.deposit):
            self._unknown[channel_id] = now + 2.0  # nothing new on chain
            return False
        if not channel.exists or channel.provider != self.address:
            self._unknown[channel_id] = now + 2.0
            if len(self._unknown) > 10_000:
                self._unknown.clear()
            return False
        self.verifier.track(ChannelTerms.from_channel(channel))
        for voucher in self.store.served_vouchers():
            if bytes(voucher.channel_id) == channel_id:
                self._restore(voucher)
        return True

    def charge(self, header: str | None, price: int) -> Charge:
        """Accept the request's voucher; VoucherError (HTTP 402) when missing or refused."""
        if not header:
            raise VoucherError("this request needs a payment voucher",
                               reason="missing", hint="send one in the X-Deai-Voucher header")
        voucher = SignedVoucher.decode(header)
        try:
            return self.ledger.charge(voucher, price)
        except VoucherError as exc:
            # A channel opened or topped up in the last blocks: the events may not be read
            # yet, so ask the chain once before refusing.
            if exc.reason == "unknown_channel" and self.verifier.terms(bytes(voucher.channel_id)) is not None:
                return self.ledger.charge(voucher, price)  # tracked by the event follower just now
            if exc.reason in ("unknown_channel", "over_deposit") and self._lookup(bytes(voucher.channel_id)):
                return self.ledger.charge(voucher, price)
            raise

    def payment_info(self, price: int | None, channel_id: bytes | None = None) -> dict[str, Any]:
        """What a client needs to pay: the price, the header, the voucher format and domain."""
        info: dict[str, Any] = {
            "price": None if price is None else str(price),
            "header": "X-Deai-Voucher",
            "format": "0x<channel id>:<cumulative amount>:0x<signature>",
            "voucher": "EIP-712 Voucher(bytes32 channelId,uint256 cumulativeAmount)",
            "domain": self.voucher_domain.as_dict(),
            "provider": self.address,
            "channels": self.channels.address,
            "open": "open a channel to this provider (deai.client.channels.open_channel)",
        }
        if channel_id is not None:
            terms = self.verifier.terms(channel_id)
            served, _ = self.ledger.served(channel_id)
            if terms is not None:
                accepted = int(self.verifier.accepted(channel_id))
                info["channel"] = {
                    "id": "0x" + bytes(channel_id).hex(), "deposit": str(int(terms.deposit)),
                    "paid": str(int(terms.paid)), "accepted": str(accepted), "served": str(int(served)),
                    "next_amount": None if price is None else str(accepted + price),
                    "closing": terms.closing,
                }
        return info

    def info(self) -> dict[str, Any]:
        return {
            "provider": self.address, "chain_id": self.deployment.chain_id,
            "channels": self.channels.address, "anchors": self.anchors.address,
            "voucher_domain": self.voucher_domain.as_dict(),
            "receipt_domain": self.receipt_domain.as_dict(),
            "prices": {k: {"price": str(int(v)), "per": PRICE_UNITS[k]} for k, v in self.prices.items()},
            "max_body_bytes": self.settings.max_body_bytes, "max_inputs": self.settings.max_inputs,
            "receipts": self.store.count(),
        }

    def model_list(self) -> list[dict[str, Any]]:
        seen = {id(e): e for e in self.models.values()}.values()
        return [
            {"id": e.name, "object": "model", "created": 0, "owned_by": self.address,
             "deai": {"cid": e.cid, "task": e.task, "price": str(int(self.prices.get(e.task, 0))),
                      "per": PRICE_UNITS[e.task]}}
            for e in seen if e.task in self.prices
        ]

    # --- preparing (before payment) ----------------------------------------------------------

    def _model(self, name: str, task: str) -> ModelEntry:
        entry = self.models.get(name)
        if entry is None or entry.task not in self.prices:
            names = sorted({e.name for e in self.models.values() if e.task in self.prices})
            raise ModelError(f"this provider does not serve model {name!r}",
                             hint=f"models here: {', '.join(names) or 'none'} (GET /v1/models)")
        if entry.task != task:
            raise InputError(f"model {name!r} is a {entry.task!r} model",
                             hint="use /v1/embeddings for embedding models and the completions routes for text generators")
        return entry

    def _loaded(self, entry: ModelEntry) -> LoadedModel:
        if entry.loaded is None:
            with entry.lock:
                if entry.loaded is None:
                    entry.loaded = self.executor.load(entry.cid)
        return entry.loaded

    def prepare_embeddings(self, body: bytes) -> Prepared:
        request = oa.parse_request(oa.EmbeddingsRequest, body)
        assert isinstance(request, oa.EmbeddingsRequest)
        entry = self._model(request.model, "embed")
        texts = request.texts()
        if len(texts) > self.settings.max_inputs:
            raise InputError(f"{len(texts)} inputs in one request; this provider takes at most "
                             f"{self.settings.max_inputs}", hint="split the batch")
        return Prepared("embed", entry, TokenAmount(self.prices["embed"] * len(texts)), request,
                        texts=tuple(texts))

    def prepare_generation(self, body: bytes, *, chat: bool) -> Prepared:
        request = oa.parse_request(oa.ChatRequest if chat else oa.CompletionRequest, body)
        assert isinstance(request, (oa.ChatRequest, oa.CompletionRequest))
        entry = self._model(request.model, "generate")
        text = self._generator(entry)
        max_tokens = request.tokens_wanted(self.settings.default_max_tokens)
        request.stops()  # checked now, before payment
        ids = prompt_ids(text, request.prompt_text(), max_tokens)
        return Prepared("generate", entry, self.prices["generate"], request, prompt=tuple(ids),
                        max_tokens=max_tokens, chat=chat)

    def _generator(self, entry: ModelEntry) -> TextGenerator:
        text = text_generator_of(self._loaded(entry))
        if text is None:
            raise ModelError(f"model {entry.name!r} is not a text generator the fast path can stream")
        return text

    # --- running (after payment) -------------------------------------------------------------

    def run_embeddings(self, prepared: Prepared) -> bytes:
        loaded = self._loaded(prepared.model)
        embed = getattr(loaded, "embed", None)
        if self.settings.cheat is not None:  # the adversary of the tests: noise, no model run
            from deai.node.adversary import lazy_embeddings

            vectors = lazy_embeddings(len(prepared.texts), int(loaded.manifest.extra.get("dim", 384)))
        elif callable(embed):
            vectors = np.asarray(embed(list(prepared.texts)), dtype=np.float32)
        else:
            output = loaded.run(EmbedRequest(texts=prepared.texts))
            vectors = load_npy(output.blobs[0].data)
        if self.settings.delay_s:
            time.sleep(self.settings.delay_s)
        request = prepared.request
        assert isinstance(request, oa.EmbeddingsRequest)
        words = sum(len(t.split()) for t in prepared.texts)
        return oa.embeddings_body(prepared.model.name, vectors, request.encoding_format, words)

    def generate(self, prepared: Prepared) -> Iterator[bytes]:
        """The answer as SSE events (stream) or one JSON body (otherwise), piece by piece."""
        request = prepared.request
        assert isinstance(request, (oa.ChatRequest, oa.CompletionRequest))
        text = self._generator(prepared.model)
        pieces = TextPieces(text, request.stops(), text.eos)
        ident = ("chatcmpl-" if prepared.chat else "cmpl-") + uuid.uuid4().hex[:24]
        created, name = int(time.time()), prepared.model.name
        pause = self.settings.delay_s / max(1, prepared.max_tokens)
        tokens = generate_tokens(text, self._loaded(prepared.model).settings, list(prepared.prompt),
                                 prepared.max_tokens, temperature=request.temperature,
                                 top_k=request.top_k, seed=request.seed)
        if prepared.stream:
            yield oa.chunk_event(prepared.chat, ident, created, name, "" if prepared.chat else None,
                                 None, first=True)
        parts: list[str] = []
        for token in tokens:
            piece = pieces.add(token)
            if pause:
                time.sleep(pause)
            if piece:
                if prepared.stream:
                    yield oa.chunk_event(prepared.chat, ident, created, name, piece, None)
                else:
                    parts.append(piece)
            if pieces.stopped:
                break
        tail = pieces.finish()
        count = len(pieces.tokens)
        ended = pieces.stopped or (count > 0 and pieces.tokens[-1] == text.eos)
        finish = "length" if count >= prepared.max_tokens and not ended else "stop"
        if prepared.stream:
            if tail:
                yield oa.chunk_event(prepared.chat, ident, created, name, tail, None)
            yield oa.chunk_event(prepared.chat, ident, created, name, None if prepared.chat else "", finish)
            if request.include_usage:
                yield oa.usage_event(prepared.chat, ident, created, name, len(prepared.prompt), count)
        else:
            yield oa.completion_body(prepared.chat, ident, created, name, "".join(parts) + tail, finish,
                                     len(prepared.prompt), count)

    def issue(self, charge: Charge, prepared: Prepared, request: bytes, response: bytes) -> SignedReceipt:
        """The request was answered: charge it and sign, store and return its receipt."""
        issued = int(time.time())

        def store(paid: TokenAmount) -> SignedReceipt:
            return self.store.issue(lambda sequence: make(sequence, paid), self.signer.sign, charge.voucher,
                                    request, response)

        def make(sequence: int, paid: TokenAmount) -> Receipt:
            return Receipt(
                provider=self.address, channel_id=ChannelId(bytes(charge.channel_id)), sequence=sequence,
                request_hash=body_hash(request), response_hash=body_hash(response),
                model=prepared.model.cid, price=paid, cumulative_amount=charge.cumulative_amount,
                issued_at=issued,
            )

        paid, receipt = self.ledger.finish(charge, store)
        assert receipt is not None
        self.stats.requests += 1
        self.stats.earned += int(paid)
        return receipt

    def release(self, charge: Charge) -> None:
        self.ledger.release(charge)
        self.stats.released += 1

    # --- anchoring and settlement ------------------------------------------------------------

    def flush(self) -> int:
        """Anchor every receipt not anchored yet; returns how many batches were posted."""
        return len(self.batcher.flush())

    def proof(self, sequence: int) -> dict[str, Any] | None:
        return self.batcher.proof(sequence)

    def _send(self, what: str, action: Any) -> Any:
        # The node's other threads send with the same key; a nonce race is retried, not fatal.
        for attempt in range(3):
            try:
                with self._chain_lock:
                    return action()
            except ContractRevert as exc:
                if "nonce" not in exc.reason.lower() or attempt == 2:
                    raise
                log.info("%s: nonce race, sending again", what)
                time.sleep(0.2)
        return None

    def redeem_all(self) -> int:
        """Redeem every channel's latest served voucher that pays more than was paid; returns the sum."""
        self._last_redeem = time.monotonic()
        total = 0
        for channel in self.ledger.channels():
            served, voucher = self.ledger.served(channel)
            terms = self.verifier.terms(channel)
            if voucher is None or terms is None or int(served) <= int(terms.paid):
                continue
            try:
                event = self._send("redeem", lambda v=voucher: self.channels.redeem(self.account, v))
            except ContractRevert as exc:
                log.warning("redeem of 0x%s refused: %s", bytes(channel).hex(), exc.reason)
                continue
            self.verifier.apply(event)
            total += int(event.payout)
        return total

    def close_channel(self, channel_id: bytes) -> int:
        """End a channel with its latest served voucher; returns what the close paid this provider."""
        _, voucher = self.ledger.served(channel_id)
        terms = self.verifier.terms(channel_id)
        if terms is not None and voucher is not None and int(voucher.cumulative_amount) <= int(terms.paid):
            voucher = None  # nothing new to claim: close at what was paid, the rest goes back
        event = self._send("close", lambda: self.channels.close(self.account, channel_id, voucher))
        self.verifier.apply(event)
        return int(event.payout)

    def _close_requested(self) -> None:
        """Channels whose client started a close: claim what was served, at once."""
        for channel, since in list(self._closing.items()):
            # Let requests that are running finish (and be served) first, for a few seconds.
            if self.ledger.in_flight(channel) and time.monotonic() - since < 5.0:
                continue
            self._closing.pop(channel, None)
            try:
                paid = self.close_channel(channel)
                log.info("closed channel 0x%s on the client's request: %d paid", channel.hex(), paid)
            except ContractRevert as exc:
                log.info("channel 0x%s not closed: %s", channel.hex(), exc.reason)


def _fastpath_cheat(cheat: str | None) -> str | None:
    if cheat is None:
        return None
    from deai.node.adversary import fastpath_cheat

    return fastpath_cheat(cheat)
