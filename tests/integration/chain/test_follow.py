"""The event follower: decoded, ordered, ranged, and resumable from a cursor."""

from __future__ import annotations

from deai.chain.follow import EventFollower
from deai.chain.rpc import send
from deai.testing.plugin import Chain


def test_follows_transfers_in_order_across_small_ranges(chain: Chain) -> None:
    token = chain.contract("Token")
    follower = EventFollower(chain.w3, {"Token": token}, max_range=2)
    start = chain.w3.eth.block_number + 1
    client1, client2 = chain.accounts["client1"], chain.accounts["client2"]
    for amount in (1, 2, 3):
        send(chain.w3, client1, token.functions.transfer(client2.address, amount))
    events, cursor = follower.poll(start)
    transfers = [e for e in events if e.name == "Transfer"]
    assert [e.args["value"] for e in transfers] == [1, 2, 3]
    assert all(e.contract == "Token" and e.args["sender"] == client1.address for e in transfers)
    assert cursor == chain.w3.eth.block_number + 1
    # Resuming from the cursor sees only what is new.
    assert follower.poll(cursor) == ([], cursor)
    send(chain.w3, client2, token.functions.transfer(client1.address, 9))
    events, _ = follower.poll(cursor)
    assert [e.args["value"] for e in events] == [9]


def test_confirmations_hold_back_the_newest_blocks(chain: Chain) -> None:
    token = chain.contract("Token")
    start = chain.w3.eth.block_number + 1
    send(
        chain.w3,
        chain.accounts["client1"],
        token.functions.transfer(chain.accounts["client2"].address, 1),
    )
    assert EventFollower(chain.w3, {"Token": token}, confirmations=1).poll(start)[0] == []
    assert len(EventFollower(chain.w3, {"Token": token}).poll(start)[0]) == 1
