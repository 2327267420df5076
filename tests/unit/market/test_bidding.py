"""The bid decision: a bid at the floor price, or a skip with a reason a client can read."""

from __future__ import annotations

import pytest

from deai.market.bidding import ProviderOffer, decide_bid
from deai.runtime.spec import WorkloadSpec

MODEL = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
OTHER = "bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
INPUT = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
OFFER = ProviderOffer(
    models=frozenset({MODEL}),
    prices={"classify": 100, "embed": 50},
    cpus=2,
    memory_mb=4096,
    gpus=0,
    free_slots=1,
)


def spec(**changes: object) -> WorkloadSpec:
    data: dict[str, object] = {"kind": "classify", "model": MODEL, "inputs": [INPUT]}
    data.update(changes)
    return WorkloadSpec.parse(data)


def test_bids_its_floor_price_when_everything_fits() -> None:
    decision = decide_bid(spec(), 150, OFFER)
    assert decision.bid and decision.price == 100


@pytest.mark.parametrize(
    ("the_spec", "max_price", "offer", "reason"),
    [
        (spec(model=OTHER), 150, OFFER, f"does not serve model {OTHER}"),
        (spec(kind="generate"), 150, OFFER, "does not run 'generate'"),
        (spec(resources={"gpus": 1}), 150, OFFER, "needs 1 GPU(s), has 0"),
        (spec(resources={"memory_mb": 8192}), 150, OFFER, "more CPUs or memory"),
        (spec(), 150, ProviderOffer(**{**OFFER.__dict__, "free_slots": 0}), "no free slot"),
        (spec(), 99, OFFER, "floor price 100 is above the job's max price 99"),
    ],
)
def test_skips_with_a_reason(
    the_spec: WorkloadSpec, max_price: int, offer: ProviderOffer, reason: str
) -> None:
    decision = decide_bid(the_spec, max_price, offer)
    assert not decision.bid and reason in decision.reason
