"""From a runtime result to the manifests of its outputs: what a provider node calls after ``execute``.

``describe_outputs(result, spec, model, provider=…, chain_id=…, anchors=…, job_id=…)``
returns one :class:`UnsignedManifest` per output file of a :class:`WorkloadResult`
(a classify run has one, an image run one PNG, a fine-tune the model folder and its
training record), each naming the model and its lineage, the inputs, parameters, the
runtime and its versions, and the job or receipt it answered.

``record_output`` then signs, logs and (for PNGs, given a C2PA signer) credentials one of
them in one call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount

from deai.identity.did import did_pkh
from deai.provenance.credentials import C2paSigner, embed_c2pa
from deai.provenance.log import LoggedManifest, ProvenanceLog
from deai.provenance.manifest import Manifest, UnsignedManifest, sign_manifest
from deai.runtime.execute import WorkloadResult
from deai.runtime.manifest import ModelManifest
from deai.runtime.spec import WorkloadSpec


def verification_label(spec: WorkloadSpec) -> str:
    """``sampled``, ``sampled(p=0.1)``, ``redundant(3)``, ``rescore``, ``zk`` or ``none``."""
    v = spec.verification
    if v.replicas is not None:
        return f"{v.mode}({v.replicas})"
    if v.sample_rate is not None:
        return f"{v.mode}(p={v.sample_rate:g})"
    return str(v.mode)


def describe_outputs(
    result: WorkloadResult,
    spec: WorkloadSpec,
    model: ModelManifest,
    *,
    provider: str,
    chain_id: int,
    anchors: str,
    job_id: int | None = None,
    receipt_sequence: int | None = None,
    created_at: int | None = None,
) -> list[UnsignedManifest]:
    """One unsigned manifest per output of ``result`` (in the result's output order)."""
    versions = result.runtime.get("versions", {}) if isinstance(result.runtime, dict) else {}
    runtime_version = ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
    when = int(time.time()) if created_at is None else created_at
    common = {
        "model_cid": result.model,
        "model_name": model.name,
        "model_parents": tuple(p.cid for p in model.parents),
        "kind": result.kind,
        "inputs": tuple(spec.inputs),
        "params": spec.params.model_dump(mode="json", exclude_none=True),
        "spec_cid": result.spec_cid,
        "job_id": job_id,
        "receipt_sequence": receipt_sequence,
        "result_hash": result.result_hash,
        "provider": provider,
        "provider_did": did_pkh(provider, chain_id),
        "chain_id": chain_id,
        "anchors": anchors,
        "runtime": str(result.runtime.get("framework", "unknown")),
        "runtime_version": runtime_version[:200],
        "created_at": when,
        "verification": verification_label(spec),
    }
    return [
        UnsignedManifest.model_validate({
            **common, "output_cid": out.cid, "output_name": out.name, "content_type": out.content_type,
        })
        for out in result.outputs
    ]


@dataclass(frozen=True)
class RecordedOutput:
    """One output's signed manifest in the log, and its credentialed copy when there is one."""

    manifest: Manifest
    logged: LoggedManifest
    c2pa_cid: str | None = None


def record_output(
    log: ProvenanceLog,
    account: LocalAccount,
    unsigned: UnsignedManifest,
    *,
    data: bytes | None = None,
    c2pa_signer: C2paSigner | None = None,
) -> RecordedOutput:
    """Sign ``unsigned``, add it to ``log``; for a PNG with a signer, store a C2PA copy too.

    ``data`` is the output's bytes (read from the log's store when omitted and needed).
    The C2PA copy is stored and pinned in the same store and indexed to the same anchored
    record, so ``deai verify`` finds the manifest from either file.
    """
    manifest = sign_manifest(account, log.domain, unsigned)
    if c2pa_signer is None or unsigned.content_type != "image/png":
        return RecordedOutput(manifest, log.add(manifest))
    png = data if data is not None else log.store.read_bytes(unsigned.output_cid)
    c2pa_cid = str(log.store.add_bytes(embed_c2pa(png, manifest, c2pa_signer)))
    return RecordedOutput(manifest, log.add(manifest, derived=[c2pa_cid]), c2pa_cid)
