"""Event → fact rows without a chain: stake arithmetic, slashes tied to their job, plain JSON."""

from __future__ import annotations

import json

from deai.apps.analytics.rows import RowBuilder, kind_name, plain
from deai.apps.analytics.schema import FACT_TABLES
from deai.apps.analytics.specs import kind_of
from deai.chain.follow import ChainEvent

WHO = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def event(contract: str, name: str, log_index: int, tx: str = "0xaa", **args: object) -> ChainEvent:
    return ChainEvent(contract, name, dict(args), 10, "0xbb", tx, log_index)


def test_stake_follows_deposits_unbonding_and_slashes_active_stake_first() -> None:
    builder = RowBuilder(lambda who: (100, 0))  # 100 staked before these events
    builder.add(event("Staking", "Staked", 0, who=WHO, amount=50, staked=150), 1)
    builder.add(event("Staking", "WithdrawRequested", 1, who=WHO, amount=120, unlockAt=99), 1)
    builder.add(event("Staking", "Slashed", 2, tx="0xcc", who=WHO, slasher=MARKET, beneficiary=MARKET,
                      amount=40, toBeneficiary=20, toTreasury=20), 2)
    builder.add(event("JobMarket", "JobSettled", 3, tx="0xcc", jobId=7, status=7, reason=12, paid=0,
                      fee=0, refunded=10, slashed=40), 2)
    rows = builder.finish()
    columns = ["block_number", "log_index", "tx_hash", "ts", *[c.split()[0] for c in FACT_TABLES["stake_events"].split(", ")]]
    stakes = [dict(zip(columns, r, strict=True)) for r in rows["stake_events"]]
    assert [(s["kind"], s["staked_after"], s["unbonding_after"]) for s in stakes] == [
        ("staked", 150, 0), ("unbonding", 30, 120), ("slashed", 0, 110)]
    slash_columns = ["block_number", "log_index", "tx_hash", "ts",
                     *[c.split()[0] for c in FACT_TABLES["slash_events"].split(", ")]]
    slash = dict(zip(slash_columns, rows["slash_events"][0], strict=True))
    assert slash["job_id"] == 7 and slash["receipt_digest"] is None  # the job its transaction settled
    assert rows["job_events"][0][5] == "JobSettled"


def test_raw_events_are_kept_as_plain_json() -> None:
    builder = RowBuilder(lambda who: (0, 0))
    builder.add(event("Anchors", "AnchorPosted", 0, provider=WHO, sequence=1, root=b"\x01" * 32, count=3, uri="x"), 5)
    rows = builder.finish()
    args = json.loads(rows["events"][0][-1])
    assert args["root"] == "0x" + "01" * 32
    assert rows["anchors"][0][4:] == (WHO, 1, "0x" + "01" * 32, 3, "x")
    assert plain((b"\x00", [1, {"a": b"\xff"}])) == ["0x00", [1, {"a": "0xff"}]]


def test_kind_names_and_spec_kinds() -> None:
    assert kind_name(0) == "inference" and kind_name(15) == "kind_15"
    assert kind_of(b'{"kind":"classify","model":"b"}') == "classify"
    for bad in (b"not json", b"[]", b'{"kind": 3}', b'{"kind": "a b"}', b"{" + b" " * 70_000 + b"}"):
        assert kind_of(bad) is None


def test_ai_nft_mints_and_transfers() -> None:
    builder = RowBuilder(lambda who: (0, 0))
    zero = "0x" + "0" * 40
    builder.add(event("AINFT", "Transfer", 0, sender=zero, receiver=WHO, token_id=1), 3)
    builder.add(event("AINFT", "Minted", 1, tokenId=1, owner=WHO, provider=MARKET, sequence=4, uri="bafy"), 3)
    builder.add(event("AINFT", "Committed", 2, minter=WHO, commitment=b"\x02" * 32), 3)
    rows = builder.finish()
    assert [r[4:] for r in rows["nft_events"]] == [
        (1, "transfer", zero, WHO, None, None, None), (1, "minted", None, WHO, MARKET, 4, "bafy")]
    assert len(rows["events"]) == 3
