"""The market contracts' events as typed, frozen dataclasses, and the decoder that makes them.

One dataclass per event of Token, Staking, Registry, JobMarket, ValidatorPool and ReceiptDisputes; field names are the
ABI names in snake_case, binary CIDs arrive as CID strings, reason and status codes as
``JobReason``/``JobStatus``. Every event also carries where it was logged (block,
transaction, log index). ``EventDecoder`` turns raw logs (a receipt's, ``eth_getLogs``'s)
or ``deai.chain.follow.ChainEvent`` records into these; the explorer and the nodes read
job histories through it, and ``explain`` tells a client why its job is where it is.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, TypeVar

from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.types import LogReceipt

from deai.chain.cids import bytes_to_cid
from deai.chain.compile import compile_contract
from deai.chain.follow import ChainEvent, EventAbis
from deai.chain.types import (
    AssetKind,
    JobReason,
    JobStatus,
    PoolReason,
    ReceiptDisputeStatus,
    ReceiptReason,
    VerificationMode,
)
from deai.units import Address, Cid, JobId, TokenAmount


@dataclass(frozen=True, kw_only=True)
class ChainLog:
    """Where an event was logged; the base of every event dataclass."""

    contract: ClassVar[str] = ""
    block_number: int
    transaction_hash: str
    log_index: int


# --- Token ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Transfer(ChainLog):
    contract: ClassVar[str] = "Token"
    sender: Address
    receiver: Address
    value: TokenAmount


@dataclass(frozen=True, kw_only=True)
class Approval(ChainLog):
    contract: ClassVar[str] = "Token"
    owner: Address
    spender: Address
    value: TokenAmount


# --- Staking -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Staked(ChainLog):
    contract: ClassVar[str] = "Staking"
    who: Address
    amount: TokenAmount
    staked: TokenAmount
    """The active stake after the deposit."""


@dataclass(frozen=True, kw_only=True)
class StakeWithdrawRequested(ChainLog):
    contract: ClassVar[str] = "Staking"
    who: Address
    amount: TokenAmount
    unlock_at: int


@dataclass(frozen=True, kw_only=True)
class StakeWithdrawn(ChainLog):
    contract: ClassVar[str] = "Staking"
    who: Address
    amount: TokenAmount


@dataclass(frozen=True, kw_only=True)
class Slashed(ChainLog):
    contract: ClassVar[str] = "Staking"
    who: Address
    slasher: Address
    beneficiary: Address
    amount: TokenAmount
    to_beneficiary: TokenAmount
    to_treasury: TokenAmount


@dataclass(frozen=True, kw_only=True)
class SlasherAdded(ChainLog):
    contract: ClassVar[str] = "Staking"
    slasher: Address


@dataclass(frozen=True, kw_only=True)
class LockerAdded(ChainLog):
    contract: ClassVar[str] = "Staking"
    locker: Address


# --- Registry ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ProviderRegistered(ChainLog):
    contract: ClassVar[str] = "Registry"
    provider: Address
    endpoint: str
    capability_cid: Cid
    prices: tuple[TokenAmount, ...]


@dataclass(frozen=True, kw_only=True)
class ProviderUpdated(ChainLog):
    contract: ClassVar[str] = "Registry"
    provider: Address
    endpoint: str
    capability_cid: Cid
    prices: tuple[TokenAmount, ...]


@dataclass(frozen=True, kw_only=True)
class ProviderActiveSet(ChainLog):
    contract: ClassVar[str] = "Registry"
    provider: Address
    active: bool


@dataclass(frozen=True, kw_only=True)
class ValidatorRegistered(ChainLog):
    contract: ClassVar[str] = "Registry"
    validator: Address
    index: int


@dataclass(frozen=True, kw_only=True)
class ValidatorActiveSet(ChainLog):
    contract: ClassVar[str] = "Registry"
    validator: Address
    active: bool


@dataclass(frozen=True, kw_only=True)
class ValidatorEndpointSet(ChainLog):
    contract: ClassVar[str] = "Registry"
    validator: Address
    endpoint: str
    """Where the validator's API and evidence gateway are served (its latest one counts)."""


@dataclass(frozen=True, kw_only=True)
class AssetRegistered(ChainLog):
    contract: ClassVar[str] = "Registry"
    digest: bytes
    owner: Address
    kind: AssetKind
    cid: Cid
    licence_cid: Cid
    parent_cids: tuple[Cid, ...]


@dataclass(frozen=True, kw_only=True)
class AssetTransferred(ChainLog):
    contract: ClassVar[str] = "Registry"
    digest: bytes
    previous_owner: Address
    owner: Address


# --- JobMarket -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class JobEvent(ChainLog):
    """An event about one job; ``reason`` says why it happened (``reason.sentence``)."""

    contract: ClassVar[str] = "JobMarket"
    job_id: JobId
    reason: JobReason


@dataclass(frozen=True, kw_only=True)
class JobPosted(JobEvent):
    client: Address
    spec_cid: Cid
    max_price: TokenAmount
    bid_window_end: int
    deadline: int
    mode: VerificationMode
    param: int


@dataclass(frozen=True, kw_only=True)
class BidPlaced(JobEvent):
    provider: Address
    price: TokenAmount
    best: bool
    """Whether this is now the best bid (lowest price weighted by reputation)."""


@dataclass(frozen=True, kw_only=True)
class JobAssigned(JobEvent):
    provider: Address
    price: TokenAmount
    collateral: TokenAmount
    """Provider stake locked until the job settles."""
    refunded: TokenAmount
    """Escrow above price + fee, returned to the client's market account."""


@dataclass(frozen=True, kw_only=True)
class ResultCommitted(JobEvent):
    provider: Address
    output_cid: Cid
    result_hash: bytes
    challenge_end: int


@dataclass(frozen=True, kw_only=True)
class JobChallenged(JobEvent):
    challenger: Address
    bond: TokenAmount
    committee: tuple[Address, ...]
    vote_end: int


@dataclass(frozen=True, kw_only=True)
class VoteCast(JobEvent):
    validator: Address
    fraud: bool


@dataclass(frozen=True, kw_only=True)
class JobSettled(JobEvent):
    """The job's last event: where what was still escrowed went."""

    status: JobStatus
    paid: TokenAmount
    """To the provider."""
    fee: TokenAmount
    """To the validators (parked under the provider's id until ``collectFees``)."""
    refunded: TokenAmount
    """To the client."""
    slashed: TokenAmount
    """Taken from the provider's stake (not from the escrow)."""


@dataclass(frozen=True, kw_only=True)
class MarketDeposited(ChainLog):
    contract: ClassVar[str] = "JobMarket"
    account: Address
    amount: TokenAmount


@dataclass(frozen=True, kw_only=True)
class MarketWithdrawn(ChainLog):
    contract: ClassVar[str] = "JobMarket"
    account: Address
    amount: TokenAmount


@dataclass(frozen=True, kw_only=True)
class FeesCollected(ChainLog):
    contract: ClassVar[str] = "JobMarket"
    recipient: Address
    amount: TokenAmount


@dataclass(frozen=True, kw_only=True)
class ReputationSet(ChainLog):
    contract: ClassVar[str] = "JobMarket"
    provider: Address
    score: int


@dataclass(frozen=True, kw_only=True)
class ReputationOracleSet(ChainLog):
    contract: ClassVar[str] = "JobMarket"
    oracle: Address


# --- ValidatorPool -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PoolEvent(ChainLog):
    """An event of the validator fee pool; ``reason.sentence`` says what happened."""

    contract: ClassVar[str] = "ValidatorPool"
    reason: PoolReason


@dataclass(frozen=True, kw_only=True)
class ScoresReported(PoolEvent):
    validator: Address
    epoch: int
    root: bytes
    weight: TokenAmount
    """The validator's stake when it reported: its weight in the epoch's fees and consensus."""
    uri: str
    """The scores, ``deai-scores/v1:<pid>=<score>,…`` (``deai.verify.reputation``)."""


@dataclass(frozen=True, kw_only=True)
class FeesSynced(PoolEvent):
    epoch: int
    amount: TokenAmount
    pot: TokenAmount
    """The epoch's pot after this sync."""


@dataclass(frozen=True, kw_only=True)
class ShareClaimed(PoolEvent):
    validator: Address
    epoch: int
    amount: TokenAmount


@dataclass(frozen=True, kw_only=True)
class PotSwept(PoolEvent):
    epoch: int
    recipient: Address
    amount: TokenAmount


@dataclass(frozen=True, kw_only=True)
class PoolMarketSet(PoolEvent):
    market: Address


# --- ReceiptDisputes -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ReceiptEvent(ChainLog):
    """An event about one receipt's dispute; ``reason.sentence`` says what happened."""

    contract: ClassVar[str] = "ReceiptDisputes"
    digest: bytes
    """The receipt's EIP-712 digest: the dispute id."""
    reason: ReceiptReason


@dataclass(frozen=True, kw_only=True)
class ReceiptChallenged(ReceiptEvent):
    provider: Address
    challenger: Address
    receipt_sequence: int
    anchor_sequence: int
    """The provider's Anchors batch the receipt was proven in."""
    evidence_cid: Cid
    committee: tuple[Address, ...]
    vote_end: int


@dataclass(frozen=True, kw_only=True)
class ReceiptVoteCast(ReceiptEvent):
    validator: Address
    fraud: bool


@dataclass(frozen=True, kw_only=True)
class ReceiptDisputeResolved(ReceiptEvent):
    provider: Address
    status: ReceiptDisputeStatus
    slashed: TokenAmount
    """Taken from the provider's stake (0 unless the response was found wrong)."""
    bond_returned: TokenAmount
    """Paid back to the challenger (0 when the committee upheld the receipt)."""


EVENT_TYPES: dict[str, dict[str, type[ChainLog]]] = {
    "Token": {"Transfer": Transfer, "Approval": Approval},
    "Staking": {
        "Staked": Staked, "WithdrawRequested": StakeWithdrawRequested, "Withdrawn": StakeWithdrawn,
        "Slashed": Slashed, "SlasherAdded": SlasherAdded, "LockerAdded": LockerAdded,
    },
    "Registry": {
        "ProviderRegistered": ProviderRegistered, "ProviderUpdated": ProviderUpdated,
        "ProviderActiveSet": ProviderActiveSet, "ValidatorRegistered": ValidatorRegistered,
        "ValidatorActiveSet": ValidatorActiveSet, "ValidatorEndpointSet": ValidatorEndpointSet,
        "AssetRegistered": AssetRegistered, "AssetTransferred": AssetTransferred,
    },
    "JobMarket": {
        "JobPosted": JobPosted, "BidPlaced": BidPlaced, "JobAssigned": JobAssigned,
        "ResultCommitted": ResultCommitted, "JobChallenged": JobChallenged, "VoteCast": VoteCast,
        "JobSettled": JobSettled, "Deposited": MarketDeposited, "Withdrawn": MarketWithdrawn,
        "FeesCollected": FeesCollected, "ReputationSet": ReputationSet,
        "ReputationOracleSet": ReputationOracleSet,
    },
    "ValidatorPool": {
        "ScoresReported": ScoresReported, "FeesSynced": FeesSynced, "ShareClaimed": ShareClaimed,
        "PotSwept": PotSwept, "MarketSet": PoolMarketSet,
    },
    "ReceiptDisputes": {
        "ReceiptChallenged": ReceiptChallenged, "ReceiptVoteCast": ReceiptVoteCast,
        "ReceiptDisputeResolved": ReceiptDisputeResolved,
    },
}
"""Contract name → ABI event name → dataclass."""

_E = TypeVar("_E", bound=ChainLog)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


_HINTS: dict[type[ChainLog], dict[str, Any]] = {}


def _hints(cls: type[ChainLog]) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _convert(hint: Any, value: Any) -> Any:
    if hint is Cid:
        return bytes_to_cid(bytes(value))
    if hint is Address:
        return Address(to_checksum_address(value))
    if hint is bytes:
        return bytes(value)
    if isinstance(hint, type) and issubclass(hint, IntEnum):
        return hint(int(value))
    if hint in (int, TokenAmount, JobId):
        return int(value)
    if hint is bool:
        return bool(value)
    if hint is str:
        return str(value)
    if typing.get_origin(hint) is tuple:
        inner = typing.get_args(hint)[0]
        return tuple(_convert(inner, item) for item in value)
    raise TypeError(f"no conversion for {hint!r}")  # a new event field type: add it above


def typed_event(
    contract: str, name: str, args: Mapping[str, Any], *, block_number: int,
    transaction_hash: str, log_index: int,
) -> ChainLog | None:
    """The dataclass for event ``name`` of ``contract`` with ABI ``args``; None if unknown."""
    cls = EVENT_TYPES.get(contract, {}).get(name)
    if cls is None:
        return None
    hints = _hints(cls)
    values = {_snake(key): value for key, value in args.items()}
    fields = {
        f.name: _convert(hints[f.name], values[f.name])
        for f in dataclasses.fields(cls)
        if f.name not in ("block_number", "transaction_hash", "log_index")
    }
    return cls(block_number=block_number, transaction_hash=transaction_hash, log_index=log_index, **fields)


def from_chain_event(event: ChainEvent) -> ChainLog | None:
    """The typed form of a ``deai.chain.follow`` record (None for other contracts' events)."""
    return typed_event(
        event.contract, event.name, event.args, block_number=event.block_number,
        transaction_hash=event.tx_hash, log_index=event.log_index,
    )


def explain(events: Iterable[ChainLog]) -> str:
    """Why a job is where it is: the sentence of its latest job event."""
    last: JobEvent | None = None
    for event in events:
        if isinstance(event, JobEvent):
            last = event
    return last.reason.sentence if last else JobReason.NONE.sentence


class EventDecoder:
    """Decode logs of the named contracts (name → address) into event dataclasses."""

    def __init__(self, w3: Web3, addresses: Mapping[str, str]) -> None:
        self.w3 = w3
        self._abis = EventAbis()
        for name, address in addresses.items():
            if name in EVENT_TYPES:
                self._abis.add(name, address, compile_contract(name).abi)

    def decode_log(self, log: LogReceipt) -> ChainLog | None:
        decoded = self._abis.decode(self.w3, log)
        if decoded is None:
            return None
        name, data = decoded
        return typed_event(
            name, str(data["event"]), dict(data["args"]), block_number=int(log["blockNumber"]),
            transaction_hash="0x" + bytes(log["transactionHash"]).hex(), log_index=int(log["logIndex"]),
        )

    def decode(self, logs: Iterable[LogReceipt]) -> list[ChainLog]:
        """Every known event among ``logs``, in the order given."""
        return [event for log in logs if (event := self.decode_log(log)) is not None]

    def of_type(self, logs: Iterable[LogReceipt], kind: type[_E]) -> list[_E]:
        return [event for event in self.decode(logs) if isinstance(event, kind)]
