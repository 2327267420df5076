"""The `chain` fixture reverts every test's transactions: the second test sees fresh state."""

from __future__ import annotations

from deai.chain.devnet import DEMO_FUNDING
from deai.chain.rpc import send
from deai.testing.plugin import Chain


def test_first_moves_tokens(chain: Chain) -> None:
    token = chain.contract("Token")
    client1, client2 = chain.accounts["client1"], chain.accounts["client2"]
    send(chain.w3, client1, token.functions.transfer(client2.address, 5))
    assert token.functions.balanceOf(client2.address).call() == DEMO_FUNDING + 5


def test_second_sees_the_deployment_state_again(chain: Chain) -> None:
    token = chain.contract("Token")
    assert token.functions.balanceOf(chain.accounts["client2"].address).call() == DEMO_FUNDING
    assert token.functions.balanceOf(chain.accounts["client1"].address).call() == DEMO_FUNDING
