"""Typed wrapper over the ``Channels`` contract: open, top up, redeem, close, settle, events.

One frozen dataclass per on-chain struct (``Channel``) and per event. Every transaction
goes through ``deai.chain.rpc.send``, so a revert raises ``ContractRevert`` whose
``reason`` is the contract's own string (``"channels: stale voucher"``, …) and nothing
changed on chain. Vouchers are built and checked in ``deai.market.vouchers`` (the market
sits above the chain, so this module never imports it); here a voucher is anything with
``channel_id``, ``cumulative_amount`` and ``signature``, such as ``SignedVoucher``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.types import LogReceipt, TxReceipt

from deai.chain.compile import compile_contract
from deai.chain.deploy import Deployment
from deai.chain.rpc import revert_reason, send
from deai.errors import ChainError, ContractRevert
from deai.identity.signing import Eip712Domain
from deai.units import Address, ChannelId, TokenAmount

ZERO_ADDRESS = "0x" + "00" * 20
# The EIP-712 domain the contract hard-codes (NAME_HASH, VERSION_HASH in Channels.vy).
CHANNELS_DOMAIN_NAME = "deai-channels"
CHANNELS_DOMAIN_VERSION = "1"


class VoucherLike(Protocol):
    """A signed voucher as the contract takes it (``deai.market.vouchers.SignedVoucher`` is one)."""

    @property
    def channel_id(self) -> bytes: ...

    @property
    def cumulative_amount(self) -> int: ...

    @property
    def signature(self) -> bytes: ...


@dataclass(frozen=True)
class Channel:
    """``Channels.channels(id)``; a channel that ended (or never was) has ``exists == False``."""

    channel_id: ChannelId
    client: Address
    provider: Address
    deposit: TokenAmount
    paid: TokenAmount
    closes_at: int
    """0 while open; after ``startClose``, the time from which ``settle`` works."""

    @property
    def exists(self) -> bool:
        return self.client != ZERO_ADDRESS

    @property
    def closing(self) -> bool:
        return self.closes_at != 0

    @property
    def available(self) -> TokenAmount:
        return TokenAmount(self.deposit - self.paid)


# --- events --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelOpened:
    channel_id: ChannelId
    client: Address
    provider: Address
    deposit: TokenAmount
    challenge_period: int
    block_number: int
    transaction_hash: str


@dataclass(frozen=True)
class ChannelToppedUp:
    channel_id: ChannelId
    client: Address
    amount: TokenAmount
    deposit: TokenAmount
    """The deposit after the top-up."""
    block_number: int
    transaction_hash: str


@dataclass(frozen=True)
class VoucherRedeemed:
    channel_id: ChannelId
    provider: Address
    cumulative_amount: TokenAmount
    payout: TokenAmount
    block_number: int
    transaction_hash: str


@dataclass(frozen=True)
class CloseStarted:
    channel_id: ChannelId
    client: Address
    provider: Address
    closes_at: int
    block_number: int
    transaction_hash: str


@dataclass(frozen=True)
class ChannelClosed:
    channel_id: ChannelId
    client: Address
    provider: Address
    cumulative_amount: TokenAmount
    payout: TokenAmount
    """Paid to the provider by the close itself (the voucher minus what was redeemed before)."""
    refund: TokenAmount
    block_number: int
    transaction_hash: str


@dataclass(frozen=True)
class ChannelSettled:
    channel_id: ChannelId
    client: Address
    provider: Address
    paid: TokenAmount
    refund: TokenAmount
    block_number: int
    transaction_hash: str


ChannelEvent = (
    ChannelOpened | ChannelToppedUp | VoucherRedeemed | CloseStarted | ChannelClosed | ChannelSettled
)
_E = TypeVar("_E", bound=ChannelEvent)


def _from_log(name: str, args: dict[str, Any], log: LogReceipt) -> ChannelEvent:
    block, tx = int(log["blockNumber"]), "0x" + bytes(log["transactionHash"]).hex()
    cid = ChannelId(bytes(args["channelId"]))
    if name == "ChannelOpened":
        return ChannelOpened(cid, Address(args["client"]), Address(args["provider"]),
                             TokenAmount(args["deposit"]), int(args["challengePeriod"]), block, tx)
    if name == "ChannelToppedUp":
        return ChannelToppedUp(cid, Address(args["client"]), TokenAmount(args["amount"]),
                               TokenAmount(args["deposit"]), block, tx)
    if name == "VoucherRedeemed":
        return VoucherRedeemed(cid, Address(args["provider"]), TokenAmount(args["cumulativeAmount"]),
                               TokenAmount(args["payout"]), block, tx)
    if name == "CloseStarted":
        return CloseStarted(cid, Address(args["client"]), Address(args["provider"]),
                            int(args["closesAt"]), block, tx)
    if name == "ChannelClosed":
        return ChannelClosed(cid, Address(args["client"]), Address(args["provider"]),
                             TokenAmount(args["cumulativeAmount"]), TokenAmount(args["payout"]),
                             TokenAmount(args["refund"]), block, tx)
    if name == "ChannelSettled":
        return ChannelSettled(cid, Address(args["client"]), Address(args["provider"]),
                              TokenAmount(args["paid"]), TokenAmount(args["refund"]), block, tx)
    raise ChainError(f"unknown Channels event {name!r}")


class Channels:
    """The Channels contract at ``address``."""

    def __init__(self, w3: Web3, address: str) -> None:
        self.w3 = w3
        checksum = to_checksum_address(address)
        self.address = Address(checksum)
        self.contract: Contract = w3.eth.contract(
            address=checksum, abi=compile_contract("Channels").abi
        )
        self._topics = {
            bytes(Web3.keccak(text=_signature(item))): str(item["name"])
            for item in self.contract.abi if item["type"] == "event"
        }
        self._token: Contract | None = None
        self._chain_id: int | None = None

    @classmethod
    def from_deployment(cls, w3: Web3, deployment: Deployment) -> Channels:
        return cls(w3, deployment.address("Channels"))

    # --- reading ----------------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    @property
    def token(self) -> Contract:
        """The ERC-20 the channels hold (any ERC-20; the devnet's Token by default)."""
        if self._token is None:
            self._token = self.w3.eth.contract(
                address=self.contract.functions.token().call(),
                abi=compile_contract("Token").abi,
            )
        return self._token

    def challenge_period(self) -> int:
        return int(self.contract.functions.challengePeriod().call())

    def channel_count(self) -> int:
        return int(self.contract.functions.channelCount().call())

    def channel(self, channel_id: bytes) -> Channel:
        client, provider, deposit, paid, closes_at = self.contract.functions.channels(
            bytes(channel_id)
        ).call()
        return Channel(ChannelId(bytes(channel_id)), Address(client), Address(provider),
                       TokenAmount(deposit), TokenAmount(paid), int(closes_at))

    def domain(self) -> Eip712Domain:
        """The EIP-712 domain clients sign vouchers under."""
        return Eip712Domain(CHANNELS_DOMAIN_NAME, CHANNELS_DOMAIN_VERSION, self.chain_id, self.address)

    def domain_separator(self) -> bytes:
        return bytes(self.contract.functions.domainSeparator().call())

    def voucher_digest(self, channel_id: bytes, cumulative_amount: int) -> bytes:
        return bytes(self.contract.functions.voucherDigest(bytes(channel_id), cumulative_amount).call())

    def voucher_signer(self, signed: VoucherLike) -> Address:
        """The signer as the contract recovers it; ContractRevert for a malformed signature."""
        fn = self.contract.functions.voucherSigner(
            bytes(signed.channel_id), int(signed.cumulative_amount), signed.signature
        )
        try:
            return Address(fn.call())
        except ContractLogicError as exc:
            raise ContractRevert(revert_reason(exc), function="voucherSigner") from None

    # --- client -----------------------------------------------------------------------------

    def approve(self, owner: LocalAccount, amount: int) -> None:
        """Let the contract pull ``amount`` more tokens from ``owner`` (skipped when allowed already)."""
        allowance = int(self.token.functions.allowance(owner.address, self.address).call())
        if allowance < amount:
            send(self.w3, owner, self.token.functions.approve(self.address, amount))

    def open(self, client: LocalAccount, provider: str, deposit: int, *, approve: bool = True) -> ChannelOpened:
        """Open a channel from ``client`` to ``provider`` with ``deposit`` tokens."""
        if approve:
            self.approve(client, deposit)
        receipt = send(self.w3, client, self.contract.functions.open(to_checksum_address(provider), deposit))
        return self._one(receipt, ChannelOpened)

    def top_up(self, client: LocalAccount, channel_id: bytes, amount: int, *, approve: bool = True) -> ChannelToppedUp:
        if approve:
            self.approve(client, amount)
        receipt = send(self.w3, client, self.contract.functions.topUp(bytes(channel_id), amount))
        return self._one(receipt, ChannelToppedUp)

    def start_close(self, client: LocalAccount, channel_id: bytes) -> CloseStarted:
        receipt = send(self.w3, client, self.contract.functions.startClose(bytes(channel_id)))
        return self._one(receipt, CloseStarted)

    def settle(self, account: LocalAccount, channel_id: bytes) -> ChannelSettled:
        """Refund the client after the challenge period (any account may send it)."""
        receipt = send(self.w3, account, self.contract.functions.settle(bytes(channel_id)))
        return self._one(receipt, ChannelSettled)

    # --- provider ---------------------------------------------------------------------------

    def redeem(self, provider: LocalAccount, signed: VoucherLike) -> VoucherRedeemed:
        """Claim what ``signed`` adds to what was paid; the channel stays open."""
        receipt = send(self.w3, provider, self.contract.functions.redeem(
            bytes(signed.channel_id), int(signed.cumulative_amount), signed.signature
        ))
        return self._one(receipt, VoucherRedeemed)

    def close(
        self, provider: LocalAccount, channel_id: bytes, signed: VoucherLike | None = None
    ) -> ChannelClosed:
        """End the channel with the latest voucher; ``None`` closes at what was already paid."""
        if signed is None:
            amount, signature = int(self.channel(channel_id).paid), b""
        else:
            if bytes(signed.channel_id) != bytes(channel_id):
                raise ChainError("the voucher is for another channel",
                                 hint="close each channel with its own latest voucher")
            amount, signature = int(signed.cumulative_amount), signed.signature
        receipt = send(self.w3, provider, self.contract.functions.close(bytes(channel_id), amount, signature))
        return self._one(receipt, ChannelClosed)

    # --- events -----------------------------------------------------------------------------

    def decode(self, logs: Iterable[LogReceipt]) -> list[ChannelEvent]:
        """The Channels events among ``logs`` (others, e.g. token transfers, are skipped)."""
        out: list[ChannelEvent] = []
        for log in logs:
            if str(log["address"]) != self.address or not log["topics"]:
                continue
            name = self._topics.get(bytes(log["topics"][0]))
            if name is None:
                continue
            data = self.contract.events[name]().process_log(log)
            out.append(_from_log(name, dict(data["args"]), log))
        return out

    def events(
        self, *, from_block: int = 0, to_block: int | str = "latest", channel_id: bytes | None = None
    ) -> list[ChannelEvent]:
        """Every Channels event in the block range, oldest first; optionally of one channel."""
        topics: list[Any] = [None]
        if channel_id is not None:
            topics.append("0x" + bytes(channel_id).hex())
        logs = self.w3.eth.get_logs({
            "address": self.address, "fromBlock": from_block, "toBlock": to_block,  # type: ignore[typeddict-item]
            "topics": topics,
        })
        return self.decode(logs)

    def _one(self, receipt: TxReceipt, kind: type[_E]) -> _E:
        for event in self.decode(receipt["logs"]):
            if isinstance(event, kind):
                return event
        raise ChainError(f"transaction {receipt['transactionHash'].hex()} emitted no {kind.__name__}")


def _signature(event_abi: Any) -> str:
    inputs: Sequence[Any] = event_abi["inputs"]
    return f"{event_abi['name']}({','.join(str(i['type']) for i in inputs)})"
