"""verify() on real demo outputs anchored on a real chain: passes, and names exactly what fails.

Every output here comes from a real runtime (the image generator, the digits classifier),
is signed by a registered provider, stored, credentialed (PNG), anchored through
``ProvenanceLog.flush`` on anvil, and checked by ``verify`` from a file, a sidecar, a C2PA
credential, an output CID, a manifest CID, a record CID, and the chain alone.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import c2pa
import pytest

from deai.chain.anchors import Anchors
from deai.provenance.credentials import C2paSigner, strip_c2pa
from deai.provenance.locate import sidecar_path
from deai.provenance.log import ProvenanceLog
from deai.provenance.manifest import sign_manifest
from deai.provenance.outputs import RecordedOutput, describe_outputs, record_output
from deai.provenance.records import AnchoredRecord
from deai.provenance.verifier import Verdict, verify
from deai.store import LocalStore, cid_of_bytes
from deai.testing.market import Market

from .conftest import DemoRun, index_of

pytestmark = pytest.mark.integration

MakeLog = Callable[..., ProvenanceLog]


def _record(m: Market, log: ProvenanceLog, run: DemoRun, signer: C2paSigner | None = None,
            role: str = "provider1", **kwargs: object) -> RecordedOutput:
    unsigned = describe_outputs(run.result, run.spec, run.model, provider=m[role].address,
                                chain_id=m.deployment.chain_id, anchors=m.deployment.address("Anchors"),
                                **kwargs)[0]  # type: ignore[arg-type]
    return record_output(log, m[role], unsigned, c2pa_signer=signer)


def _verify(m: Market, store: LocalStore | None, target: Path | str, log: ProvenanceLog | None = None) -> Verdict:
    return verify(target, store=store, w3=m.w3, deployment=m.deployment,
                  index=index_of(log) if log is not None else None)


def _write(folder: Path, name: str, data: bytes, record: AnchoredRecord | None = None) -> Path:
    path = folder / name
    path.write_bytes(data)
    if record is not None:
        sidecar_path(path).write_bytes(record.to_json())
    return path


def _assert_ok(verdict: Verdict) -> None:
    assert verdict.ok, verdict.summary
    assert [c.name for c in verdict.checks if not c.ok] == []


def test_image_output_verifies_from_every_place_its_manifest_can_be(
    m: Market, make_log: MakeLog, prov_store: LocalStore, demo_runs: dict[str, DemoRun],
    c2pa_signers: dict[str, C2paSigner], tmp_path: Path,
) -> None:
    log = make_log()
    recorded = _record(m, log, demo_runs["image"], c2pa_signers["provider1"])
    assert recorded.c2pa_cid is not None and log.pending_count() == 1
    [batch] = log.flush()
    assert batch.sequence == 1 and batch.count == 1 and log.pending_count() == 0
    record = log.record(recorded.manifest.output_cid)
    assert record is not None and record.anchor.block == batch.block
    raw = prov_store.read_bytes(recorded.manifest.output_cid)
    credentialed = prov_store.read_bytes(recorded.c2pa_cid)
    assert strip_c2pa(credentialed) == raw

    # the raw PNG with its sidecar, no store, no index
    verdict = _verify(m, None, _write(tmp_path, "raw.png", raw, record))
    _assert_ok(verdict)
    assert verdict.source == "sidecar" and verdict.block == batch.block
    assert "imagegen" in verdict.summary and f"anchored in block {batch.block}" in verdict.summary
    assert "not disputed" in verdict.summary and m["provider1"].address in verdict.summary

    # the credentialed PNG alone: the manifest from C2PA, the proof from the index …
    c2pa_file = _write(tmp_path, "c2pa.png", credentialed)
    verdict = _verify(m, prov_store, c2pa_file, log)
    _assert_ok(verdict)
    assert verdict.source == "c2pa" and verdict.check("c2pa") is not None
    assert "trainedAlgorithmicMedia" in verdict.check("c2pa").detail  # type: ignore[union-attr]
    # … or from the chain: the AnchorPosted event names the batch listing, the store holds it
    verdict = _verify(m, prov_store, c2pa_file)
    _assert_ok(verdict)

    # by CID: output, credentialed copy, manifest, anchored record
    for cid in (recorded.manifest.output_cid, recorded.c2pa_cid, recorded.logged.manifest_cid,
                log.record_cid(recorded.manifest.output_cid)):
        assert cid is not None
        _assert_ok(_verify(m, prov_store, cid, log))
    # an output CID with no index at all: found through the batch listings on chain
    _assert_ok(_verify(m, prov_store, recorded.manifest.output_cid))

    # any C2PA reader accepts the credential (untrusted only: the provider's CA is private)
    with c2pa.Reader("image/png", io.BytesIO(credentialed)) as reader:
        assert reader.get_validation_state() == "Valid"
        failures = reader.get_validation_results()["activeManifest"].get("failure", [])
        assert [f["code"] for f in failures] == ["signingCredential.untrusted"]
        manifest = reader.get_active_manifest()
    labels = {a["label"]: a["data"] for a in manifest["assertions"]}
    [action] = labels["c2pa.actions.v2"]["actions"]
    assert action["action"] == "c2pa.created"
    assert action["digitalSourceType"].endswith("/trainedAlgorithmicMedia")
    deai = labels["org.deai.provenance"]
    assert deai["manifest_cid"] == recorded.logged.manifest_cid
    assert deai["model_cid"] == demo_runs["image"].result.model


def test_classifier_output_verifies_and_many_outputs_share_one_anchor(
    m: Market, make_log: MakeLog, prov_store: LocalStore, demo_runs: dict[str, DemoRun], tmp_path: Path,
) -> None:
    log = make_log()
    first = _record(m, log, demo_runs["classify"], receipt_sequence=1)
    second = _record(m, log, demo_runs["image"], receipt_sequence=2)
    [batch] = log.flush()
    assert batch.count == 2 and Anchors.from_deployment(m.w3, m.deployment).last_sequence(m["provider1"].address) == 1
    for recorded in (first, second):
        verdict = _verify(m, prov_store, recorded.manifest.output_cid, log)
        _assert_ok(verdict)
        assert "fast-path receipt" in verdict.check("dispute").detail  # type: ignore[union-attr]
    assert "digits" in _verify(m, prov_store, first.manifest.output_cid, log).summary
    assert log.flush() == []  # nothing queued: no empty anchor


# --- tampering ----------------------------------------------------------------------------


@pytest.fixture
def anchored_image(m: Market, make_log: MakeLog, prov_store: LocalStore, demo_runs: dict[str, DemoRun],
                   c2pa_signers: dict[str, C2paSigner]) -> tuple[ProvenanceLog, RecordedOutput, AnchoredRecord]:
    log = make_log()
    recorded = _record(m, log, demo_runs["image"], c2pa_signers["provider1"])
    log.flush()
    record = log.record(recorded.manifest.output_cid)
    assert record is not None
    return log, recorded, record


def _failed(verdict: Verdict) -> list[str]:
    assert not verdict.ok and verdict.summary.startswith("NOT VERIFIED")
    return [c.name for c in verdict.failed]


def test_one_changed_byte_in_the_file_fails_the_file_check(
    m: Market, prov_store: LocalStore, anchored_image: tuple[ProvenanceLog, RecordedOutput, AnchoredRecord],
    tmp_path: Path,
) -> None:
    log, recorded, record = anchored_image
    raw = bytearray(prov_store.read_bytes(recorded.manifest.output_cid))
    raw[-20] ^= 0x01  # inside IDAT
    verdict = _verify(m, None, _write(tmp_path, "changed.png", bytes(raw), record))
    assert _failed(verdict) == ["file"]
    assert "the file was changed" in verdict.summary
    assert verdict.check("signature").ok and verdict.check("anchor").ok  # type: ignore[union-attr]

    assert recorded.c2pa_cid is not None
    credentialed = bytearray(prov_store.read_bytes(recorded.c2pa_cid))
    credentialed[-20] ^= 0x01
    verdict = _verify(m, prov_store, _write(tmp_path, "changed-c2pa.png", bytes(credentialed)), log)
    assert _failed(verdict) == ["file", "c2pa"]
    assert "dataHash.mismatch" in verdict.check("c2pa").detail  # type: ignore[union-attr]


def test_one_changed_manifest_field_fails_the_signature_and_the_anchor(
    m: Market, prov_store: LocalStore, anchored_image: tuple[ProvenanceLog, RecordedOutput, AnchoredRecord],
    tmp_path: Path,
) -> None:
    _, recorded, record = anchored_image
    raw = prov_store.read_bytes(recorded.manifest.output_cid)
    doc = json.loads(record.to_json())
    doc["manifest"]["created_at"] += 1  # one changed value: claim another time
    path = _write(tmp_path, "raw.png", raw)
    sidecar_path(path).write_text(json.dumps(doc))
    verdict = _verify(m, None, path)
    assert _failed(verdict) == ["signature", "anchor"]
    assert "the manifest was altered or forged" in verdict.check("signature").detail  # type: ignore[union-attr]

    doc = json.loads(record.to_json())
    doc["manifest"]["signature"] = doc["manifest"]["signature"][:-4] + "0000"  # one changed signature byte
    sidecar_path(path).write_text(json.dumps(doc))
    assert "signature" in _failed(_verify(m, None, path))


def test_a_changed_proof_or_a_proof_for_another_root_fails_the_anchor(
    m: Market, make_log: MakeLog, prov_store: LocalStore, demo_runs: dict[str, DemoRun],
    tmp_path: Path,
) -> None:
    log = make_log()
    image = _record(m, log, demo_runs["image"], receipt_sequence=1)
    _record(m, log, demo_runs["image"], receipt_sequence=2)  # a sibling, so the proof is not empty
    log.flush()
    classify = _record(m, log, demo_runs["classify"], receipt_sequence=3)
    log.flush()  # a second batch, another root
    record = log.record(image.manifest.output_cid)
    other = log.record(classify.manifest.output_cid)
    assert record is not None and other is not None and record.anchor.sequence == 1
    raw = prov_store.read_bytes(image.manifest.output_cid)
    path = _write(tmp_path, "image.png", raw)

    doc = json.loads(record.to_json())
    sibling = doc["proof"]["siblings"][0]
    doc["proof"]["siblings"][0] = sibling[:-1] + ("0" if sibling[-1] != "0" else "1")
    sidecar_path(path).write_text(json.dumps(doc))
    verdict = _verify(m, None, path)
    assert _failed(verdict) == ["anchor"]
    assert "batch 1 on chain has root" in verdict.summary

    doc = json.loads(record.to_json())
    doc["anchor"] = json.loads(other.to_json())["anchor"]  # claim the second batch
    sidecar_path(path).write_text(json.dumps(doc))
    verdict = _verify(m, None, path)
    assert _failed(verdict) == ["anchor"]
    assert "batch 2 on chain has root" in verdict.summary


# --- bad input ----------------------------------------------------------------------------


def test_a_file_with_no_manifest_gets_a_clear_verdict(
    m: Market, prov_store: LocalStore, tmp_path: Path,
) -> None:
    path = _write(tmp_path, "plain.txt", b"just some bytes\n")
    verdict = _verify(m, prov_store, path)
    assert _failed(verdict) == ["manifest"]
    assert "no deai manifest found" in verdict.summary and "plain.txt.deai.json" in verdict.summary
    sidecar_path(path).write_text("{not json")
    verdict = _verify(m, prov_store, path)
    assert _failed(verdict) == ["manifest"] and "sidecar plain.txt.deai.json is damaged" in verdict.summary
    for missing in (tmp_path / "nowhere.png", str(cid_of_bytes(b"never stored"))):
        verdict = _verify(m, prov_store, missing)
        assert _failed(verdict) == ["manifest"]


def test_a_manifest_signed_by_an_unregistered_key_fails_the_provider_check(
    m: Market, make_log: MakeLog, prov_store: LocalStore, demo_runs: dict[str, DemoRun],
) -> None:
    log = make_log("client1")  # a well-formed, signed, anchored manifest from a key with no stake
    recorded = _record(m, log, demo_runs["classify"], role="client1")
    log.flush()
    verdict = _verify(m, prov_store, recorded.manifest.output_cid, log)
    assert _failed(verdict) == ["provider"]
    assert "is not a registered provider" in verdict.summary


def test_a_manifest_the_provider_never_anchored_is_reported_not_anchored(
    m: Market, make_log: MakeLog, prov_store: LocalStore, demo_runs: dict[str, DemoRun], tmp_path: Path,
) -> None:
    run = demo_runs["classify"]
    unsigned = describe_outputs(run.result, run.spec, run.model, provider=m["provider2"].address,
                                chain_id=m.deployment.chain_id, anchors=m.deployment.address("Anchors"))[0]
    log = make_log("provider2")
    manifest = sign_manifest(m["provider2"], log.domain, unsigned)
    path = _write(tmp_path, "out.npy", prov_store.read_bytes(manifest.output_cid))
    sidecar_path(path).write_bytes(manifest.to_json())
    verdict = _verify(m, prov_store, path)
    assert _failed(verdict) == ["anchor"] and "not anchored yet" in verdict.summary


def test_a_stranger_with_only_the_chain_and_a_gateway_verifies_an_output(
    m: Market, make_log: MakeLog, prov_store: LocalStore, demo_runs: dict[str, DemoRun],
    c2pa_signers: dict[str, C2paSigner], tmp_path: Path,
) -> None:
    from deai.store import GatewayServer

    log = make_log()
    recorded = _record(m, log, demo_runs["image"], c2pa_signers["provider1"], receipt_sequence=9)
    log.flush()
    assert recorded.c2pa_cid is not None
    image = _write(tmp_path, "downloaded.png", prov_store.read_bytes(recorded.c2pa_cid))
    with GatewayServer(prov_store) as gateway:  # the provider's gateway; no store, no index here
        for target in (recorded.manifest.output_cid, image):
            verdict = verify(target, store=None, w3=m.w3, deployment=m.deployment, gateways=[gateway.url])
            _assert_ok(verdict)
            assert verdict.source in ("chain", "c2pa")
