"""Token: the devnet ERC-20 — transfers, allowances, mint and burn, and their reverts."""

from __future__ import annotations

import pytest

from deai.chain.devnet import DEMO_FUNDING
from deai.chain.events import Approval, Transfer
from deai.testing.market import Market, assert_reverts
from deai.testing.plugin import Chain
from deai.units import TokenAmount, tokens

ZERO = "0x" + "00" * 20


@pytest.fixture
def m(chain: Chain) -> Market:
    return Market(chain.w3, chain.deployment, chain.accounts)


def test_metadata_and_funding(m: Market) -> None:
    assert (m.token.symbol(), m.token.decimals()) == ("DEAI", 18)
    assert m.token.minter() == m.addr("deployer")
    assert m.token.balance_of(m.addr("client1")) == DEMO_FUNDING
    assert m.token.total_supply() == DEMO_FUNDING * 9


def test_transfer_and_allowance(m: Market) -> None:
    moved = m.token.transfer(m["client1"], m.addr("client2"), tokens(3))
    assert isinstance(moved, Transfer) and moved.value == tokens(3)
    assert m.token.balance_of(m.addr("client2")) == DEMO_FUNDING + tokens(3)
    approval = m.token.approve(m["client1"], m.addr("client2"), tokens(2))
    assert isinstance(approval, Approval) and m.token.allowance(m.addr("client1"), m.addr("client2")) == tokens(2)
    spend = m.token.contract.functions.transferFrom(m.addr("client1"), m.addr("provider1"), tokens(2))
    m.token._send(m["client2"], spend)
    assert m.token.allowance(m.addr("client1"), m.addr("client2")) == 0
    assert m.token.balance_of(m.addr("provider1")) == DEMO_FUNDING + tokens(2)
    # an unlimited allowance is never spent down
    m.token.approve(m["client1"], m.addr("client2"), 2**256 - 1)
    m.token._send(m["client2"], m.token.contract.functions.transferFrom(m.addr("client1"), m.addr("client2"), 1))
    assert m.token.allowance(m.addr("client1"), m.addr("client2")) == 2**256 - 1


def test_transfer_reverts(m: Market) -> None:
    assert_reverts(m, lambda: m.token.transfer(m["client1"], ZERO, tokens(1)), "transfer to the zero address")
    assert_reverts(m, lambda: m.token.transfer(m["client1"], m.addr("client2"), TokenAmount(DEMO_FUNDING + 1)),
                   "balance too low")
    spend = m.token.contract.functions.transferFrom(m.addr("client1"), m.addr("client2"), 1)
    assert_reverts(m, lambda: m.token._send(m["client2"], spend), "allowance too low")


def test_mint_and_burn(m: Market) -> None:
    supply = m.token.total_supply()
    assert_reverts(m, lambda: m.token.mint(m["client1"], m.addr("client1"), tokens(1)), "only the minter")
    assert_reverts(m, lambda: m.token.mint(m["deployer"], ZERO, tokens(1)), "mint to the zero address")
    m.token.mint(m["deployer"], m.addr("client1"), tokens(5))
    burned = m.token.burn(m["client1"], tokens(7))
    assert burned.receiver == ZERO and burned.value == tokens(7)
    assert m.token.total_supply() == supply - tokens(2)
    assert_reverts(m, lambda: m.token.burn(m["deployer"], TokenAmount(1)), "burn exceeds balance")
