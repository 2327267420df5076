"""Which committed results a validator re-executes: a lottery nobody can steer or foresee.

A validator checks job *j* when its **ticket** falls under the job's fraction p:

    key     = sha256("deai-sampling-key/v1" ‖ validator private key)      (fixed at registration)
    beacon  = hash of the block that holds the job's ResultCommitted event
    ticket  = HMAC-SHA256(key, chain id ‖ JobMarket address ‖ job id ‖ beacon)
    checked ⇔ ticket · 10000 < p_bps · 2²⁵⁶

- The provider cannot foresee it: the ticket needs the validator's secret key, and the
  beacon does not exist until the commitment is mined, so nothing the provider sees before
  committing tells it which results will be checked.
- The validator cannot steer it: its key was fixed when it registered (before any result it
  might want to pick), and the beacon is a block hash it does not produce. The only choice
  left to it is to skip a selected job, which only costs it the fee share and the
  slashing reward.
- Tickets are independent across validators and jobs, so with V validators each checking a
  fraction p, a job escapes all of them with probability (1 − p)^V.

The same ticket, reduced modulo n, picks which segment of a training run is re-run, or which
member of an agreeing redundant group is audited. ``detection_probability`` is the
theoretical figure the measured table in docs/verification.md is compared with.
"""

from __future__ import annotations

import hashlib
import hmac

from deai.chain.types import BPS

KEY_DOMAIN = b"deai-sampling-key/v1"
TICKET_SPACE = 2**256


def sampling_key(private_key: bytes) -> bytes:
    """The validator's secret sampling key, derived from (and as secret as) its signing key."""
    if len(private_key) != 32:
        raise ValueError("a private key is 32 bytes")
    return hashlib.sha256(KEY_DOMAIN + private_key).digest()


def key_commitment(key: bytes) -> str:
    """A public fingerprint of the sampling key (published by the validator, reveals nothing)."""
    return hashlib.sha256(b"deai-sampling-commitment/v1" + key).hexdigest()


def ticket(key: bytes, *, chain_id: int, market: str, job_id: int, beacon: bytes) -> int:
    """The validator's lottery number for one committed result (uniform in [0, 2²⁵⁶))."""
    if len(beacon) != 32:
        raise ValueError("the beacon is a 32-byte block hash")
    message = (
        chain_id.to_bytes(32, "big") + bytes.fromhex(market.removeprefix("0x").lower())
        + job_id.to_bytes(32, "big") + beacon
    )
    return int.from_bytes(hmac.new(key, message, hashlib.sha256).digest(), "big")


def receipt_ticket(key: bytes, *, chain_id: int, anchors: str, provider: str, sequence: int, index: int,
                   beacon: bytes) -> int:
    """The same lottery for fast-path receipts: leaf ``index`` of ``provider``'s anchored batch
    ``sequence``, with the hash of the block holding the ``AnchorPosted`` event as beacon."""
    if len(beacon) != 32:
        raise ValueError("the beacon is a 32-byte block hash")
    message = (
        b"receipt" + chain_id.to_bytes(32, "big") + bytes.fromhex(anchors.removeprefix("0x").lower())
        + bytes.fromhex(provider.removeprefix("0x").lower()) + sequence.to_bytes(32, "big")
        + index.to_bytes(32, "big") + beacon
    )
    return int.from_bytes(hmac.new(key, message, hashlib.sha256).digest(), "big")


def selected(value: int, fraction_bps: int) -> bool:
    """True when a ticket falls under a fraction given in basis points (10000 = always)."""
    return value * BPS < fraction_bps * TICKET_SPACE


def pick(value: int, n: int) -> int:
    """An index in [0, n) from a ticket (for segments and audits); the bias is below 2⁻²⁴⁰."""
    if n <= 0:
        raise ValueError("nothing to pick from")
    return value % n


def detection_probability(p: float, q: float, n: int) -> float:
    """Chance that a provider cheating on a fraction q of n jobs is caught at least once
    when each job is checked with probability p (and every check of a cheat catches it)."""
    return 1.0 - (1.0 - p * q) ** n


def network_rate(p: float, validators: int) -> float:
    """The chance a job is checked by at least one of ``validators`` each sampling p."""
    return 1.0 - (1.0 - p) ** validators
