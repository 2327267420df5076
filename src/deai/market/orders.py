"""From a workload spec to what the chain records: price groups and verification parameters.

The Registry keeps one price per coarse workload group (``WorkloadKind`` on chain); a
spec names a precise kind (``classify``, ``embed`` …). The capability document carries the
precise prices; the chain carries the cheapest price of each group, for discovery.
"""

from __future__ import annotations

from collections.abc import Mapping

from deai.chain.types import Verification, VerificationMode, WorkloadKind
from deai.runtime.spec import WorkloadSpec

KIND_GROUP: dict[str, WorkloadKind] = {
    "classify": WorkloadKind.INFERENCE,
    "generate": WorkloadKind.INFERENCE,
    "image": WorkloadKind.INFERENCE,
    "embed": WorkloadKind.EMBEDDING,
    "finetune": WorkloadKind.FINE_TUNING,
    "train": WorkloadKind.TRAINING,
    "evaluate": WorkloadKind.EVALUATION,
}
DEFAULT_SAMPLE_BPS = 500  # p = 5 % unless the spec says otherwise: deai.verify.params (docs/verification.md)


def registry_prices(prices: Mapping[str, int]) -> dict[WorkloadKind, int]:
    """The cheapest price per on-chain group for a provider's per-kind prices."""
    grouped: dict[WorkloadKind, int] = {}
    for kind, price in prices.items():
        group = KIND_GROUP[kind]
        grouped[group] = min(price, grouped.get(group, price))
    return grouped


def chain_verification(spec: WorkloadSpec) -> Verification:
    """The (mode, parameter) pair the JobMarket stores for this spec's verification."""
    v = spec.verification
    if v.mode == "sampled":
        bps = round((v.sample_rate or DEFAULT_SAMPLE_BPS / 10_000) * 10_000)
        return Verification(VerificationMode.SAMPLED, max(1, bps))
    if v.mode == "redundant":
        return Verification(VerificationMode.REDUNDANT, v.replicas or 2)
    if v.mode == "rescore":
        bps = round((v.sample_rate or DEFAULT_SAMPLE_BPS / 10_000) * 10_000)
        return Verification(VerificationMode.RESCORE, max(1, bps))
    if v.mode == "zk":
        return Verification(VerificationMode.ZK, 0)
    return Verification(VerificationMode.NONE, 0)
