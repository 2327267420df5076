"""Reputation: validators score providers per epoch; the network's score is a clipped, stake-weighted median.

**Scores.** A validator scores each provider it has checked from its own record:
``score_provider(passes, failures)`` starts at neutral (10000 basis points, the JobMarket's
default), gains 1 % per verified result up to +50 %, and halves for every failed check.

**Reporting.** Epoch e is [e·L, (e+1)·L) of chain time, L = the ``ValidatorPool``'s
``epochLength`` (``epoch_of``). During epoch e + 1 a validator reports its scores for e
through ``ValidatorPool.report(e, root, uri)``: uri = ``deai-scores/v1:<pid>=<score>,…``
(provider ids as the JobMarket numbers them, sorted) and root = keccak256(uri). The pool
takes one report per validator and epoch, only from an active validator and only during
the next epoch, records the validator's stake at that moment as its weight, and pays the
reporters the epoch's validator fees by that weight (docs/verification.md, "Validator
fees"). The scores and the weight are in the ``ScoresReported`` event itself, so no
off-chain fetch or historical state is needed to recompute anything. (Scores used to be
posted through ``Anchors`` with sequence = epoch + 1, which clashed with the same address
anchoring receipts or manifests.)

**Consensus** (Yuma-style, as in Bittensor): for epoch e, take the pool's reports for e
(each from a validator that was active when it reported — the pool checked), each
weighted by the recorded weight (the reporter's stake when it reported: fixed in the log,
so the answer never changes afterwards). Reports whose root is not keccak256(uri) or whose
uri is not a well-formed score vector are ignored. Per provider:

1. C = the stake-weighted median of the scores (the largest c such that validators
   holding at least κ = ½ of the stake that scored the provider gave ≥ c);
2. every score above C is clipped down to C — a minority cannot inflate a friend;
3. the network score is the stake-weighted mean of the clipped scores.

``consensus`` is a pure function of the reports and their weights, so anyone can recompute
it from a JSON-RPC endpoint's logs (``network_scores``). A reputation oracle (a validator started
with ``--oracle``, named by the JobMarket's owner with ``setReputationOracle``) writes the
result with ``setReputation``; the JobMarket then ranks bids by price ÷ reputation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from web3 import Web3

from deai.chain.deploy import Deployment
from deai.chain.events import ScoresReported
from deai.chain.jobmarket import JobMarket
from deai.chain.types import NEUTRAL_REPUTATION
from deai.chain.validator_pool import MAX_URI_LENGTH, ValidatorPool

PREFIX = "deai-scores/v1:"
KAPPA = Fraction(1, 2)
MAX_SCORE = 65_535
MIN_SCORE = 1


def score_provider(passes: int, failures: int) -> int:
    """A validator's score for a provider from its own checks (basis points, 10000 = neutral)."""
    if passes < 0 or failures < 0:
        raise ValueError("counts are not negative")
    value = NEUTRAL_REPUTATION * (1 + 0.01 * min(passes, 50)) * 0.5**failures
    return max(MIN_SCORE, min(MAX_SCORE, round(value)))


def encode_scores(scores: Mapping[int, int]) -> str:
    """The report URI for a score vector; providers that do not fit in 256 bytes are left out."""
    uri = PREFIX
    for pid in sorted(scores):
        score = int(scores[pid])
        if pid <= 0 or not MIN_SCORE <= score <= MAX_SCORE:
            raise ValueError(f"bad score entry {pid}={score}")
        entry = f"{pid}={score}"
        candidate = uri + ("," if uri != PREFIX else "") + entry
        if len(candidate.encode()) > MAX_URI_LENGTH:
            break
        uri = candidate
    return uri


def decode_scores(uri: str) -> dict[int, int] | None:
    """The score vector in a report URI, or None if it is not a (well-formed) score post."""
    if not uri.startswith(PREFIX):
        return None
    body = uri[len(PREFIX):]
    scores: dict[int, int] = {}
    if not body:
        return None
    for entry in body.split(","):
        pid_text, sep, score_text = entry.partition("=")
        if not sep or not pid_text.isdigit() or not score_text.isdigit():
            return None
        pid, score = int(pid_text), int(score_text)
        if pid <= 0 or pid in scores or not MIN_SCORE <= score <= MAX_SCORE:
            return None
        scores[pid] = score
    return scores


def scores_root(uri: str) -> bytes:
    return bytes(Web3.keccak(text=uri))


@dataclass(frozen=True)
class Ballot:
    """One validator's reported scores for an epoch and the stake behind them (its recorded weight)."""

    validator: str
    stake: int
    scores: Mapping[int, int]


@dataclass(frozen=True)
class ProviderConsensus:
    provider_id: int
    median: int
    """C: the stake-weighted median (the clipping bound)."""
    score: int
    """The network's score: the stake-weighted mean of the scores clipped at C."""
    stake: int
    """Stake of the validators who scored this provider."""
    validators: int


def weighted_median(values: Iterable[tuple[int, int]], kappa: Fraction = KAPPA) -> int:
    """The largest score c such that the stake behind scores ≥ c is at least κ of the total."""
    pairs = sorted(((score, stake) for score, stake in values if stake > 0), reverse=True)
    total = sum(stake for _, stake in pairs)
    if total == 0:
        raise ValueError("no stake behind any score")
    behind = 0
    for score, stake in pairs:
        behind += stake
        if behind * kappa.denominator >= total * kappa.numerator:  # exact: stakes are integers
            return score
    return pairs[-1][0]


def consensus(ballots: Iterable[Ballot], kappa: Fraction = KAPPA) -> dict[int, ProviderConsensus]:
    """Provider id → consensus, from the epoch's ballots (deterministic, order-free)."""
    per_provider: dict[int, list[tuple[int, int]]] = {}
    for ballot in ballots:
        if ballot.stake <= 0:
            continue
        for pid, score in ballot.scores.items():
            per_provider.setdefault(pid, []).append((int(score), int(ballot.stake)))
    out: dict[int, ProviderConsensus] = {}
    for pid, pairs in sorted(per_provider.items()):
        median = weighted_median(pairs, kappa)
        stake = sum(s for _, s in pairs)
        clipped = sum(min(score, median) * s for score, s in pairs)
        score = max(MIN_SCORE, min(MAX_SCORE, (2 * clipped + stake) // (2 * stake)))  # rounded, in integers
        out[pid] = ProviderConsensus(pid, median, score, stake, len(pairs))
    return out


# --- from the chain ----------------------------------------------------------------------------


def epoch_of(timestamp: int, epoch_s: int) -> int:
    return timestamp // epoch_s


def ballots(w3: Web3, deployment: Deployment, epoch: int) -> list[Ballot]:
    """The well-formed score reports of ``epoch``, each with the stake recorded with it.

    The pool accepted only active validators, one report each, during epoch + 1, so every
    report counts; the weight is the one logged, not today's stake.
    """
    pool = ValidatorPool(w3, deployment)
    found: dict[str, Ballot] = {}
    for report in pool.reports(epoch=epoch, from_block=deployment.block):
        ballot = _ballot(report)
        if ballot is not None and report.validator.lower() not in found:
            found[report.validator.lower()] = ballot
    return [found[k] for k in sorted(found)]


def _ballot(report: ScoresReported) -> Ballot | None:
    scores = decode_scores(report.uri)
    if scores is None or report.root != scores_root(report.uri):
        return None  # not a score vector, or one whose root does not fit it
    return Ballot(str(report.validator), int(report.weight), scores)


def network_scores(w3: Web3, deployment: Deployment, epoch: int) -> dict[str, ProviderConsensus]:
    """Provider address → the network's consensus score for ``epoch`` (anyone can run this)."""
    market = JobMarket(w3, deployment)
    return {str(market.provider_at(pid)): c for pid, c in consensus(ballots(w3, deployment, epoch)).items()}


def latest_posted_epoch(w3: Web3, deployment: Deployment) -> int | None:
    """The most recent epoch any validator reported scores for (None: none yet)."""
    epochs = [r.epoch for r in ValidatorPool(w3, deployment).reports(from_block=deployment.block)
              if r.uri.startswith(PREFIX)]
    return max(epochs) if epochs else None
