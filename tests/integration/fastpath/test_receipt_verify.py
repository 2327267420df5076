"""``deai verify`` for fast-path answers: the response bytes against their receipt and the chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deai.chain.receipt_disputes import ReceiptDisputes
from deai.cli.main import run
from deai.client.receipt_verify import verify_receipt
from deai.node.fastpath.receipts import RECEIPT_HEADER, SignedReceipt
from deai.testing.market import Market, cid, prepare_roles
from deai.testing.plugin import align_clock

from .conftest import FastEnv

pytestmark = pytest.mark.integration

EMBED = "all-MiniLM-L6-v2"


@pytest.fixture(scope="module", autouse=True)
def roles(fast_env: FastEnv) -> Market:
    """The fast-path provider (provider1) registered and staked; three staked validators."""
    m = Market(fast_env.w3, fast_env.deployment, fast_env.accounts)
    prepare_roles(m)
    return m


def _answers(env: FastEnv, count: int) -> tuple[list[tuple[bytes, SignedReceipt]], Path]:
    session = env.client().open_channel(env.provider.account.address, 10**18, url=env.provider.url)
    answers = []
    with session.http_client(timeout=60.0) as http:
        for i in range(count):
            reply = http.post(env.provider.url + "/v1/embeddings", json={"model": EMBED, "input": [f"verify {i}"]})
            assert reply.status_code == 200
            answers.append((reply.content, SignedReceipt.from_json(reply.headers[RECEIPT_HEADER])))
    assert session.fast.wallet.path is not None
    return answers, session.fast.wallet.path


def test_a_fast_path_answer_verifies_against_its_anchored_receipt(fast_env: FastEnv) -> None:
    env = fast_env
    (answer, receipt), _ = _answers(env, 2)[0]
    env.provider.service.flush()
    verdict = verify_receipt(answer, receipt, w3=env.w3, deployment=env.deployment, provider_url=env.provider.url)
    assert verdict.ok, verdict.summary
    assert [c.name for c in verdict.checks] == ["file", "signature", "anchor", "provider", "dispute"]
    assert verdict.block is not None and f"anchored in block {verdict.block}" in verdict.summary
    assert verdict.summary.startswith("answered by model ") and receipt.provider in verdict.summary

    changed = answer.replace(b"0", b"1", 1)
    bad = verify_receipt(changed, receipt, w3=env.w3, deployment=env.deployment, provider_url=env.provider.url)
    assert not bad.ok and [c.name for c in bad.failed] == ["file"]
    # Another field, the same signature: the signature no longer recovers to the provider.
    forged = SignedReceipt.from_dict({**json.loads(receipt.to_json()), "price": "1"})
    worse = verify_receipt(answer, forged, w3=env.w3, deployment=env.deployment, provider_url=env.provider.url)
    assert not worse.ok and {c.name for c in worse.failed} >= {"signature", "anchor"}


def test_a_challenged_answer_fails_until_the_committee_upholds_it(fast_env: FastEnv, roles: Market) -> None:
    env = fast_env
    align_clock(env.w3)  # receipts are dated by the wall clock; the challenge window is judged by the chain's
    (answer, receipt), (other, second) = _answers(env, 2)[0]
    env.provider.service.flush()
    check = env.client().check(receipt, provider_url=env.provider.url)
    check2 = env.client().check(second, provider_url=env.provider.url)
    assert check.proof is not None and check.anchor_sequence is not None and check2.proof is not None
    disputes = ReceiptDisputes.from_deployment(env.w3, env.deployment)

    def verdict(body: bytes, signed: SignedReceipt) -> tuple[bool, str]:
        found = verify_receipt(body, signed, w3=env.w3, deployment=env.deployment, provider_url=env.provider.url)
        dispute = found.check("dispute")
        assert dispute is not None
        return found.ok, dispute.detail

    challenged = disputes.challenge(roles["validator1"], receipt, check.anchor_sequence, check.proof.siblings,
                                    cid("evidence one"))
    assert verdict(answer, receipt) == (False, f"disputed: validator {roles.addr('validator1')} challenged this "
                                        "answer and a committee is voting")
    for member in challenged.committee:
        disputes.vote(roles.accounts[_role(roles, member)], receipt.leaf, fraud=False)
    disputes.resolve(roles["client1"], receipt.leaf)
    assert verdict(answer, receipt) == (True, "challenged and upheld (a validator committee found the answer right)")

    assert check2.anchor_sequence is not None
    second_challenge = disputes.challenge(roles["validator2"], second, check2.anchor_sequence,
                                          check2.proof.siblings, cid("evidence two"))
    for member in second_challenge.committee:
        disputes.vote(roles.accounts[_role(roles, member)], second.leaf, fraud=True)
    disputes.resolve(roles["client1"], second.leaf)
    ok, detail = verdict(other, second)
    assert not ok and detail.startswith("disputed: a validator committee found this answer wrong")


def _role(m: Market, address: str) -> str:
    return next(role for role, account in m.accounts.items() if account.address == address)


def test_deai_verify_finds_the_receipt_in_the_wallet_or_takes_it_from_a_file(
    fast_env: FastEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    env = fast_env
    answers, wallet = _answers(env, 1)
    env.provider.service.flush()
    (answer, receipt), = answers
    data_dir = tmp_path / "user"
    env.deployment.save(data_dir / "devnet" / "deployment.json")
    monkeypatch.setenv("DEAI_RPC_URL", env.deployment.rpc_url)
    saved = tmp_path / "answer.json"
    saved.write_bytes(answer)
    receipt_file = tmp_path / "receipt.json"
    receipt_file.write_text(receipt.to_json())

    def cli(*args: str) -> tuple[int, dict[str, object]]:
        code = run(["--data-dir", str(data_dir), "verify", str(saved), *args, "--json"])
        return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    code, verdict = cli("--wallet", str(wallet))
    assert code == 0 and verdict["ok"] is True and verdict["source"] == "receipt"
    code, verdict = cli("--receipt", str(receipt_file), "--provider-url", env.provider.url)
    assert code == 0 and verdict["ok"] is True
    saved.write_bytes(answer + b" ")
    code, verdict = cli("--receipt", str(receipt_file))
    assert code == 1 and verdict["ok"] is False
    receipt_file.write_text("{not json")
    assert run(["--data-dir", str(data_dir), "verify", str(saved), "--receipt", str(receipt_file)]) != 0
    assert "not a fast-path receipt" in capsys.readouterr().err
