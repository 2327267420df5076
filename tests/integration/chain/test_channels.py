"""Channels on a real anvil: every path, every revert (and that it changed nothing), conservation.

Each revert is checked twice: once through gas estimation (which gives the contract's
reason) and once mined on chain with a fixed gas limit, after which every token balance,
the supply and every channel must be exactly as before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from deai.chain.channels import ZERO_ADDRESS, Channels
from deai.chain.devnet import DEMO_ROLES
from deai.chain.rpc import send
from deai.errors import ChainError, ContractRevert, VoucherError
from deai.identity.signing import Eip712Domain, sign_typed
from deai.market.vouchers import (
    VOUCHER_PRIMARY_TYPE,
    VOUCHER_TYPES,
    SignedVoucher,
    Voucher,
    VoucherVerifier,
    sign_voucher,
    voucher_domain,
)
from deai.testing.plugin import Chain
from deai.units import ChannelId, TokenAmount

pytestmark = pytest.mark.integration

# -1 stands for "the rightful party" and is drawn most often, so valid calls are common.
ACTOR = st.sampled_from([-1, -1, -1, 0, 1, 2, 3])
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


# --- helpers -------------------------------------------------------------------------------


def observe(chain: Chain, channels: Channels, ids: list[bytes]) -> list[Any]:
    """Everything a channel call could change: token balances, supply, channel structs, count.

    One JSON-RPC batch, so the property test can afford it around every step.
    """
    token = chain.contract("Token")
    holders = [chain.accounts[r].address for r in DEMO_ROLES] + [channels.address]
    fn = channels.contract.functions
    with chain.w3.batch_requests() as batch:
        for holder in holders:
            batch.add(token.functions.balanceOf(holder))
        batch.add(token.functions.totalSupply())
        batch.add(fn.channelCount())
        for cid in ids:
            batch.add(fn.channels(cid))
        return list(batch.execute())


def expect_revert(
    chain: Chain, channels: Channels, account: LocalAccount, call: ContractFunction,
    reason: str, ids: list[bytes],
) -> None:
    """``call`` reverts with ``reason``; mined anyway with fixed gas it reverts and changes nothing."""
    before = observe(chain, channels, ids)
    with pytest.raises(ContractRevert) as info:
        send(chain.w3, account, call)
    assert info.value.reason == reason
    assert mine_failing(chain, account, call)["status"] == 0
    assert observe(chain, channels, ids) == before


def mine_failing(chain: Chain, account: LocalAccount, call: ContractFunction) -> TxReceipt:
    """Send ``call`` with a fixed gas limit (no estimation, which would refuse it) and mine it."""
    w3 = chain.w3
    tx = call.build_transaction({
        "from": account.address, "gas": 400_000, "gasPrice": w3.eth.gas_price,
        "nonce": w3.eth.get_transaction_count(account.address), "chainId": w3.eth.chain_id,
    })
    tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)  # type: ignore[arg-type]
    return w3.eth.wait_for_transaction_receipt(tx_hash)


@pytest.fixture
def channels(chain: Chain) -> Channels:
    return Channels.from_deployment(chain.w3, chain.deployment)


@pytest.fixture
def client(chain: Chain) -> LocalAccount:
    return chain.accounts["client1"]


@pytest.fixture
def provider(chain: Chain) -> LocalAccount:
    return chain.accounts["provider1"]


@pytest.fixture
def opened(channels: Channels, client: LocalAccount, provider: LocalAccount) -> bytes:
    return bytes(channels.open(client, provider.address, 1_000).channel_id)


def balance(chain: Chain, who: str) -> int:
    return int(chain.contract("Token").functions.balanceOf(who).call())


def warp(chain: Chain, seconds: int) -> None:
    chain.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


# --- EIP-712 from both sides ------------------------------------------------------------------


def test_domain_and_digest_match_python(channels: Channels, client: LocalAccount) -> None:
    domain = channels.domain()
    verifier = VoucherVerifier(domain)
    assert channels.domain_separator() == verifier.domain_separator
    for amount in (0, 1, 10**18, 2**256 - 1):
        cid = bytes(range(32))
        voucher = Voucher(ChannelId(cid), TokenAmount(amount))
        assert channels.voucher_digest(cid, amount) == verifier.digest(voucher)
        signed = sign_voucher(client, domain, cid, amount)
        assert channels.voucher_signer(signed) == client.address == verifier.recover(signed)


def test_contract_accepts_a_raw_signature_of_its_own_digest(
    channels: Channels, client: LocalAccount, provider: LocalAccount, opened: bytes
) -> None:
    """The other direction: sign the digest the contract computes, without eth-account's encoder."""
    digest = channels.voucher_digest(opened, 250)
    signature = Account.unsafe_sign_hash(digest, client.key).signature  # bare secp256k1, no encoder
    assert VoucherVerifier(channels.domain()).recover(
        SignedVoucher(Voucher(ChannelId(opened), TokenAmount(250)), bytes(signature))
    ) == client.address
    signed = SignedVoucher(Voucher(ChannelId(opened), TokenAmount(250)), bytes(signature))
    assert channels.redeem(provider, signed).payout == 250


# --- open and top up -------------------------------------------------------------------------


def test_open_moves_the_deposit_and_records_the_channel(
    chain: Chain, channels: Channels, client: LocalAccount, provider: LocalAccount
) -> None:
    before = balance(chain, client.address)
    event = channels.open(client, provider.address, 1_000)
    assert (event.client, event.provider, event.deposit) == (client.address, provider.address, 1_000)
    assert event.challenge_period == channels.challenge_period() == 3600
    ch = channels.channel(event.channel_id)
    assert (ch.exists, ch.client, ch.provider, ch.deposit, ch.paid, ch.closing) == (
        True, client.address, provider.address, 1_000, 0, False)
    assert balance(chain, client.address) == before - 1_000
    assert balance(chain, channels.address) == 1_000
    second = channels.open(client, provider.address, 1_000)
    assert second.channel_id != event.channel_id  # same parties, new id: ids never repeat
    assert channels.channel_count() == 2
    assert channels.events(channel_id=event.channel_id) == [event]


@pytest.mark.parametrize(
    ("to", "deposit", "reason"),
    [
        ("provider1", 0, "channels: zero deposit"),
        ("zero", 5, "channels: provider is the zero address"),
        ("client1", 5, "channels: client and provider are the same"),
        ("provider1", 10**30, "token: balance too low"),
    ],
)
def test_open_reverts(
    chain: Chain, channels: Channels, client: LocalAccount, to: str, deposit: int, reason: str
) -> None:
    target = "0x" + "00" * 20 if to == "zero" else chain.accounts[to].address
    channels.approve(client, 10**30)
    expect_revert(chain, channels, client, channels.contract.functions.open(target, deposit), reason, [])


def test_open_without_allowance_reverts(chain: Chain, channels: Channels, client: LocalAccount) -> None:
    call = channels.contract.functions.open(chain.accounts["provider1"].address, 5)
    expect_revert(chain, channels, client, call, "token: allowance too low", [])


def test_top_up(chain: Chain, channels: Channels, client: LocalAccount, opened: bytes) -> None:
    event = channels.top_up(client, opened, 500)
    assert (event.amount, event.deposit) == (500, 1_500)
    assert channels.channel(opened).deposit == 1_500
    assert balance(chain, channels.address) == 1_500


def test_top_up_reverts(
    chain: Chain, channels: Channels, client: LocalAccount, provider: LocalAccount, opened: bytes
) -> None:
    fn = channels.contract.functions
    channels.approve(client, 10**20)
    channels.approve(provider, 10**20)
    ids = [opened]
    expect_revert(chain, channels, client, fn.topUp(opened, 0), "channels: zero amount", ids)
    expect_revert(chain, channels, provider, fn.topUp(opened, 5), "channels: only the client tops up", ids)
    expect_revert(chain, channels, client, fn.topUp(bytes(32), 5), "channels: unknown channel", ids)
    channels.start_close(client, opened)
    expect_revert(chain, channels, client, fn.topUp(opened, 5), "channels: channel is closing", ids)


# --- redeem ----------------------------------------------------------------------------------


def test_redeem_pays_the_difference_and_keeps_the_channel_open(
    chain: Chain, channels: Channels, client: LocalAccount, provider: LocalAccount, opened: bytes
) -> None:
    start = balance(chain, provider.address)
    domain = channels.domain()
    first = channels.redeem(provider, sign_voucher(client, domain, opened, 300))
    assert (first.cumulative_amount, first.payout) == (300, 300)
    second = channels.redeem(provider, sign_voucher(client, domain, opened, 1_000))
    assert (second.cumulative_amount, second.payout) == (1_000, 700)
    assert balance(chain, provider.address) == start + 1_000
    ch = channels.channel(opened)
    assert (ch.exists, ch.paid, ch.available) == (True, 1_000, 0)


def test_redeem_reverts(
    chain: Chain, channels: Channels, client: LocalAccount, provider: LocalAccount, opened: bytes
) -> None:
    fn = channels.contract.functions
    domain = channels.domain()
    ids = [opened]

    def redeem_call(signed: SignedVoucher, channel: bytes = opened) -> ContractFunction:
        return fn.redeem(channel, int(signed.cumulative_amount), signed.signature)

    good = sign_voucher(client, domain, opened, 400)
    stranger = chain.accounts["client2"]
    other_chain = voucher_domain(1, channels.address)
    other_contract = voucher_domain(domain.chain_id, chain.deployment.address("Token"))
    cases: list[tuple[LocalAccount, ContractFunction, str]] = [
        (client, redeem_call(good), "channels: only the provider redeems or closes"),
        (stranger, redeem_call(good), "channels: only the provider redeems or closes"),
        (provider, redeem_call(good, bytes(32)), "channels: unknown channel"),
        (provider, redeem_call(sign_voucher(stranger, domain, opened, 400)),
         "channels: voucher not signed by the client"),
        (provider, redeem_call(sign_voucher(client, other_chain, opened, 400)),
         "channels: voucher not signed by the client"),
        (provider, redeem_call(sign_voucher(client, other_contract, opened, 400)),
         "channels: voucher not signed by the client"),
        # A voucher for another channel of the same client does not pay this one.
        (provider, fn.redeem(opened, 400, sign_voucher(client, domain, bytes(32), 400).signature),
         "channels: voucher not signed by the client"),
        # The right signature with an inflated amount.
        (provider, fn.redeem(opened, 401, good.signature), "channels: voucher not signed by the client"),
        (provider, redeem_call(sign_voucher(client, domain, opened, 1_001)),
         "channels: voucher exceeds the deposit"),
        (provider, redeem_call(sign_voucher(client, domain, opened, 0)), "channels: stale voucher"),
        (provider, fn.redeem(opened, 400, good.signature[:64]), "channels: signature must be 65 bytes"),
        (provider, fn.redeem(opened, 400, good.signature[:64] + b"\x01"), "channels: bad signature (v)"),
        (provider, fn.redeem(opened, 400, bytes(65)[:64] + b"\x1b"), "channels: bad signature"),
    ]
    for account, call, reason in cases:
        expect_revert(chain, channels, account, call, reason, ids)

    # The malleable twin of a valid signature (s' = n - s, v flipped) is refused.
    r, s, v = good.signature[:32], int.from_bytes(good.signature[32:64], "big"), good.signature[64]
    twin = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes((55 - v,))
    expect_revert(chain, channels, provider, fn.redeem(opened, 400, twin),
                  "channels: bad signature (malleable s)", ids)


def test_a_voucher_is_never_paid_twice(
    chain: Chain, channels: Channels, client: LocalAccount, provider: LocalAccount, opened: bytes
) -> None:
    fn = channels.contract.functions
    domain = channels.domain()
    v500 = sign_voucher(client, domain, opened, 500)
    v300 = sign_voucher(client, domain, opened, 300)
    channels.redeem(provider, v500)
    for stale in (v500, v300):  # replay, then an older (lower) one
        call = fn.redeem(opened, int(stale.cumulative_amount), stale.signature)
        expect_revert(chain, channels, provider, call, "channels: stale voucher", [opened])
        call = fn.close(opened, int(v300.cumulative_amount), v300.signature)
        expect_revert(chain, channels, provider, call, "channels: stale voucher", [opened])
    # Closing with the already-redeemed voucher pays nothing more.
    closed = channels.close(provider, opened, v500)
    assert (closed.payout, closed.refund, closed.cumulative_amount) == (0, 500, 500)
    # And after the close every voucher meets an unknown channel.
    call = fn.redeem(opened, 1_000, sign_voucher(client, domain, opened, 1_000).signature)
    expect_revert(chain, channels, provider, call, "channels: unknown channel", [opened])


# --- close by the provider ---------------------------------------------------------------------


def test_close_pays_provider_refunds_client_and_deletes(
    chain: Chain, channels: Channels, client: LocalAccount, provider: LocalAccount, opened: bytes
) -> None:
    c0, p0 = balance(chain, client.address), balance(chain, provider.address)
    domain = channels.domain()
    channels.redeem(provider, sign_voucher(client, domain, opened, 100))
    closed = channels.close(provider, opened, sign_voucher(client, domain, opened, 650))
    assert (closed.cumulative_amount, closed.payout, closed.refund) == (650, 550, 350)
    assert balance(chain, provider.address) == p0 + 650
    assert balance(chain, client.address) == c0 + 350
    assert balance(chain, channels.address) == 0
    assert not channels.channel(opened).exists
    kinds = [type(e).__name__ for e in channels.events(channel_id=opened)]
    assert kinds == ["ChannelOpened", "VoucherRedeemed", "ChannelClosed"]


def test_close_without_a_voucher_refunds_everything(
    chain: Chain, channels: Channels, client: LocalAccount, provider: LocalAccount, opened: bytes
) -> None:
    c0 = balance(chain, client.address)
    closed = channels.close(provider, opened)
    assert (closed.payout, closed.refund) == (0, 1_000)
    assert balance(chain, client.address) == c0 + 1_000


def test_close_reverts(
    chain: Chain, channels: Channels, client: LocalAccount, provider: LocalAccount, opened: bytes
) -> None:
    fn = channels.contract.functions
    domain = channels.domain()
    good = sign_voucher(client, domain, opened, 400)
    ids = [opened]
    expect_revert(chain, channels, client, fn.close(opened, 400, good.signature),
                  "channels: only the provider redeems or closes", ids)
    expect_revert(chain, channels, provider, fn.close(opened, 400, b""),
                  "channels: signature must be 65 bytes", ids)
    expect_revert(chain, channels, provider, fn.close(opened, 2_000, sign_voucher(client, domain, opened, 2_000).signature),
                  "channels: voucher exceeds the deposit", ids)
    bad = sign_voucher(chain.accounts["client2"], domain, opened, 400)
    expect_revert(chain, channels, provider, fn.close(opened, 400, bad.signature),
                  "channels: voucher not signed by the client", ids)
    with pytest.raises(ChainError, match="another channel"):
        channels.close(provider, opened, sign_voucher(client, domain, bytes(32), 1))


# --- close by the client: challenge period, settle --------------------------------------------


def test_client_close_with_challenge_then_settle(
    chain: Chain, channels: Channels, client: LocalAccount, provider: LocalAccount, opened: bytes
) -> None:
    fn = channels.contract.functions
    domain = channels.domain()
    c0, p0 = balance(chain, client.address), balance(chain, provider.address)
    started = channels.start_close(client, opened)
    assert started.closes_at == channels.channel(opened).closes_at > 0
    ids = [opened]
    expect_revert(chain, channels, client, fn.settle(opened), "channels: challenge period not over", ids)
    expect_revert(chain, channels, client, fn.startClose(opened), "channels: close already started", ids)
    # Within the period the provider answers with its newest voucher.
    channels.redeem(provider, sign_voucher(client, domain, opened, 400))
    warp(chain, 3600)
    late = sign_voucher(client, domain, opened, 600)
    expect_revert(chain, channels, provider, fn.redeem(opened, 600, late.signature),
                  "channels: challenge period is over", ids)
    expect_revert(chain, channels, provider, fn.close(opened, 600, late.signature),
                  "channels: challenge period is over", ids)
    # Anyone may settle; the money only goes to the client.
    settled = channels.settle(chain.accounts["validator1"], opened)
    assert (settled.paid, settled.refund) == (400, 600)
    assert balance(chain, client.address) == c0 + 600
    assert balance(chain, provider.address) == p0 + 400
    assert not channels.channel(opened).exists
    expect_revert(chain, channels, client, fn.settle(opened), "channels: unknown channel", ids)


def test_provider_close_during_the_challenge_period(
    chain: Chain, channels: Channels, client: LocalAccount, provider: LocalAccount, opened: bytes
) -> None:
    channels.start_close(client, opened)
    closed = channels.close(provider, opened, sign_voucher(client, channels.domain(), opened, 999))
    assert (closed.payout, closed.refund) == (999, 1)


def test_start_close_and_settle_reverts(
    chain: Chain, channels: Channels, client: LocalAccount, provider: LocalAccount, opened: bytes
) -> None:
    fn = channels.contract.functions
    ids = [opened]
    expect_revert(chain, channels, provider, fn.startClose(opened), "channels: only the client starts a close", ids)
    expect_revert(chain, channels, client, fn.startClose(bytes(32)), "channels: unknown channel", ids)
    expect_revert(chain, channels, client, fn.settle(opened), "channels: no close was started", ids)
    expect_revert(chain, channels, client, fn.settle(bytes(32)), "channels: unknown channel", ids)


# --- conservation of funds under random operations ---------------------------------------------


def test_funds_are_conserved_under_random_operations(chain: Chain, channels: Channels) -> None:
    """Random opens, top-ups, vouchers, closes and settles, valid or not, by any of the parties.

    After every step: the contract holds exactly the unpaid deposits of live channels, the
    supply is unchanged, and each provider has received exactly the highest voucher amount
    redeemed per channel (never a voucher twice). A refused step changes nothing.
    """
    w3 = chain.w3
    token = chain.contract("Token")
    clients = [chain.accounts["client1"], chain.accounts["client2"]]
    providers = [chain.accounts["provider1"], chain.accounts["provider2"]]
    parties = clients + providers
    domain = channels.domain()
    for account in parties:
        channels.approve(account, 10**24)
    stats: Counter[str] = Counter()

    class ChannelMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
            self.supply = int(token.functions.totalSupply().call())
            self.start = {a.address: balance(chain, a.address) for a in parties}
            self.ids: list[bytes] = []
            self.signed: dict[bytes, int] = {}  # highest voucher the client signed per channel
            self.received: dict[str, int] = {p.address: 0 for p in providers}
            self.refunded: dict[str, int] = {c.address: 0 for c in clients}
            self.deposited: dict[str, int] = {a.address: 0 for a in parties}

        def teardown(self) -> None:
            w3.provider.make_request("evm_revert", [self.snapshot])  # type: ignore[arg-type]

        def actor(self, index: int, rightful: str) -> LocalAccount:
            """-1 (drawn often) is the party the call is meant for; 0..3 anyone, right or wrong."""
            by_address = {a.address: a for a in parties}
            return by_address.get(rightful, parties[0]) if index < 0 else parties[index]

        def attempt(self, step: Callable[[], Any]) -> Any:
            """Run ``step``; if the contract refuses it, check that nothing changed."""
            before = observe(chain, channels, self.ids)
            try:
                return step()
            except ContractRevert:
                assert observe(chain, channels, self.ids) == before
                return None

        @rule(c=st.integers(0, 1), p=st.integers(0, 1), deposit=st.integers(0, 2_000))
        def open(self, c: int, p: int, deposit: int) -> None:
            event = self.attempt(lambda: channels.open(clients[c], providers[p].address, deposit, approve=False))
            if event is not None:
                self.ids.append(bytes(event.channel_id))
                stats["open"] += 1
                self.deposited[clients[c].address] += deposit

        @precondition(lambda self: self.ids)
        @rule(i=st.integers(0, 50), amount=st.integers(0, 500), by=ACTOR)
        def top_up(self, i: int, amount: int, by: int) -> None:
            cid = self.ids[i % len(self.ids)]
            who = self.actor(by, channels.channel(cid).client)
            if self.attempt(lambda: channels.top_up(who, cid, amount, approve=False)):
                self.deposited[who.address] += amount
                stats["top_up"] += 1

        @precondition(lambda self: self.ids)
        @rule(i=st.integers(0, 50), percent=st.integers(0, 110), close=st.booleans(),
              by=ACTOR, signer=ACTOR)
        def claim(self, i: int, percent: int, close: bool, by: int, signer: int) -> None:
            """A voucher for ``percent`` of the deposit: often valid, sometimes stale or too high."""
            cid = self.ids[i % len(self.ids)]
            ch = channels.channel(cid)
            amount = ch.deposit * percent // 100
            who, client = self.actor(by, ch.provider), self.actor(signer, ch.client)
            voucher = sign_voucher(client, domain, cid, amount)
            if ch.exists and client.address == ch.client:
                self.signed[cid] = max(self.signed.get(cid, 0), amount)
            before = ch.paid
            if close:
                event = self.attempt(lambda: channels.close(who, cid, voucher))
            else:
                event = self.attempt(lambda: channels.redeem(who, voucher))
            if event is not None:
                stats["close" if close else "redeem"] += 1
                assert event.cumulative_amount == amount
                assert event.payout == amount - before
                assert amount > before or close
                self.received[ch.provider] += event.payout
                if close:
                    self.refunded[ch.client] += event.refund

        @precondition(lambda self: self.ids)
        @rule(i=st.integers(0, 50), by=ACTOR)
        def start_close(self, i: int, by: int) -> None:
            cid = self.ids[i % len(self.ids)]
            if self.attempt(lambda: channels.start_close(self.actor(by, channels.channel(cid).client), cid)):
                stats["start_close"] += 1

        @precondition(lambda self: self.ids)
        @rule(i=st.integers(0, 50), wait=st.sampled_from([0, 3600]))
        def settle(self, i: int, wait: int) -> None:
            if wait:
                warp(chain, wait)
            cid = self.ids[i % len(self.ids)]
            event = self.attempt(lambda: channels.settle(parties[0], cid))
            if event is not None:
                self.refunded[event.client] += event.refund
                stats["settle"] += 1

        @invariant()
        def conserved(self) -> None:
            state = observe(chain, channels, self.ids)
            balances = dict(zip([*(chain.accounts[r].address for r in DEMO_ROLES), channels.address],
                                state, strict=False))
            live = [c for c in state[len(DEMO_ROLES) + 3:] if c[0] != ZERO_ADDRESS]
            assert balances[channels.address] == sum(deposit - paid for _, _, deposit, paid, _ in live)
            assert state[len(DEMO_ROLES) + 1] == self.supply
            for p in providers:
                assert balances[p.address] == (self.start[p.address] + self.received[p.address]
                                               - self.deposited[p.address])
            for c in clients:
                assert balances[c.address] == (self.start[c.address] - self.deposited[c.address]
                                               + self.refunded[c.address])
            # Nobody was paid more than the client signed for, on any channel.
            for cid, raw in zip(self.ids, state[len(DEMO_ROLES) + 3:], strict=True):
                if raw[0] != ZERO_ADDRESS:
                    assert raw[3] <= self.signed.get(cid, 0)
                    assert raw[3] <= raw[2]

    run_state_machine_as_test(
        ChannelMachine,
        settings=settings(max_examples=10, stateful_step_count=10, deadline=None),
    )
    assert stats["open"] > 0


def test_wrapper_signs_like_a_wallet(channels: Channels, client: LocalAccount) -> None:
    """sign_voucher is plain EIP-712 through deai.identity (what eth_signTypedData_v4 gives)."""
    domain: Eip712Domain = channels.domain()
    message = {"channelId": bytes(32), "cumulativeAmount": 7}
    raw = sign_typed(client, domain, VOUCHER_TYPES, VOUCHER_PRIMARY_TYPE, message)
    assert sign_voucher(client, domain, bytes(32), 7).signature == raw


def test_verifier_follows_channel_events(
    chain: Chain, channels: Channels, client: LocalAccount, provider: LocalAccount
) -> None:
    """A provider's VoucherVerifier kept up to date from the contract's events alone."""
    verifier = VoucherVerifier(channels.domain(), provider.address)
    start = chain.w3.eth.block_number + 1

    def sync() -> None:
        nonlocal start
        for event in channels.events(from_block=start):
            verifier.apply(event)
        start = chain.w3.eth.block_number + 1

    domain = channels.domain()
    other = channels.open(client, chain.accounts["provider2"].address, 50)  # not ours: ignored
    cid = bytes(channels.open(client, provider.address, 100).channel_id)
    sync()
    assert verifier.terms(other.channel_id) is None
    assert verifier.accept(sign_voucher(client, domain, cid, 60), price=10).remaining == 40
    channels.top_up(client, cid, 100)
    sync()
    assert verifier.accept(sign_voucher(client, domain, cid, 150), price=10).remaining == 50
    channels.redeem(provider, sign_voucher(client, domain, cid, 150))
    channels.start_close(client, cid)
    sync()
    terms = verifier.terms(cid)
    assert terms is not None and (terms.paid, terms.closing) == (150, True)
    with pytest.raises(VoucherError) as info:
        verifier.accept(sign_voucher(client, domain, cid, 160), price=10)
    assert info.value.reason == "closing"
    channels.close(provider, cid, verifier.latest(cid))
    sync()
    assert verifier.terms(cid) is None
