"""Turn decoded chain events into the fact rows of ``schema.FACT_TABLES``.

``RowBuilder.add(event, ts)`` takes one ``deai.chain.follow.ChainEvent`` (with its block's
timestamp) and appends its rows; ``rows`` then maps each fact table to tuples in column
order. Token, Staking, Registry and JobMarket events go through the typed dataclasses of
``deai.chain.events``; Channels, Anchors and AINFT events are read from their ABI arguments.

Stake balances need the state before the event (a slash takes active stake first, then
unbonding stake), so the builder is given the latest known (staked, unbonding) per address
and carries it forward event by event — the same answer every replay gives, because events
arrive in (block, log index) order and the prior state comes from rows below the range.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from deai.apps.analytics.schema import FACT_TABLES
from deai.chain.ai_requests import FailureReason, RequestConfig
from deai.chain.cids import CODEC_RAW, bytes_to_cid, cid_from_digest
from deai.chain.events import (
    AssetRegistered,
    AssetTransferred,
    BidPlaced,
    ChainLog,
    FeesCollected,
    FeesSynced,
    JobAssigned,
    JobChallenged,
    JobEvent,
    JobPosted,
    JobSettled,
    MarketDeposited,
    MarketWithdrawn,
    PoolEvent,
    PoolMarketSet,
    PotSwept,
    ProviderActiveSet,
    ProviderRegistered,
    ProviderUpdated,
    ReceiptChallenged,
    ReceiptDisputeResolved,
    ReceiptEvent,
    ReceiptVoteCast,
    ReputationSet,
    ResultCommitted,
    ScoresReported,
    ShareClaimed,
    Slashed,
    Staked,
    StakeWithdrawn,
    StakeWithdrawRequested,
    Transfer,
    ValidatorActiveSet,
    ValidatorEndpointSet,
    ValidatorRegistered,
    VoteCast,
    from_chain_event,
)
from deai.chain.follow import ChainEvent
from deai.chain.types import AssetKind, JobStatus, WorkloadKind
from deai.errors import DeaiError

StakeState = tuple[int, int]
"""(staked, unbonding) of one address."""

_STATUS_AFTER: dict[type[JobEvent], JobStatus] = {
    JobPosted: JobStatus.OPEN,
    BidPlaced: JobStatus.OPEN,
    JobAssigned: JobStatus.ASSIGNED,
    ResultCommitted: JobStatus.COMMITTED,
    JobChallenged: JobStatus.DISPUTED,
    VoteCast: JobStatus.DISPUTED,
}
_JOB_COLUMNS = [c.split()[0] for c in FACT_TABLES["job_events"].split(", ")]


def _columns(table: str) -> list[str]:
    return [c.split()[0] for c in FACT_TABLES[table].split(", ")]


def plain(value: Any) -> Any:
    """A JSON-safe form of an event argument (bytes as 0x hex, tuples as lists)."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, bool | int | str) or value is None:
        return value
    return str(value)


def kind_name(index: int) -> str:
    try:
        return WorkloadKind(index).name.lower()
    except ValueError:
        return f"kind_{index}"


class RowBuilder:
    """Collects the fact rows of a run of events, in order."""

    def __init__(self, stake_state: Callable[[str], StakeState]) -> None:
        self._prior = stake_state
        self._stakes: dict[str, StakeState] = {}
        self.rows: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        # Slashed is logged by Staking inside the market call that settles a job; the job id
        # comes from the JobSettled of the same transaction, which may follow it. Likewise a
        # receipt dispute's slash and its ReceiptDisputeResolved.
        self._settled_in_tx: dict[str, int] = {}
        self._receipt_in_tx: dict[str, str] = {}
        self._slash_rows: list[tuple[int, list[Any]]] = []

    def _stake(self, who: str) -> StakeState:
        if who not in self._stakes:
            self._stakes[who] = self._prior(who)
        return self._stakes[who]

    def _put(self, table: str, key: tuple[Any, ...], **values: Any) -> None:
        self.rows[table].append((*key, *(values.get(c) for c in _columns(table))))

    def add(self, event: ChainEvent, ts: int) -> None:
        key = (event.block_number, event.log_index, event.tx_hash, ts)
        self._put("events", key, contract=event.contract, name=event.name,
                  args=json.dumps(plain(event.args), sort_keys=True))
        if event.contract == "Channels":
            self._channel(key, event)
            return
        if event.contract == "AINFT":
            self._nft(key, event)
            return
        if event.contract == "AIRequests":
            self._ai(key, event)
            return
        if event.contract == "Anchors":
            a = event.args
            if event.name == "AnchorPosted":
                self._put("anchors", key, provider=str(a["provider"]), sequence=int(a["sequence"]),
                          root=plain(a["root"]), leaf_count=int(a["count"]), uri=str(a["uri"]))
            return
        typed = from_chain_event(event)
        if typed is not None:
            self._typed(key, typed)

    def finish(self) -> dict[str, list[tuple[Any, ...]]]:
        """The rows, with slashes tied to the job or receipt dispute their transaction settled."""
        for position, values in self._slash_rows:
            tx = values[2]
            values[-2] = self._settled_in_tx.get(tx)
            values[-1] = self._receipt_in_tx.get(tx)
            self.rows["slash_events"].insert(position, tuple(values))
        self._slash_rows.clear()
        return dict(self.rows)

    # --- per contract -----------------------------------------------------------------------

    def _typed(self, key: tuple[Any, ...], e: ChainLog) -> None:
        if isinstance(e, Transfer):
            self._put("transfers", key, sender=e.sender, receiver=e.receiver, amount=e.value)
        elif isinstance(e, Staked | StakeWithdrawRequested | StakeWithdrawn | Slashed):
            self._staking(key, e)
        elif isinstance(e, ProviderRegistered | ProviderUpdated):
            kind = "registered" if isinstance(e, ProviderRegistered) else "updated"
            prices = {kind_name(i): str(p) for i, p in enumerate(e.prices) if p}
            self._put("provider_events", key, provider=e.provider, kind=kind, endpoint=e.endpoint,
                      capability_cid=e.capability_cid, prices=json.dumps(prices, sort_keys=True))
            for i, price in enumerate(e.prices):
                if price:
                    self._put("provider_prices", key, provider=e.provider, kind_index=i,
                              workload_kind=kind_name(i), price=price)
        elif isinstance(e, ProviderActiveSet):
            self._put("provider_events", key, provider=e.provider,
                      kind="activated" if e.active else "paused")
        elif isinstance(e, ValidatorRegistered):
            self._put("validator_events", key, validator=e.validator, kind="registered")
        elif isinstance(e, ValidatorActiveSet):
            self._put("validator_events", key, validator=e.validator,
                      kind="activated" if e.active else "deactivated")
        elif isinstance(e, ValidatorEndpointSet):
            self._put("validator_events", key, validator=e.validator, kind="endpoint", endpoint=e.endpoint)
        elif isinstance(e, AssetRegistered):
            kind = "model" if e.kind is AssetKind.MODEL else "dataset"
            self._put("asset_events", key, cid=e.cid, digest="0x" + e.digest.hex(), asset_kind=kind,
                      event="registered", owner=e.owner, licence_cid=e.licence_cid)
            for position, parent in enumerate(e.parent_cids):
                self.rows["asset_parents"].append((*key, e.cid, parent, position))
        elif isinstance(e, AssetTransferred):
            self._put("asset_events", key, cid=None, digest="0x" + e.digest.hex(), event="transferred",
                      owner=e.owner, previous_owner=e.previous_owner)
        elif isinstance(e, JobEvent):
            self._job(key, e)
        elif isinstance(e, MarketDeposited | MarketWithdrawn):
            kind = "deposit" if isinstance(e, MarketDeposited) else "withdraw"
            self._put("market_flows", key, account=e.account, kind=kind, amount=e.amount)
        elif isinstance(e, FeesCollected):
            self._put("market_flows", key, account=e.recipient, kind="fees_collected", amount=e.amount)
        elif isinstance(e, ReputationSet):
            self._put("reputation_events", key, provider=e.provider, score=e.score)
        elif isinstance(e, ReceiptEvent):
            self._receipt(key, e)
        elif isinstance(e, PoolEvent):
            self._pool(key, e)

    def _receipt(self, key: tuple[Any, ...], e: ReceiptEvent) -> None:
        digest = "0x" + e.digest.hex()
        values: dict[str, Any] = {"digest": digest, "event": type(e).__name__,
                                  "reason_code": int(e.reason), "reason": e.reason.sentence}
        if isinstance(e, ReceiptChallenged):
            values.update(provider=e.provider, challenger=e.challenger, receipt_sequence=e.receipt_sequence,
                          anchor_sequence=e.anchor_sequence, evidence_cid=e.evidence_cid,
                          committee=json.dumps(list(e.committee)), vote_end=e.vote_end)
        elif isinstance(e, ReceiptVoteCast):
            values.update(validator=e.validator, fraud=e.fraud)
        elif isinstance(e, ReceiptDisputeResolved):
            values.update(provider=e.provider, status=e.status.name, slashed=e.slashed,
                          bond_returned=e.bond_returned)
            self._receipt_in_tx[key[2]] = digest
        self._put("receipt_dispute_events", key, **values)

    def _pool(self, key: tuple[Any, ...], e: PoolEvent) -> None:
        values: dict[str, Any] = {"event": type(e).__name__, "reason_code": int(e.reason),
                                  "reason": e.reason.sentence}
        if isinstance(e, ScoresReported):
            values.update(validator=e.validator, epoch=e.epoch, root="0x" + e.root.hex(),
                          amount=e.weight, uri=e.uri)
        elif isinstance(e, FeesSynced):
            values.update(epoch=e.epoch, amount=e.amount, pot=e.pot)
        elif isinstance(e, ShareClaimed):
            values.update(validator=e.validator, epoch=e.epoch, amount=e.amount)
        elif isinstance(e, PotSwept):
            values.update(epoch=e.epoch, validator=e.recipient, amount=e.amount)
        elif isinstance(e, PoolMarketSet):
            values.update(validator=e.market)
        self._put("pool_events", key, **values)

    def _staking(
        self, key: tuple[Any, ...], e: Staked | StakeWithdrawRequested | StakeWithdrawn | Slashed
    ) -> None:
        staked, unbonding = self._stake(e.who)
        unlock_at = None
        if isinstance(e, Staked):
            kind, staked = "staked", e.staked
        elif isinstance(e, StakeWithdrawRequested):
            kind, staked, unbonding, unlock_at = "unbonding", staked - e.amount, unbonding + e.amount, e.unlock_at
        elif isinstance(e, StakeWithdrawn):
            kind, unbonding = "withdrawn", max(0, unbonding - e.amount)
        else:
            kind = "slashed"
            from_staked = min(e.amount, staked)
            staked, unbonding = staked - from_staked, max(0, unbonding - (e.amount - from_staked))
            values = [*key, e.who, e.slasher, e.beneficiary, e.amount, e.to_beneficiary,
                      e.to_treasury, None, None]
            self._slash_rows.append((len(self.rows["slash_events"]), values))
        self._stakes[e.who] = (staked, unbonding)
        self._put("stake_events", key, who=e.who, kind=kind, amount=e.amount, staked_after=staked,
                  unbonding_after=unbonding, unlock_at=unlock_at)

    def _job(self, key: tuple[Any, ...], e: JobEvent) -> None:
        status = e.status if isinstance(e, JobSettled) else _STATUS_AFTER.get(type(e))
        values: dict[str, Any] = {
            "job_id": e.job_id, "event": type(e).__name__, "reason_code": int(e.reason),
            "reason": e.reason.sentence, "status": status.name if status is not None else None,
        }
        if isinstance(e, JobPosted):
            values.update(client=e.client, max_price=e.max_price, spec_cid=e.spec_cid,
                          window_end=e.bid_window_end, deadline=e.deadline,
                          mode=e.mode.name.lower(), param=e.param)
        elif isinstance(e, BidPlaced):
            values.update(provider=e.provider, price=e.price, best=e.best)
        elif isinstance(e, JobAssigned):
            values.update(provider=e.provider, price=e.price, collateral=e.collateral,
                          refunded=e.refunded)
        elif isinstance(e, ResultCommitted):
            values.update(provider=e.provider, output_cid=e.output_cid,
                          result_hash="0x" + e.result_hash.hex(), window_end=e.challenge_end)
        elif isinstance(e, JobChallenged):
            values.update(challenger=e.challenger, bond=e.bond, window_end=e.vote_end,
                          committee=json.dumps(list(e.committee)))
        elif isinstance(e, VoteCast):
            values.update(challenger=e.validator, fraud=e.fraud)
        elif isinstance(e, JobSettled):
            values.update(paid=e.paid, fee=e.fee, refunded=e.refunded, slashed=e.slashed)
            self._settled_in_tx[key[2]] = e.job_id
        self.rows["job_events"].append((*key, *(values.get(c) for c in _JOB_COLUMNS)))

    def _nft(self, key: tuple[Any, ...], event: ChainEvent) -> None:
        a = event.args
        if event.name == "Transfer":
            self._put("nft_events", key, token_id=int(a["token_id"]), event="transfer",
                      sender=str(a["sender"]), receiver=str(a["receiver"]))
        elif event.name == "Minted":
            self._put("nft_events", key, token_id=int(a["tokenId"]), event="minted",
                      receiver=str(a["owner"]), provider=str(a["provider"]),
                      sequence=int(a["sequence"]), uri=str(a["uri"]))

    def _channel(self, key: tuple[Any, ...], event: ChainEvent) -> None:
        a = event.args
        channel_id = plain(a["channelId"])
        values: dict[str, Any] = {"channel_id": channel_id, "event": event.name,
                                  "client": a.get("client"), "provider": a.get("provider")}
        if event.name == "ChannelOpened":
            values.update(deposit=int(a["deposit"]), amount=int(a["deposit"]))
        elif event.name == "ChannelToppedUp":
            values.update(amount=int(a["amount"]), deposit=int(a["deposit"]))
        elif event.name == "VoucherRedeemed":
            values.update(amount=int(a["cumulativeAmount"]), payout=int(a["payout"]))
        elif event.name == "CloseStarted":
            values.update(closes_at=int(a["closesAt"]))
        elif event.name == "ChannelClosed":
            values.update(amount=int(a["cumulativeAmount"]), payout=int(a["payout"]),
                          refund=int(a["refund"]))
        elif event.name == "ChannelSettled":
            values.update(payout=int(a["paid"]), refund=int(a["refund"]))
        self._put("channel_events", key, **values)

    def _ai(self, key: tuple[Any, ...], event: ChainEvent) -> None:
        """AIRequests: requests and their callbacks, subscriptions, prepaid balances."""
        a, name = event.args, event.name
        if name in ("Deposited", "Withdrawn"):
            self._put("ai_flows", key, account=str(a["account"]), payer=a.get("payer"),
                      kind="deposit" if name == "Deposited" else "withdraw", amount=int(a["amount"]))
            return
        if name.startswith("Subscription"):
            values: dict[str, Any] = {"subscription_id": int(a["subscriptionId"]), "event": name}
            if name == "SubscriptionCreated":
                config = RequestConfig.unpack(int(a["config"]))
                values.update(consumer=str(a["consumer"]), model_cid=_cid(a["modelCid"]),
                              kind=config.params.kind.spec_kind, max_price=int(a["maxPrice"]),
                              period=int(a["period"]), rounds=int(a["rounds"]),
                              dynamic_input=config.dynamic_input)
            elif name == "SubscriptionFired":
                values.update(request_id=int(a["requestId"]), round=int(a["round"]))
            elif name == "SubscriptionCancelled":
                values.update(refunded=int(a["refunded"]))
            self._put("ai_subscription_events", key, **values)
            return
        values = {"request_id": int(a["requestId"]), "event": name, "consumer": a.get("consumer")}
        if name == "AIRequested":
            config = RequestConfig.unpack(int(a["config"]))
            data = bytes(a["input"])
            # the spec names the input by CID: given, or the raw-leaf CIDv1 of the inline bytes
            input_cid = _cid(data) if config.params.input_is_cid \
                else str(cid_from_digest(hashlib.sha256(data).digest(), CODEC_RAW))
            values.update(subscription_id=int(a["subscriptionId"]), model_cid=_cid(a["modelCid"]),
                          input_cid=input_cid, kind=config.params.kind.spec_kind,
                          output_as_cid=config.params.output_as_cid,
                          verification=str(config.verification), policy=config.policy.name.lower(),
                          gas_limit=config.callback_gas_limit, max_price=int(a["maxPrice"]))
        elif name == "AIDelivered":
            values.update(provider=str(a["provider"]), output=plain(a["output"]),
                          manifest_cid=_cid(a["manifestCid"]), refunded=int(a["refunded"]))
        elif name == "CallbackCalled":
            values.update(disputed=bool(a["disputed"]), success=bool(a["success"]),
                          gas_limit=int(a["gasLimit"]))
        elif name == "AIRequestFailed":
            reason = FailureReason(int(a["reason"]))
            values.update(reason_code=int(reason), reason=reason.sentence, refunded=int(a["refunded"]),
                          compensation=int(a["compensation"]))
        else:
            return  # an event this version does not know: kept in `events` only
        self._put("ai_request_events", key, **values)


def _cid(value: Any) -> str:
    """A binary CID from an event as its string form (the hex bytes if it is not one)."""
    try:
        return str(bytes_to_cid(bytes(value)))
    except DeaiError:
        return str(plain(value))
