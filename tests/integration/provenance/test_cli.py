"""``deai verify`` and ``deai nft`` as a user runs them: a data directory, the devnet, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deai.chain.anchors import Anchors
from deai.cli.main import run
from deai.provenance.credentials import C2paSigner
from deai.provenance.log import ProvenanceLog, default_db_path
from deai.provenance.outputs import describe_outputs, record_output
from deai.store import LocalStore
from deai.testing.market import Market

from .conftest import DemoRun

pytestmark = pytest.mark.integration


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code = run([*args, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1])


def test_deai_verify_and_deai_nft_from_a_providers_data_directory(
    m: Market, prov_store: LocalStore, demo_runs: dict[str, DemoRun], c2pa_signers: dict[str, C2paSigner],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    data_dir = tmp_path / "provider1"
    m.deployment.save(data_dir / "devnet" / "deployment.json")
    monkeypatch.setenv("DEAI_RPC_URL", m.deployment.rpc_url)
    store = LocalStore(data_dir / "store")
    run_ = demo_runs["image"]
    png = prov_store.read_bytes(run_.result.outputs[0].cid)
    store.add_bytes(png)
    log = ProvenanceLog(store=store, db_path=default_db_path(data_dir),
                        anchors=Anchors.from_deployment(m.w3, m.deployment), account=m["provider1"])
    unsigned = describe_outputs(run_.result, run_.spec, run_.model, provider=m["provider1"].address,
                                chain_id=m.deployment.chain_id, anchors=m.deployment.address("Anchors"))[0]
    recorded = record_output(log, m["provider1"], unsigned, c2pa_signer=c2pa_signers["provider1"])
    log.flush()
    log.close()
    assert recorded.c2pa_cid is not None
    image = tmp_path / "seven.png"
    image.write_bytes(store.read_bytes(recorded.c2pa_cid))

    code, verdict = _cli(capsys, "--data-dir", str(data_dir), "verify", str(image))
    assert code == 0 and verdict["ok"] is True and verdict["source"] == "c2pa"
    assert "imagegen" in str(verdict["summary"])
    code, verdict = _cli(capsys, "--data-dir", str(data_dir), "verify", unsigned.output_cid)
    assert code == 0 and verdict["ok"] is True

    changed = bytearray(image.read_bytes())
    changed[-20] ^= 1
    image.write_bytes(bytes(changed))
    code, verdict = _cli(capsys, "--data-dir", str(data_dir), "verify", str(image))
    assert code == 1 and verdict["ok"] is False
    assert {c["name"] for c in verdict["checks"] if not c["ok"]} == {"file", "c2pa"}  # type: ignore[union-attr, index]

    code, minted = _cli(capsys, "--data-dir", str(data_dir), "nft", "mint", unsigned.output_cid,
                        "--devnet-role", "client1")
    assert code == 0 and minted["owner"] == m["client1"].address
    code, token = _cli(capsys, "--data-dir", str(data_dir), "nft", "verify", str(minted["token_id"]))
    assert code == 0 and token["ok"] is True
    assert token["model_cid"] == run_.result.model and token["provider"] == m["provider1"].address
    assert token["anchor_block"] is not None and token["mint_block"] == minted["block"]
    code, token = _cli(capsys, "--data-dir", str(data_dir), "nft", "verify", "7")
    assert code == 1 and token["ok"] is False
