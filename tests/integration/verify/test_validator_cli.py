"""``deai validator status`` as a user runs it: a validator's fees, read from the ValidatorPool on the devnet.

validator1 reports two epochs; the first is paid out (claimed), the second is still in its
reporting period; the command shows the fees earned, the claimed epoch with its amount and
the unclaimed one with the epoch its claim opens, and the endpoint the validator published.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deai.chain.validator_pool import ValidatorPool
from deai.cli.main import run
from deai.testing.market import Market, prepare_roles
from deai.testing.plugin import Chain
from deai.units import tokens
from deai.verify.reputation import encode_scores, scores_root

pytestmark = pytest.mark.integration

URI = encode_scores({1: 10_500})


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code = run([*args, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1])


def test_validator_status_shows_fees_earned_claimed_and_unclaimed_epochs(
    chain: Chain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    m = Market(chain.w3, chain.deployment, chain.accounts)
    prepare_roles(m)
    pool = ValidatorPool(m.w3, m.deployment)
    v1 = m["validator1"]
    data_dir = tmp_path / "validator1"
    m.deployment.save(data_dir / "devnet" / "deployment.json")
    monkeypatch.setenv("DEAI_RPC_URL", m.deployment.rpc_url)
    base = ("--data-dir", str(data_dir), "validator", "status")

    code, fresh = _cli(capsys, *base, "--devnet-role", "validator1")
    assert code == 0 and fresh["fees_earned"] == 0 and fresh["claimed"] == [] and fresh["unclaimed"] == []
    assert fresh["validator"] == m.addr("validator1") and fresh["active"] is True and fresh["endpoint"] is None

    job = m.committed(price=tokens(5))
    m.advance(m.market.settings().challenge_window)
    m.market.finalize(m["client2"], job)
    length = pool.epoch_length()
    m.advance((m.now() // length + 1) * length + 1 - m.now())  # 1 s into the next epoch
    epoch = m.now() // length
    pool.sync(m["client2"], [1, 2, 3])
    m.advance(length)
    pool.report(v1, epoch, scores_root(URI), URI)
    m.advance(length)
    share = pool.claim(v1, epoch).amount
    pool.report(v1, epoch + 1, scores_root(URI), URI)  # its claim opens in epoch + 3
    m.registry.set_validator_endpoint(v1, "http://127.0.0.1:9300")

    code, found = _cli(capsys, *base, m.addr("validator1"))
    assert code == 0 and share > 0
    assert found["fees_earned"] == share and found["endpoint"] == "http://127.0.0.1:9300"
    [claimed] = found["claimed"]  # type: ignore[misc]
    assert claimed["epoch"] == epoch and claimed["amount"] == share and claimed["tx"]
    [unclaimed] = found["unclaimed"]  # type: ignore[misc]
    assert unclaimed["epoch"] == epoch + 1 and unclaimed["ready"] is False
    assert unclaimed["claimable_from_epoch"] == epoch + 3 and unclaimed["claimable"] == 0

    assert run([*base, "--devnet-role", "validator1"]) == 0  # the table for humans
    shown = capsys.readouterr().out
    assert "fees earned" in shown and f"claimable from epoch {epoch + 3}" in shown and "http://127.0.0.1:9300" in shown

    assert run([*base, "not-an-address"]) != 0
    assert run([*base, "--devnet-role", "validator1", "--url", "http://127.0.0.1:9", "--json"]) != 0
    assert "did not answer /v1/stats" in capsys.readouterr().err
