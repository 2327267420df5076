"""The sampling lottery and the parameters that make cheating a losing bet."""

from __future__ import annotations

import hashlib

import pytest

from deai.chain.market_setup import MarketParams
from deai.market.orders import DEFAULT_SAMPLE_BPS as MARKET_DEFAULT
from deai.units import tokens
from deai.verify.params import (
    DEFAULT_SAMPLE_BPS,
    break_even_rate,
    cheating_gain,
    parameters_for,
    slash_for,
)
from deai.verify.sampling import (
    detection_probability,
    key_commitment,
    network_rate,
    pick,
    receipt_ticket,
    sampling_key,
    selected,
    ticket,
)

MARKET = "0x" + "ab" * 20


def _beacon(i: int) -> bytes:
    return hashlib.sha256(f"block-{i}".encode()).digest()


def test_tickets_are_fixed_by_key_and_beacon_and_differ_between_validators() -> None:
    a, b = sampling_key(b"\x01" * 32), sampling_key(b"\x02" * 32)
    first = ticket(a, chain_id=31337, market=MARKET, job_id=7, beacon=_beacon(1))
    assert first == ticket(a, chain_id=31337, market=MARKET, job_id=7, beacon=_beacon(1))
    assert first != ticket(b, chain_id=31337, market=MARKET, job_id=7, beacon=_beacon(1))
    assert first != ticket(a, chain_id=31337, market=MARKET, job_id=7, beacon=_beacon(2))
    assert first != ticket(a, chain_id=1, market=MARKET, job_id=7, beacon=_beacon(1))
    assert key_commitment(a) != key_commitment(b) and len(key_commitment(a)) == 64
    with pytest.raises(ValueError):
        ticket(a, chain_id=1, market=MARKET, job_id=1, beacon=b"short")
    with pytest.raises(ValueError):
        sampling_key(b"short")


def test_the_selected_fraction_matches_p() -> None:
    key = sampling_key(b"\x03" * 32)
    n = 20_000
    tickets = [ticket(key, chain_id=1, market=MARKET, job_id=j, beacon=_beacon(j)) for j in range(n)]
    for bps in (200, 500, 1_000):
        share = sum(selected(t, bps) for t in tickets) / n
        assert abs(share - bps / 10_000) < 4 * (bps / 10_000 / n) ** 0.5
    assert all(selected(t, 10_000) for t in tickets[:100])
    assert {pick(t, 7) for t in tickets[:500]} == set(range(7))


def test_receipts_draw_their_own_tickets_from_the_anchor_block() -> None:
    key = sampling_key(b"\x04" * 32)
    args = dict(chain_id=1, anchors=MARKET, provider="0x" + "cd" * 20, sequence=3, beacon=_beacon(9))
    tickets = {receipt_ticket(key, index=i, **args) for i in range(200)}  # type: ignore[arg-type]
    assert len(tickets) == 200
    assert receipt_ticket(key, index=0, **args) != ticket(key, chain_id=1, market=MARKET, job_id=0,  # type: ignore[arg-type]
                                                         beacon=_beacon(9))
    assert 0 < sum(selected(t, 2_000) for t in tickets) < 100


def test_detection_probability_formula() -> None:
    assert detection_probability(0.10, 0.05, 1_000) == pytest.approx(1 - 0.995**1000)
    assert detection_probability(0.10, 0.05, 1_000) > 0.99
    assert network_rate(0.05, 3) == pytest.approx(1 - 0.95**3)


@pytest.mark.parametrize("price", [1, tokens("0.5"), tokens(1), tokens(5), tokens(50), tokens(500)])
def test_every_job_value_gets_parameters_under_which_cheating_loses(price: int) -> None:
    params = parameters_for(price)
    assert params.sample_bps >= DEFAULT_SAMPLE_BPS
    assert params.sample_bps * params.slash > price * 10_000  # p·slash > gain (at worst the price), exactly
    assert params.cheating_gain < 0
    assert params.p >= break_even_rate(price, params.slash)
    assert params.slash <= max(tokens(100), price * MarketParams().collateral_bps // 10_000) + 1


def test_small_jobs_get_the_default_p_and_big_jobs_a_higher_one() -> None:
    assert parameters_for(tokens(1)).sample_bps == DEFAULT_SAMPLE_BPS
    assert parameters_for(tokens(50)).sample_bps == 5_000
    assert parameters_for(tokens(10_000)).sample_bps == 10_000


def test_the_slash_mirrors_the_contract_collateral() -> None:
    # JobMarket._collateral: max(price · collateralBps / BPS, price · BPS / p + 1)
    assert slash_for(tokens(1), 500) == tokens(20) + 1
    assert slash_for(tokens(1), 10_000, collateral_bps=20_000) == tokens(2)
    assert cheating_gain(100, 100, 1_000, 1_000) == pytest.approx(100 - 0.1 * 1_100)
    with pytest.raises(ValueError):
        slash_for(1, 0)


def test_the_client_default_is_the_verification_default() -> None:
    assert MARKET_DEFAULT == DEFAULT_SAMPLE_BPS
