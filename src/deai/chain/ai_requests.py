"""Typed wrapper over ``AIRequests``: smart contracts that ask for AI, answered by callback.

A consumer contract (or an account) calls ``requestAI``; the request becomes a JobMarket
job whose client is the ``AIRequests`` contract; the provider that wins it commits its
result on the JobMarket and ``deliver``s the answer, and the consumer's
``onAIResult(requestId, output, manifestCid)`` is called (at once for ``OPTIMISTIC``
requests, after the challenge window via ``release`` for ``FINAL`` ones). ``settle``
closes a request whose job ended without a standing answer and calls ``onAIDisputed``.
A request id is its JobMarket job id. docs/onchain-ai.md tells the whole story.

- ``AIRequests`` — the wrapper: requests, delivery, release, retries, settlement,
  balances, subscriptions; every transaction returns the typed event it logged.
- ``AIParams`` (kind, input/output as CID, generation parameters), ``Policy``,
  ``RequestKind``, ``RequestStatus``, ``CallbackState``, ``FailureReason`` (with the
  sentence a user is shown), ``AIRequest`` and ``Subscription`` (the stored state).
- One frozen dataclass per event (``AIRequested``, ``AIDelivered``, ``CallbackCalled``,
  ``AIRequestFailed``, ``SubscriptionCreated`` …) and ``decode_logs``.
- ``deploy_ai_requests`` (called by ``deploy_protocol``), ``compile_consumer`` (a consumer
  contract that may ``import IAIConsumer``), ``consumer_interface_dir``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

from eth_account.signers.local import LocalAccount
from eth_typing import ABIEvent
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3._utils.events import get_event_data
from web3.types import LogReceipt, TxReceipt

from deai.chain.cids import CODEC_RAW, bytes_to_cid, cid_from_digest, cid_to_bytes
from deai.chain.compile import CONTRACTS_PACKAGE, Artifact, compile_contract
from deai.chain.contract import ContractWrapper
from deai.chain.events import ChainLog
from deai.chain.rpc import deploy
from deai.chain.token import Token
from deai.chain.types import Verification, VerificationMode
from deai.errors import ChainError, ContractCompileError, InputError
from deai.units import Address, Cid, TokenAmount

MAX_INPUT = 1024
"""Bytes of inline input a request may carry; larger inputs go behind a CID."""
MAX_OUTPUT = 1024
"""Bytes of inline output a delivery may carry."""
MAX_CID = 64
DEFAULT_BID_WINDOW = 5
DEFAULT_JOB_TIMEOUT = 600
DEFAULT_MAX_CALLBACK_GAS = 1_000_000
MAX_TOKENS = 4096
MAX_TEMPERATURE = 10.0


class RequestKind(IntEnum):
    """The workload kinds a contract may ask for (names as in ``deai.runtime.spec``)."""

    CLASSIFY = 0
    EMBED = 1
    GENERATE = 2

    @property
    def spec_kind(self) -> str:
        return self.name.lower()


class Policy(IntEnum):
    """When the consumer is called back."""

    OPTIMISTIC = 0
    """At delivery; a later successful challenge refunds and calls ``onAIDisputed``."""
    FINAL = 1
    """Only once the job is finalized, after its challenge window."""


class RequestStatus(IntEnum):
    NONE = 0
    PENDING = 1
    DELIVERED = 2
    FAILED = 3

    @property
    def description(self) -> str:
        return {
            RequestStatus.NONE: "no such request",
            RequestStatus.PENDING: "waiting for the provider's answer",
            RequestStatus.DELIVERED: "answered on chain",
            RequestStatus.FAILED: "closed without a standing answer; the consumer was refunded",
        }[self]


class CallbackState(IntEnum):
    NOT_CALLED = 0
    OK = 1
    FAILED = 2


class FailureReason(IntEnum):
    """Why a request was closed without an answer (``R_*`` in AIRequests.vy)."""

    NONE = 0
    FRAUD_PROVEN = 1
    EXPIRED = 2
    NOT_DELIVERED = 3

    @property
    def sentence(self) -> str:
        return {
            FailureReason.NONE: "The request has not failed.",
            FailureReason.FRAUD_PROVEN: (
                "Validators proved the provider's result wrong: the provider was slashed and "
                "the escrow refunded to the consumer's balance."
            ),
            FailureReason.EXPIRED: (
                "No provider delivered a result by the deadline: the escrow was refunded to the "
                "consumer's balance (with a share of the slashed stake if a provider had taken the job)."
            ),
            FailureReason.NOT_DELIVERED: (
                "The provider was paid on the JobMarket but never delivered the answer here: the "
                "change was refunded; report it to a validator."
            ),
        }[self]


@dataclass(frozen=True)
class AIParams:
    """What a request asks beyond the model and input (``AIParams`` in AIRequests.vy).

    ``temperature`` is kept to hundredths on chain; ``max_tokens``, ``temperature`` and
    ``seed`` only matter for ``GENERATE``.
    """

    kind: RequestKind
    input_is_cid: bool = False
    output_as_cid: bool = False
    max_tokens: int = 64
    temperature: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.max_tokens <= MAX_TOKENS:
            raise InputError(f"max_tokens must be 1..{MAX_TOKENS}, not {self.max_tokens}")
        centi = round(self.temperature * 100)
        if not 0 <= centi <= MAX_TEMPERATURE * 100 or abs(centi - self.temperature * 100) > 1e-6:
            raise InputError(
                f"temperature {self.temperature} is not 0..10 in hundredths",
                hint="on-chain requests take temperatures like 0, 0.7 or 1.25",
            )
        if not 0 <= self.seed < 2**63:
            raise InputError(f"seed must be 0..2**63-1, not {self.seed}")

    @property
    def temperature_centi(self) -> int:
        return round(self.temperature * 100)

    def as_tuple(self, verification: Verification) -> tuple[int, bool, bool, int, int, int, int]:
        """The ABI tuple of the contract's struct, with the verification parameter."""
        return (int(self.kind), self.input_is_cid, self.output_as_cid, self.max_tokens,
                self.temperature_centi, self.seed, verification.param)


@dataclass(frozen=True)
class AIRequest:
    """A request's stored state."""

    request_id: int
    consumer: Address
    status: RequestStatus
    policy: Policy
    callback: CallbackState
    output_as_cid: bool
    callback_gas_limit: int
    subscription_id: int
    result_hash: bytes
    """keccak256(abi_encode(output, manifestCid)); kept only when a later call needs it."""

    @property
    def exists(self) -> bool:
        return self.status is not RequestStatus.NONE


@dataclass(frozen=True)
class Subscription:
    subscription_id: int
    consumer: Address
    model_cid: Cid
    input_hash: bytes
    dynamic_input: bool
    params: AIParams
    verification: Verification
    policy: Policy
    callback_gas_limit: int
    max_price: TokenAmount
    period: int
    rounds_left: int
    rounds_fired: int
    next_block: int

    @property
    def exists(self) -> bool:
        return self.consumer != "0x0000000000000000000000000000000000000000"


# --- events ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AIRequested(ChainLog):
    contract: ClassVar[str] = "AIRequests"
    request_id: int
    consumer: Address
    subscription_id: int
    model_cid: Cid
    input: bytes
    """The inline input bytes, or the binary CID when ``params.input_is_cid``."""
    params: AIParams
    verification: Verification
    policy: Policy
    callback_gas_limit: int
    max_price: TokenAmount

    @property
    def input_cid(self) -> Cid:
        """The input's CID: given, or the raw-leaf CIDv1 of the inline bytes."""
        if self.params.input_is_cid:
            return bytes_to_cid(self.input)
        return cid_from_digest(hashlib.sha256(self.input).digest(), CODEC_RAW)


@dataclass(frozen=True, kw_only=True)
class AIDelivered(ChainLog):
    contract: ClassVar[str] = "AIRequests"
    request_id: int
    provider: Address
    output: bytes
    manifest_cid: Cid
    refunded: TokenAmount

    @property
    def manifest_cid_bytes(self) -> bytes:
        return cid_to_bytes(self.manifest_cid)


@dataclass(frozen=True, kw_only=True)
class CallbackCalled(ChainLog):
    contract: ClassVar[str] = "AIRequests"
    request_id: int
    consumer: Address
    disputed: bool
    success: bool
    gas_limit: int


@dataclass(frozen=True, kw_only=True)
class AIRequestFailed(ChainLog):
    contract: ClassVar[str] = "AIRequests"
    request_id: int
    consumer: Address
    reason: FailureReason
    refunded: TokenAmount
    compensation: TokenAmount


@dataclass(frozen=True, kw_only=True)
class AIDeposited(ChainLog):
    contract: ClassVar[str] = "AIRequests"
    account: Address
    payer: Address
    amount: TokenAmount


@dataclass(frozen=True, kw_only=True)
class AIWithdrawn(ChainLog):
    contract: ClassVar[str] = "AIRequests"
    account: Address
    amount: TokenAmount


@dataclass(frozen=True, kw_only=True)
class SubscriptionCreated(ChainLog):
    contract: ClassVar[str] = "AIRequests"
    subscription_id: int
    consumer: Address
    model_cid: Cid
    input: bytes
    dynamic_input: bool
    params: AIParams
    verification: Verification
    policy: Policy
    callback_gas_limit: int
    max_price: TokenAmount
    period: int
    rounds: int


@dataclass(frozen=True, kw_only=True)
class SubscriptionFired(ChainLog):
    contract: ClassVar[str] = "AIRequests"
    subscription_id: int
    request_id: int
    round: int


@dataclass(frozen=True, kw_only=True)
class SubscriptionCancelled(ChainLog):
    contract: ClassVar[str] = "AIRequests"
    subscription_id: int
    refunded: TokenAmount


_E = TypeVar("_E", bound=ChainLog)


@dataclass(frozen=True)
class RequestConfig:
    """The packed ``config`` word of events and subscriptions, unpacked (``_pack_config``)."""

    params: AIParams
    verification: Verification
    policy: Policy
    callback_gas_limit: int
    dynamic_input: bool

    @classmethod
    def unpack(cls, word: int) -> RequestConfig:
        params = AIParams(
            RequestKind(word & 0xFF), bool(word >> 8 & 1), bool(word >> 9 & 1),
            max(1, word >> 16 & 0xFFFF), (word >> 32 & 0xFFFF) / 100, word >> 48 & (2**64 - 1),
        )
        verification = Verification(VerificationMode(word >> 128 & 0xFF), word >> 112 & 0xFFFF)
        return cls(params, verification, Policy(word >> 136 & 0xFF), word >> 144 & 0xFFFFFFFF,
                   bool(word >> 10 & 1))


def _build(name: str, args: dict[str, Any], where: dict[str, Any]) -> ChainLog | None:
    a = args
    if name == "AIRequested":
        c = RequestConfig.unpack(int(a["config"]))
        return AIRequested(
            **where, request_id=int(a["requestId"]), consumer=Address(a["consumer"]),
            subscription_id=int(a["subscriptionId"]), model_cid=bytes_to_cid(bytes(a["modelCid"])),
            input=bytes(a["input"]), params=c.params, verification=c.verification,
            policy=c.policy, callback_gas_limit=c.callback_gas_limit,
            max_price=TokenAmount(int(a["maxPrice"])),
        )
    if name == "AIDelivered":
        return AIDelivered(
            **where, request_id=int(a["requestId"]), provider=Address(a["provider"]),
            output=bytes(a["output"]), manifest_cid=bytes_to_cid(bytes(a["manifestCid"])),
            refunded=TokenAmount(int(a["refunded"])),
        )
    if name == "CallbackCalled":
        return CallbackCalled(
            **where, request_id=int(a["requestId"]), consumer=Address(a["consumer"]),
            disputed=bool(a["disputed"]), success=bool(a["success"]), gas_limit=int(a["gasLimit"]),
        )
    if name == "AIRequestFailed":
        return AIRequestFailed(
            **where, request_id=int(a["requestId"]), consumer=Address(a["consumer"]),
            reason=FailureReason(int(a["reason"])), refunded=TokenAmount(int(a["refunded"])),
            compensation=TokenAmount(int(a["compensation"])),
        )
    if name == "Deposited":
        return AIDeposited(**where, account=Address(a["account"]), payer=Address(a["payer"]),
                           amount=TokenAmount(int(a["amount"])))
    if name == "Withdrawn":
        return AIWithdrawn(**where, account=Address(a["account"]), amount=TokenAmount(int(a["amount"])))
    if name == "SubscriptionCreated":
        c = RequestConfig.unpack(int(a["config"]))
        return SubscriptionCreated(
            **where, subscription_id=int(a["subscriptionId"]), consumer=Address(a["consumer"]),
            model_cid=bytes_to_cid(bytes(a["modelCid"])), input=bytes(a["input"]),
            dynamic_input=c.dynamic_input, params=c.params, verification=c.verification,
            policy=c.policy, callback_gas_limit=c.callback_gas_limit,
            max_price=TokenAmount(int(a["maxPrice"])), period=int(a["period"]), rounds=int(a["rounds"]),
        )
    if name == "SubscriptionFired":
        return SubscriptionFired(**where, subscription_id=int(a["subscriptionId"]),
                                 request_id=int(a["requestId"]), round=int(a["round"]))
    if name == "SubscriptionCancelled":
        return SubscriptionCancelled(**where, subscription_id=int(a["subscriptionId"]),
                                     refunded=TokenAmount(int(a["refunded"])))
    return None


# --- deployment and consumer contracts ----------------------------------------------------------


def deploy_ai_requests(
    w3: Web3,
    deployer: LocalAccount,
    market: str,
    *,
    bid_window: int = DEFAULT_BID_WINDOW,
    job_timeout: int = DEFAULT_JOB_TIMEOUT,
    max_callback_gas: int = DEFAULT_MAX_CALLBACK_GAS,
) -> str:
    """Deploy ``AIRequests`` for the JobMarket at ``market``; returns its address.

    Each request's job takes bids for ``bid_window`` seconds and its result is due
    ``job_timeout`` seconds after the request; callbacks may ask for at most
    ``max_callback_gas`` gas.
    """
    address, _ = deploy(
        w3, deployer, compile_contract("AIRequests"), market, bid_window, job_timeout, max_callback_gas
    )
    return address


def consumer_interface_dir() -> Path:
    """The folder holding ``IAIConsumer.vyi`` (put it on a consumer's import path)."""
    return Path(str(resources.files(CONTRACTS_PACKAGE)))


def compile_consumer(path: Path) -> Artifact:
    """Compile a consumer contract that may ``import IAIConsumer`` (no cache: examples, tests)."""
    import vyper
    from vyper.compiler.input_bundle import FilesystemInputBundle

    source = path.read_text()
    bundle = FilesystemInputBundle([path.parent, consumer_interface_dir()])
    try:
        out = vyper.compile_code(source, contract_path=str(path), input_bundle=bundle,
                                 output_formats=["abi", "bytecode"])
    except Exception as exc:  # vyper raises many exception types, all compile failures
        raise ContractCompileError(f"{path.name} failed to compile: {exc}") from None
    digest = hashlib.sha256(f"vyper {vyper.__version__}\n{source}".encode()).hexdigest()
    return Artifact(path.stem, out["abi"], bytes.fromhex(out["bytecode"][2:]), f"vyper {vyper.__version__}", digest)


def _input_bytes(value: bytes | str, params: AIParams) -> bytes:
    if params.input_is_cid:
        if not isinstance(value, str):
            raise InputError("params.input_is_cid is set: give the input as a CID string")
        return cid_to_bytes(value)
    data = value.encode() if isinstance(value, str) else bytes(value)
    if not data:
        raise InputError("the inline input is empty")
    if len(data) > MAX_INPUT:
        raise InputError(
            f"the inline input is {len(data)} bytes; a request carries at most {MAX_INPUT}",
            hint="add the input to the store and pass its CID with input_is_cid=True",
        )
    return data


def result_hash(output: bytes, manifest_cid: str) -> bytes:
    """The hash the contract keeps of a delivered result: keccak256(abi_encode(output, manifestCid))."""
    from eth_abi.abi import encode

    return bytes(Web3.keccak(encode(["bytes", "bytes"], [output, cid_to_bytes(manifest_cid)])))


class AIRequests(ContractWrapper):
    """The AIRequests contract; build it with ``AIRequests(w3, deployment)`` or ``(w3, address)``."""

    name = "AIRequests"

    def __init__(self, w3: Web3, where: Any) -> None:
        super().__init__(w3, where)
        abis = [cast(ABIEvent, item) for item in self.contract.abi if item.get("type") == "event"]
        self._topics: dict[bytes, ABIEvent] = {bytes(event_abi_to_log_topic(abi)): abi for abi in abis}

    # --- reading ------------------------------------------------------------------------------

    def market_address(self) -> Address:
        return Address(self._call(self.contract.functions.market()))

    def token(self) -> Token:
        return Token(self.w3, str(self._call(self.contract.functions.token())))

    def bid_window(self) -> int:
        return int(self._call(self.contract.functions.bidWindow()))

    def job_timeout(self) -> int:
        return int(self._call(self.contract.functions.jobTimeout()))

    def max_callback_gas(self) -> int:
        return int(self._call(self.contract.functions.maxCallbackGas()))

    def balance_of(self, who: str) -> TokenAmount:
        """Tokens held here for ``who`` (deposits and refunds; spent on requests first)."""
        return TokenAmount(self._call(self.contract.functions.balanceOf(to_checksum_address(who))))

    def request(self, request_id: int) -> AIRequest:
        (consumer, status, policy, callback, output_as_cid, gas_limit, subscription_id,
         digest) = self._call(self.contract.functions.getRequest(request_id))
        return AIRequest(request_id, Address(consumer), RequestStatus(status), Policy(policy),
                         CallbackState(callback), bool(output_as_cid), int(gas_limit),
                         int(subscription_id), bytes(digest))

    def subscription_count(self) -> int:
        return int(self._call(self.contract.functions.subscriptionCount()))

    def subscription(self, subscription_id: int) -> Subscription:
        consumer, model, input_hash, config, max_price, schedule = self._call(
            self.contract.functions.getSubscription(subscription_id))
        if int(consumer, 16) == 0:
            raise ChainError(f"no subscription {subscription_id}")
        c = RequestConfig.unpack(int(config))
        mask = 2**64 - 1
        return Subscription(
            subscription_id, Address(consumer), bytes_to_cid(bytes(model)), bytes(input_hash),
            c.dynamic_input, c.params, c.verification, c.policy, c.callback_gas_limit,
            TokenAmount(max_price), schedule >> 64 & mask, schedule >> 128 & mask, schedule >> 192,
            schedule & mask,
        )

    def spec_for(
        self, model_cid: str, input: bytes | str, params: AIParams, verification: Verification
    ) -> tuple[bytes, Cid]:
        """The spec bytes and spec CID a request with these parameters posts (computed on chain)."""
        spec, spec_cid = self._call(self.contract.functions.specFor(
            cid_to_bytes(model_cid), _input_bytes(input, params), int(verification.mode),
            params.as_tuple(verification),
        ))
        return bytes(spec), bytes_to_cid(bytes(spec_cid))

    # --- money --------------------------------------------------------------------------------

    def deposit(self, payer: LocalAccount, amount: TokenAmount, *, account: str | None = None) -> AIDeposited:
        """Prepay ``amount`` into ``account``'s balance (the payer's own by default)."""
        self.token().ensure_allowance(payer, self.address, amount)
        beneficiary = to_checksum_address(account or payer.address)
        return self._one(self._send(payer, self.contract.functions.deposit(beneficiary, amount)), AIDeposited)

    def withdraw(self, account: LocalAccount, amount: TokenAmount | None = None) -> AIWithdrawn:
        amount = self.balance_of(account.address) if amount is None else amount
        return self._one(self._send(account, self.contract.functions.withdraw(amount)), AIWithdrawn)

    # --- requests -----------------------------------------------------------------------------

    def request_ai(
        self,
        consumer: LocalAccount,
        model_cid: str,
        input: bytes | str,
        max_price: TokenAmount,
        *,
        params: AIParams,
        verification: Verification | None = None,
        callback_gas_limit: int = 200_000,
        policy: Policy = Policy.OPTIMISTIC,
        approve: bool = True,
    ) -> AIRequested:
        """Ask for AI from an account (contracts call ``requestAI`` themselves).

        ``input`` is the inline input (bytes or text), or a CID string with
        ``params.input_is_cid``. The escrow comes from the balance here when it covers it,
        else from the wallet (approved here unless ``approve=False``).
        """
        v = verification or Verification()
        data = _input_bytes(input, params)
        if approve and self.balance_of(consumer.address) < max_price:
            self.token().ensure_allowance(consumer, self.address, max_price)
        receipt = self._send(consumer, self.contract.functions.requestAI(
            cid_to_bytes(model_cid), data, max_price, int(v.mode), callback_gas_limit, int(policy),
            params.as_tuple(v),
        ))
        return self._one(receipt, AIRequested)

    def deliver(self, provider: LocalAccount, request_id: int, output: bytes, manifest_cid: str) -> AIDelivered:
        """Deliver the answer of a committed job (the job's provider only)."""
        if len(output) > MAX_OUTPUT:
            raise InputError(f"the output is {len(output)} bytes; a delivery carries at most {MAX_OUTPUT}")
        receipt = self._send(provider, self.contract.functions.deliver(
            request_id, output, cid_to_bytes(manifest_cid)))
        return self._one(receipt, AIDelivered)

    def release(self, account: LocalAccount, request_id: int) -> CallbackCalled:
        """Call a finalized ``FINAL`` request's consumer back with its delivered answer."""
        delivered = self.delivery_or_fail(request_id)
        receipt = self._send(account, self.contract.functions.release(
            request_id, delivered.output, delivered.manifest_cid_bytes))
        return self._one(receipt, CallbackCalled)

    def retry_callback(self, account: LocalAccount, request_id: int, *, gas_limit: int = 0) -> CallbackCalled:
        """Call a consumer back again after its callback failed (result or dispute notice)."""
        request = self.request(request_id)
        if request.status is RequestStatus.FAILED:
            receipt = self._send(account, self.contract.functions.retryDisputeCallback(request_id, gas_limit))
        else:
            delivered = self.delivery_or_fail(request_id)
            receipt = self._send(account, self.contract.functions.retryCallback(
                request_id, delivered.output, delivered.manifest_cid_bytes, gas_limit))
        return self._one(receipt, CallbackCalled)

    def settle(self, account: LocalAccount, request_id: int) -> AIRequestFailed:
        """Close a request whose job failed (fraud, expiry, no delivery): refund and notify."""
        return self._one(self._send(account, self.contract.functions.settle(request_id)), AIRequestFailed)

    # --- subscriptions ------------------------------------------------------------------------

    def create_subscription(
        self,
        consumer: LocalAccount,
        model_cid: str,
        input: bytes | str | None,
        max_price: TokenAmount,
        *,
        params: AIParams,
        period: int,
        rounds: int,
        verification: Verification | None = None,
        callback_gas_limit: int = 200_000,
        policy: Policy = Policy.OPTIMISTIC,
    ) -> SubscriptionCreated:
        """Prepay ``rounds`` requests, one at most every ``period`` blocks; ``input=None``
        reads each round's input from the consumer's ``aiInput`` view."""
        v = verification or Verification()
        data = b"" if input is None else _input_bytes(input, params)
        total = TokenAmount(max_price * rounds)
        if self.balance_of(consumer.address) < total:
            self.token().ensure_allowance(consumer, self.address, total)
        receipt = self._send(consumer, self.contract.functions.createSubscription(
            cid_to_bytes(model_cid), data, max_price, int(v.mode), callback_gas_limit, int(policy),
            params.as_tuple(v), period, rounds, input is None,
        ))
        return self._one(receipt, SubscriptionCreated)

    def fire_subscription(self, account: LocalAccount, subscription_id: int, input: bytes = b"") -> SubscriptionFired:
        """Fire a due round (anyone may); ``input`` is the subscription's fixed input, if any."""
        receipt = self._send(account, self.contract.functions.fireSubscription(subscription_id, input))
        return self._one(receipt, SubscriptionFired)

    def cancel_subscription(self, consumer: LocalAccount, subscription_id: int) -> SubscriptionCancelled:
        receipt = self._send(consumer, self.contract.functions.cancelSubscription(subscription_id))
        return self._one(receipt, SubscriptionCancelled)

    # --- events -------------------------------------------------------------------------------

    def decode(self, logs: Iterable[LogReceipt]) -> list[ChainLog]:
        out: list[ChainLog] = []
        for log in logs:
            if str(log["address"]).lower() != self.address.lower() or not log["topics"]:
                continue
            abi = self._topics.get(bytes(log["topics"][0]))
            if abi is None:
                continue
            data = get_event_data(self.w3.codec, abi, log)
            where = {"block_number": int(log["blockNumber"]),
                     "transaction_hash": "0x" + bytes(log["transactionHash"]).hex(),
                     "log_index": int(log["logIndex"])}
            event = _build(str(data["event"]), dict(data["args"]), where)
            if event is not None:
                out.append(event)
        return out

    def _one(self, receipt: TxReceipt, kind: type[_E]) -> _E:
        for event in self.decode(receipt["logs"]):
            if isinstance(event, kind):
                return event
        raise ChainError(f"the transaction logged no {kind.__name__} event")

    def request_events(self, request_id: int, *, from_block: int = 0) -> list[ChainLog]:
        """Every event about one request, oldest first (its id is the first indexed topic)."""
        topic = "0x" + int(request_id).to_bytes(32, "big").hex()
        events = self.events(from_block=from_block, topics=[None, topic])
        fired = self.events(from_block=from_block, topics=[
            "0x" + bytes(Web3.keccak(text="SubscriptionFired(uint256,uint256,uint256)")).hex(), None, topic])
        ours = [e for e in events if getattr(e, "request_id", None) == request_id]
        return sorted(ours + fired, key=lambda e: (e.block_number, e.log_index))

    def requested(self, request_id: int, *, from_block: int = 0) -> AIRequested:
        for event in self.request_events(request_id, from_block=from_block):
            if isinstance(event, AIRequested):
                return event
        raise ChainError(f"no on-chain AI request {request_id}", hint="list them with `deai ai-request list`")

    def delivery(self, request_id: int, *, from_block: int = 0) -> AIDelivered | None:
        """The delivered answer (output and manifest CID), if there is one."""
        found = [e for e in self.request_events(request_id, from_block=from_block) if isinstance(e, AIDelivered)]
        return found[-1] if found else None

    def delivery_or_fail(self, request_id: int, *, from_block: int = 0) -> AIDelivered:
        delivered = self.delivery(request_id, from_block=from_block)
        if delivered is None:
            raise ChainError(f"request {request_id} has no delivered answer yet",
                             hint=f"see `deai ai-request show {request_id}`")
        return delivered

    def why(self, request_id: int, *, from_block: int = 0) -> str:
        """Where the request is, as a sentence."""
        request = self.request(request_id)
        if request.status is RequestStatus.FAILED:
            failed = [e for e in self.request_events(request_id, from_block=from_block)
                      if isinstance(e, AIRequestFailed)]
            return failed[-1].reason.sentence if failed else request.status.description
        text = request.status.description
        if request.status is RequestStatus.DELIVERED:
            if request.callback is CallbackState.FAILED:
                text += "; the consumer's callback failed: retry it with `deai ai-request retry`"
            elif request.callback is CallbackState.NOT_CALLED:
                text += "; the consumer is called back once the job is finalized"
            else:
                text += "; the consumer was called back"
        return text
