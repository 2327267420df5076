"""One Python type per on-chain struct and enum of the market contracts.

The contracts speak in small integers (a job's status, the reason code every job event
carries, the verification mode); the enums here give them names, and ``JobReason``
gives each reason the plain sentence a client is shown ("No provider bid before the
deadline; the escrow was refunded in full."). Structs read from the chain are frozen
dataclasses; amounts are ``TokenAmount`` in the token's smallest unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from deai.errors import ChainError
from deai.units import Address, JobId, TokenAmount

BPS = 10_000
"""Basis points in one whole: fractions (sampling rate, fees) are given in these."""
NEUTRAL_REPUTATION = 10_000


class JobStatus(IntEnum):
    """Where a job is in its life (``JobMarket`` state word, bits 128-135)."""

    NONE = 0
    OPEN = 1
    ASSIGNED = 2
    COMMITTED = 3
    DISPUTED = 4
    FINALIZED = 5
    EXPIRED = 6
    REJECTED = 7

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.FINALIZED, JobStatus.EXPIRED, JobStatus.REJECTED)

    @property
    def description(self) -> str:
        return _STATUS_TEXT[self]


_STATUS_TEXT = {
    JobStatus.NONE: "no such job",
    JobStatus.OPEN: "open for bids",
    JobStatus.ASSIGNED: "assigned to a provider, waiting for its result",
    JobStatus.COMMITTED: "result committed, in its challenge window",
    JobStatus.DISPUTED: "result challenged, a validator committee is voting",
    JobStatus.FINALIZED: "finished: the provider was paid",
    JobStatus.EXPIRED: "expired: the client was refunded",
    JobStatus.REJECTED: "result rejected: the provider was slashed and the client refunded",
}


class JobReason(IntEnum):
    """The reason code each ``JobMarket`` job event carries (``R_*`` in JobMarket.vy)."""

    NONE = 0
    POSTED = 1
    BID_PLACED = 2
    BID_ACCEPTED = 3
    BEST_BID_ASSIGNED = 4
    RESULT_COMMITTED = 5
    CHALLENGED = 6
    VOTE_CAST = 7
    CHALLENGE_WINDOW_PASSED = 8
    EXPIRED_NO_BIDS = 9
    EXPIRED_UNASSIGNED = 10
    EXPIRED_NO_RESULT = 11
    FRAUD_PROVEN = 12
    RESULT_UPHELD = 13
    NO_VERDICT = 14

    @property
    def sentence(self) -> str:
        """What happened, in words a client can be shown."""
        return _REASON_TEXT[self]


_REASON_TEXT = {
    JobReason.NONE: "Nothing has happened to this job.",
    JobReason.POSTED: "The job was posted and its maximum price is held in escrow.",
    JobReason.BID_PLACED: "A provider bid on the job.",
    JobReason.BID_ACCEPTED: (
        "The client accepted a provider's bid; the price is locked and the escrow above "
        "price and fee was returned to the client."
    ),
    JobReason.BEST_BID_ASSIGNED: (
        "The bid window closed and the best bid (lowest price weighted by reputation) won; "
        "the price is locked and the escrow above price and fee was returned to the client."
    ),
    JobReason.RESULT_COMMITTED: "The provider committed its result; the challenge window is open.",
    JobReason.CHALLENGED: (
        "A validator challenged the result and posted a bond; a committee of validators is voting."
    ),
    JobReason.VOTE_CAST: "A committee member voted on the challenged result.",
    JobReason.CHALLENGE_WINDOW_PASSED: (
        "Nobody challenged the result in time; the provider was paid its price and the "
        "validators their fee."
    ),
    JobReason.EXPIRED_NO_BIDS: (
        "No provider bid before the deadline; the escrow was refunded to the client in full."
    ),
    JobReason.EXPIRED_UNASSIGNED: (
        "Providers bid, but no bid was accepted or assigned before the deadline; the escrow "
        "was refunded to the client in full."
    ),
    JobReason.EXPIRED_NO_RESULT: (
        "The assigned provider committed no result before the deadline; the escrow was "
        "refunded to the client in full and the provider's stake was slashed."
    ),
    JobReason.FRAUD_PROVEN: (
        "The validator committee found the result wrong; the provider's stake was slashed, "
        "the client refunded in full and the challenger's bond returned."
    ),
    JobReason.RESULT_UPHELD: (
        "The validator committee upheld the result; the provider was paid and the "
        "challenger's bond went to the committee members who voted so."
    ),
    JobReason.NO_VERDICT: (
        "The validator committee reached no majority; the result stands, the provider was "
        "paid and the challenger's bond returned."
    ),
}


class PoolReason(IntEnum):
    """The reason code each ``ValidatorPool`` event carries (``R_*`` in ValidatorPool.vy)."""

    NONE = 0
    REPORTED = 1
    FEES_SYNCED = 2
    SHARE_CLAIMED = 3
    NO_REPORTS = 4
    ROUNDING_DUST = 5
    MARKET_SET = 6

    @property
    def sentence(self) -> str:
        return _POOL_REASON_TEXT[self]


_POOL_REASON_TEXT = {
    PoolReason.NONE: "Nothing happened.",
    PoolReason.REPORTED: "A validator reported its scores for a finished epoch; its stake is its weight.",
    PoolReason.FEES_SYNCED: "Validator fees were collected from the JobMarket into the current epoch's pot.",
    PoolReason.SHARE_CLAIMED: "A validator that reported took its stake-weighted share of an epoch's pot.",
    PoolReason.NO_REPORTS: "No validator reported for the epoch, so its pot went to the treasury.",
    PoolReason.ROUNDING_DUST: "Every reporter claimed; the rounding dust of the epoch's pot went to the treasury.",
    PoolReason.MARKET_SET: "The JobMarket paying its fees into the pool was named.",
}


class VerificationMode(IntEnum):
    """How a job's result is checked (DESIGN.md, Verification); stored per job."""

    SAMPLED = 0
    REDUNDANT = 1
    RESCORE = 2
    ZK = 3
    NONE = 4


@dataclass(frozen=True)
class Verification:
    """A job's verification mode and its parameter.

    ``sampled``/``rescore``: the fraction checked, in basis points (1..10000);
    ``redundant``: k, the number of providers (2..16); ``zk``/``none``: 0.
    The contract records both; the verification layer acts on them.
    """

    mode: VerificationMode = VerificationMode.SAMPLED
    param: int = 1_000

    def __post_init__(self) -> None:
        mode, p = self.mode, self.param
        if mode in (VerificationMode.SAMPLED, VerificationMode.RESCORE) and not 1 <= p <= BPS:
            raise ChainError(f"{mode.name.lower()} needs a fraction of 1..10000 basis points, not {p}")
        if mode is VerificationMode.REDUNDANT and not 2 <= p <= 16:
            raise ChainError(f"redundant needs k in 2..16, not {p}")
        if mode in (VerificationMode.ZK, VerificationMode.NONE) and p != 0:
            raise ChainError(f"{mode.name.lower()} takes no parameter, not {p}")

    @classmethod
    def sampled(cls, fraction_bps: int = 1_000) -> Verification:
        return cls(VerificationMode.SAMPLED, fraction_bps)

    @classmethod
    def redundant(cls, k: int = 2) -> Verification:
        return cls(VerificationMode.REDUNDANT, k)

    @classmethod
    def rescore(cls, fraction_bps: int = 1_000) -> Verification:
        return cls(VerificationMode.RESCORE, fraction_bps)

    @classmethod
    def zk(cls) -> Verification:
        return cls(VerificationMode.ZK, 0)

    @classmethod
    def none(cls) -> Verification:
        return cls(VerificationMode.NONE, 0)

    def __str__(self) -> str:
        name = self.mode.name.lower()
        if self.mode in (VerificationMode.SAMPLED, VerificationMode.RESCORE):
            return f"{name}(p={self.param / BPS:.2%})"
        if self.mode is VerificationMode.REDUNDANT:
            return f"{name}(k={self.param})"
        return name


class WorkloadKind(IntEnum):
    """Index into a provider's price list in the Registry (price per unit of work)."""

    INFERENCE = 0
    BATCH_INFERENCE = 1
    EMBEDDING = 2
    FINE_TUNING = 3
    TRAINING = 4
    EVALUATION = 5
    ZK_PROVING = 6


class ProviderState(IntEnum):
    UNREGISTERED = 0
    ACTIVE = 1
    PAUSED = 2


class AssetKind(IntEnum):
    NONE = 0
    MODEL = 1
    DATASET = 2


class Ballot(IntEnum):
    """A validator's standing on one dispute."""

    NOT_MEMBER = 0
    PENDING = 1
    FRAUD = 2
    VALID = 3


class ReceiptDisputeStatus(IntEnum):
    """Where a fast-path receipt dispute is (``ReceiptDisputes`` head word, bits 176-183)."""

    NONE = 0
    OPEN = 1
    """Challenged; the committee is voting."""
    REJECTED = 2
    """The committee found the response wrong: the provider was slashed."""
    UPHELD = 3
    """The receipt stands (a majority for it, or no majority)."""


class ReceiptReason(IntEnum):
    """The reason code each ``ReceiptDisputes`` event carries (``R_*`` in ReceiptDisputes.vy)."""

    NONE = 0
    CHALLENGED = 1
    VOTE_CAST = 2
    FRAUD_PROVEN = 3
    RESPONSE_UPHELD = 4
    NO_VERDICT = 5

    @property
    def sentence(self) -> str:
        """What happened, in words a provider or validator can be shown."""
        return _RECEIPT_REASON_TEXT[self]


_RECEIPT_REASON_TEXT = {
    ReceiptReason.NONE: "Nobody has challenged this receipt.",
    ReceiptReason.CHALLENGED: (
        "A validator challenged the receipt's response with its Merkle proof and evidence and "
        "posted a bond; a committee of validators is voting."
    ),
    ReceiptReason.VOTE_CAST: "A committee member voted on the challenged receipt.",
    ReceiptReason.FRAUD_PROVEN: (
        "The validator committee found the receipt's response wrong; the provider's stake was "
        "slashed (part of it to the challenger) and the challenger's bond returned."
    ),
    ReceiptReason.RESPONSE_UPHELD: (
        "The validator committee upheld the receipt's response; the challenger's bond went to "
        "the committee members who voted so."
    ),
    ReceiptReason.NO_VERDICT: (
        "The validator committee reached no majority; the receipt stands and the challenger's "
        "bond was returned."
    ),
}


# --- structs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """``JobMarket.getJob``. CIDs are not stored on chain: see the job's events."""

    job_id: JobId
    client: Address
    provider: Address
    """The assigned provider; while the job is open, the best bidder so far (or zero)."""
    max_price: TokenAmount
    price: TokenAmount
    """The locked price once assigned; while open, the best bid so far."""
    status: JobStatus
    verification: Verification
    window_end: int
    """End of the bid window (open), challenge window (committed) or vote (disputed)."""
    deadline: int

    @property
    def exists(self) -> bool:
        return self.status is not JobStatus.NONE


@dataclass(frozen=True)
class MarketAccount:
    """``JobMarket.getAccount``: tokens held for an address in the market and its standing."""

    address: Address
    balance: TokenAmount
    """Withdrawable: deposits, refunds and earnings."""
    locked_stake: TokenAmount
    """Stake (held in Staking) backing this provider's in-flight jobs."""
    reputation: int
    """Basis points, 10000 = neutral."""
    provider_id: int
    """The provider's 32-bit id in the market (0 = has never bid)."""


@dataclass(frozen=True)
class Dispute:
    job_id: JobId
    challenger: Address
    bond: TokenAmount
    fraud_votes: int
    valid_votes: int
    committee: tuple[Address, ...]


@dataclass(frozen=True)
class ReceiptDispute:
    """``ReceiptDisputes.getDispute`` with its ``ReceiptChallenged`` event: one receipt's dispute."""

    digest: bytes
    """The receipt's EIP-712 digest (its Merkle leaf): the dispute id."""
    challenger: Address
    provider: Address
    status: ReceiptDisputeStatus
    fraud_votes: int
    valid_votes: int
    committee: tuple[Address, ...]
    vote_end: int
    evidence_cid: str
    """The challenger's evidence (receipt, proof, request and response bodies); "" if none."""
    slash_amount: TokenAmount
    """What a fraud verdict takes from the provider's stake (at most its stake)."""
    receipt_sequence: int
    anchor_sequence: int

    @property
    def exists(self) -> bool:
        return self.status is not ReceiptDisputeStatus.NONE


@dataclass(frozen=True)
class StakeAccount:
    address: Address
    staked: TokenAmount
    unbonding: TokenAmount
    unlock_at: int
    """When ``unbonding`` may be withdrawn (0 if nothing is unbonding)."""
    locked: TokenAmount
    """Stake the lockers (job market, registry) hold in place."""

    @property
    def free(self) -> TokenAmount:
        return TokenAmount(max(0, self.staked - self.locked))


@dataclass(frozen=True)
class ProviderInfo:
    address: Address
    state: ProviderState
    endpoint: str
    capability_digest: bytes
    prices: dict[WorkloadKind, TokenAmount]
    """Price per unit of work for each kind offered (kinds not offered are left out)."""


@dataclass(frozen=True)
class Asset:
    """A model or dataset in the Registry, keyed by its CID's digest."""

    digest: bytes
    owner: Address
    kind: AssetKind
    licence_digest: bytes
    registered_at: int
    parent_digests: tuple[bytes, ...]

    @property
    def exists(self) -> bool:
        return self.kind is not AssetKind.NONE


@dataclass(frozen=True)
class MarketSettings:
    """The JobMarket's fixed parameters (immutables)."""

    token: Address
    staking: Address
    registry: Address
    treasury: Address
    fee_recipient: Address
    fee_bps: int
    collateral_bps: int
    challenge_window: int
    vote_window: int
    challenge_bond: TokenAmount
    committee_size: int

