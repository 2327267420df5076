"""Staking: deposit, unbond, withdraw after the delay, lockers, and who may slash."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount

from deai.chain.compile import compile_contract
from deai.chain.rpc import deploy
from deai.errors import ContractRevert
from deai.testing.market import Market, assert_reverts
from deai.testing.plugin import Chain
from deai.units import TokenAmount, tokens


@pytest.fixture
def m(chain: Chain) -> Market:
    return Market(chain.w3, chain.deployment, chain.accounts)


def test_deposit_unbond_withdraw(m: Market) -> None:
    staker = m["validator1"]
    wallet = m.token.balance_of(m.addr("validator1"))
    staked = m.staking.deposit(staker, tokens(300))
    assert staked.staked == tokens(300) and m.staking.total_staked() == tokens(300)
    assert m.token.balance_of(m.staking.address) == tokens(300)
    request = m.staking.request_withdraw(staker, tokens(120))
    account = m.staking.account(m.addr("validator1"))
    assert (account.staked, account.unbonding, account.unlock_at) == (tokens(180), tokens(120), request.unlock_at)
    assert request.unlock_at == m.now() + m.staking.unbonding_delay()
    assert_reverts(m, lambda: m.staking.withdraw(staker), "still unbonding")
    m.advance(m.staking.unbonding_delay())
    assert m.staking.withdraw(staker).amount == tokens(120)
    assert m.token.balance_of(m.addr("validator1")) == wallet - tokens(180)
    assert_reverts(m, lambda: m.staking.withdraw(staker), "nothing is unbonding")


def test_a_new_request_restarts_the_delay(m: Market) -> None:
    staker = m["validator1"]
    m.staking.deposit(staker, tokens(10))
    m.staking.request_withdraw(staker, tokens(4))
    m.advance(m.staking.unbonding_delay() - 100)
    m.staking.request_withdraw(staker, tokens(1))
    m.advance(200)
    assert_reverts(m, lambda: m.staking.withdraw(staker), "still unbonding")


def test_staking_reverts(m: Market) -> None:
    staker = m["validator1"]
    assert_reverts(m, lambda: m.staking.deposit(staker, TokenAmount(0)), "zero amount")
    assert_reverts(m, lambda: m.staking.deposit(staker, tokens(1), approve=False), "allowance too low")
    m.staking.deposit(staker, tokens(10))
    assert_reverts(m, lambda: m.staking.request_withdraw(staker, TokenAmount(0)), "zero amount")
    assert_reverts(m, lambda: m.staking.request_withdraw(staker, tokens(11)), "exceeds free stake")


def test_the_registry_locks_the_minimum_of_an_active_provider(m: Market) -> None:
    provider = m["provider1"]
    m.staking.deposit(provider, tokens(150))
    m.registry.register_provider(provider, "http://p", "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4", {})
    assert m.staking.free_stake_of(m.addr("provider1")) == tokens(50)
    assert_reverts(m, lambda: m.staking.request_withdraw(provider, tokens(51)), "exceeds free stake")
    m.registry.set_provider_active(provider, False)
    m.staking.request_withdraw(provider, tokens(150))
    assert m.staking.stake_of(m.addr("provider1")) == 0


def test_only_slashers_slash_and_only_the_owner_adds_them(m: Market) -> None:
    owner, outsider, victim = m["deployer"], m["client1"], m["validator1"]
    m.staking.deposit(victim, tokens(100))
    assert m.staking.is_slasher(m.market.address) and not m.staking.is_slasher(m.addr("deployer"))
    assert m.staking.lockers() == [m.market.address, m.registry.address]
    for caller in (owner, outsider, victim):
        def slash(c: LocalAccount = caller) -> object:
            return m.staking.slash(c, m.addr("validator1"), tokens(1), m.addr("client1"))

        assert_reverts(m, slash, "caller is not a slasher")
    assert_reverts(m, lambda: m.staking.add_slasher(outsider, m.addr("client1")), "only the owner")
    assert_reverts(m, lambda: m.staking.add_slasher(owner, m.market.address), "already a slasher")
    assert_reverts(m, lambda: m.staking.add_slasher(owner, "0x" + "00" * 20), "zero address")
    assert_reverts(m, lambda: m.staking.add_locker(outsider, m.addr("client1")), "only the owner")
    assert_reverts(m, lambda: m.staking.add_locker(owner, m.registry.address), "already a locker")


def test_slash_splits_between_beneficiary_and_treasury_and_reaches_unbonding_stake(m: Market) -> None:
    owner, victim = m["deployer"], m["validator1"]
    # an EOA made slasher, in this test's snapshot only, to drive slash() directly
    m.staking.add_slasher(owner, m.addr("deployer"))
    m.staking.deposit(victim, tokens(100))
    m.staking.request_withdraw(victim, tokens(60))
    treasury = m.staking.treasury()
    treasury_before = m.token.balance_of(treasury)
    beneficiary_before = m.token.balance_of(m.addr("client1"))
    assert_reverts(m, lambda: m.staking.slash(owner, m.addr("validator1"), TokenAmount(0), m.addr("client1")),
                   "zero amount")
    slashed = m.staking.slash(owner, m.addr("validator1"), tokens(70), m.addr("client1"))
    assert (slashed.amount, slashed.to_beneficiary, slashed.to_treasury) == (tokens(70), tokens(35), tokens(35))
    account = m.staking.account(m.addr("validator1"))
    assert (account.staked, account.unbonding) == (0, tokens(30))
    assert m.token.balance_of(m.addr("client1")) == beneficiary_before + tokens(35)
    assert m.token.balance_of(treasury) == treasury_before + tokens(35)
    # more than is left: takes what there is; no beneficiary: all to the treasury
    rest = m.staking.slash(owner, m.addr("validator1"), tokens(1_000), "0x" + "00" * 20)
    assert (rest.amount, rest.to_beneficiary, rest.to_treasury) == (tokens(30), 0, tokens(30))
    assert m.token.balance_of(m.staking.address) == 0


@pytest.mark.parametrize(("args", "reason"), [
    (("0x" + "00" * 20, "T", 0, 0), "token is the zero address"),
    (("TOKEN", "0x" + "00" * 20, 0, 0), "treasury is the zero address"),
    (("TOKEN", "T", 366 * 86_400, 0), "unbonding delay too long"),
    (("TOKEN", "T", 0, 10_001), "beneficiary share above 100%"),
])
def test_constructor_checks(m: Market, args: tuple[object, ...], reason: str) -> None:
    fill = {"TOKEN": m.token.address, "T": m.addr("treasury")}
    real = [fill.get(a, a) if isinstance(a, str) else a for a in args]
    with pytest.raises(ContractRevert) as info:
        deploy(m.w3, m["deployer"], compile_contract("Staking"), *real)
    assert reason in info.value.reason
