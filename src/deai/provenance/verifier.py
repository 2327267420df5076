"""``verify(FILE | CID)``: who made this output, with which model, when, and does it all check?

The checks, each a :class:`Check` with a name, a verdict and a plain detail:

- ``manifest`` — a signed deai manifest was found (see :mod:`deai.provenance.locate`);
- ``file`` — the bytes hash to the output CID the manifest names (for a file carrying a
  C2PA credential: the bytes with the credential chunk removed);
- ``c2pa`` — only for a credentialed file: the C2PA manifest is valid for any reader, its
  deai assertion names this manifest, and its signing CA is the one the provider bound
  to its Ethereum key;
- ``signature`` — the EIP-712 signature recovers to the manifest's provider, under this
  chain's id and ``Anchors`` address;
- ``anchor`` — the proof's leaf is this manifest's leaf and leads to the root the
  provider posted on chain as that batch (one ``Anchors.roots`` read; the block comes
  from the ``AnchorPosted`` event);
- ``provider`` — the provider is registered in the ``Registry`` and staked at least the
  minimum;
- ``dispute`` — for a job-path output: the job was assigned to this provider, its
  committed result hash is the manifest's, and it was neither challenged (disputed),
  rejected for fraud (the provider slashed), nor expired.

``Verdict.ok`` is True only when every check passed; ``Verdict.summary`` is one sentence:
"made by model bafk… (imagegen, parent bafk…) on provider 0x… at …, anchored in block N,
not disputed", or exactly what failed. Bad input (no manifest, a damaged sidecar, a proof
for another root, an unknown signer) gives a failing verdict, never an exception; only an
unreachable chain raises (``ChainUnavailable``). The chain reads are one JSON-RPC batch
(:func:`deai.provenance.chainstate.read_facts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from web3 import Web3

from deai.chain.anchors import Anchors
from deai.chain.deploy import Deployment
from deai.chain.types import JobStatus
from deai.errors import DeaiError, SignatureError
from deai.provenance.chainstate import ChainFacts, read_facts
from deai.provenance.credentials import check_binding
from deai.provenance.locate import MAX_SCAN_BATCHES, Fetcher, Located, locate, sidecar_path
from deai.provenance.log import ProvenanceIndex
from deai.provenance.manifest import Manifest, recover_manifest_signer
from deai.provenance.merkle import compute_root
from deai.store import LocalStore, cid_of_bytes


class Check(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    ok: bool
    detail: str


class Verdict(BaseModel):
    """The answer of :func:`verify`: every check, and one sentence for people."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str
    ok: bool
    summary: str
    checks: tuple[Check, ...]
    source: str = ""
    manifest_cid: str | None = None
    record_cid: str | None = None
    manifest: dict[str, Any] | None = None
    block: int | None = None

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.ok)


def _short(cid: str) -> str:
    return f"{cid[:12]}…{cid[-4:]}" if len(cid) > 20 else cid


class _Checks:
    def __init__(self) -> None:
        self.items: list[Check] = []

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.items.append(Check(name=name, ok=ok, detail=detail))
        return ok


def verify(
    target: Path | str,
    *,
    store: LocalStore | None,
    w3: Web3,
    deployment: Deployment,
    gateways: Sequence[str] = (),
    index: ProvenanceIndex | None = None,
    scan_batches: int = MAX_SCAN_BATCHES,
) -> Verdict:
    """Check an output file or CID end to end (see the module docstring)."""
    anchors = Anchors.from_deployment(w3, deployment)
    found = locate(target, fetcher=Fetcher(store, gateways), anchors=anchors, index=index,
                   scan_batches=scan_batches)
    checks = _Checks()
    manifest = found.manifest
    if manifest is None:
        return _no_manifest(found, target, checks)
    checks.add("manifest", True, f"found in {_where(found)}" + _problems(found))
    facts = read_facts(w3, deployment, provider=manifest.provider, job_id=manifest.job_id,
                       sequence=found.record.anchor.sequence if found.record is not None else None)
    _check_file(found, manifest, checks)
    if found.c2pa is not None:
        _check_c2pa(found, manifest, checks)
    _check_signature(manifest, facts.chain_id, anchors, checks)
    block = _check_anchor(found, manifest, facts, checks)
    _check_provider(manifest, facts, checks)
    _check_dispute(manifest, facts, checks)
    ok = all(c.ok for c in checks.items)
    if ok:
        summary = _sentence(manifest, block, checks)
    else:
        summary = "NOT VERIFIED: " + "; ".join(f"{c.name}: {c.detail}" for c in checks.items if not c.ok)
    return Verdict(
        target=str(target), ok=ok, summary=summary, checks=tuple(checks.items), source=found.source,
        manifest_cid=manifest.cid(), record_cid=found.record_cid, manifest=manifest.as_dict(), block=block,
    )


def _where(found: Located) -> str:
    return {
        "c2pa": "the file's C2PA content credential",
        "sidecar": f"the sidecar {Path(found.target).name}.deai.json",
        "index": "the provider's provenance index",
        "store": "the store, by CID",
        "chain": "a batch listing anchored on chain",
    }.get(found.source, found.source)


def _problems(found: Located) -> str:
    return f" (note: {'; '.join(found.problems)})" if found.problems else ""


def _no_manifest(found: Located, target: Path | str, checks: _Checks) -> Verdict:
    if found.data is None and not found.problems:
        detail = f"{target} is neither a readable file nor a CID any store or gateway given has"
    else:
        looked = []
        if found.data is not None and found.target_cid is not None and isinstance(target, Path | str):
            looked.append("no C2PA credential with a deai manifest")
            if not _is_cid_target(found):
                looked.append(f"no sidecar {sidecar_path(Path(found.target)).name}")
            looked.append(f"no index record or anchored batch listing for {found.target_cid}")
        detail = "no deai manifest found: " + ", ".join(looked) if looked else "no deai manifest found"
        detail += _problems(found)
    checks.add("manifest", False, detail)
    return Verdict(target=str(target), ok=False, summary=f"NOT VERIFIED: {detail}",
                   checks=tuple(checks.items))


def _is_cid_target(found: Located) -> bool:
    return found.target == found.target_cid or not Path(found.target).exists()


def _check_file(found: Located, manifest: Manifest, checks: _Checks) -> None:
    if found.content is None:
        if found.target_cid == manifest.output_cid:
            checks.add("file", True, f"named by its CID {found.target_cid} (bytes not fetched)")
        else:
            checks.add("file", False, f"the output {manifest.output_cid} could not be fetched to check its hash")
        return
    cid = cid_of_bytes(found.content)
    stripped = " with its C2PA credential removed" if found.c2pa is not None else ""
    if cid == manifest.output_cid:
        checks.add("file", True, f"the bytes{stripped} hash to the output CID {cid}")
    else:
        checks.add("file", False,
                   f"the bytes{stripped} hash to {cid}, not to the output CID {manifest.output_cid} the "
                   "manifest names: the file was changed")


def _check_c2pa(found: Located, manifest: Manifest, checks: _Checks) -> None:
    reading = found.c2pa
    assert reading is not None
    if not reading.valid:
        failures = ", ".join(f for f in reading.failures if f != "signingCredential.untrusted") or reading.state
        checks.add("c2pa", False, f"the C2PA credential is invalid ({failures})")
        return
    named = (reading.assertion or {}).get("manifest_cid")
    if named != manifest.cid():
        checks.add("c2pa", False, f"the C2PA credential names manifest {named}, not {manifest.cid()}")
        return
    if not reading.ai_generated:
        checks.add("c2pa", False, "the C2PA credential does not declare trainedAlgorithmicMedia")
        return
    assert found.data is not None
    bound, detail = check_binding(found.data, reading, manifest)
    operator = "no provider-bound CA" in detail
    checks.add("c2pa", bound or operator,
               f"valid C2PA credential (created, trainedAlgorithmicMedia); {detail}")


def _check_signature(manifest: Manifest, chain_id: int, anchors: Anchors, checks: _Checks) -> None:
    if manifest.chain_id != chain_id or manifest.anchors != anchors.address:
        checks.add("signature", False,
                   f"the manifest was signed for chain {manifest.chain_id} / Anchors {manifest.anchors}; "
                   f"this chain is {chain_id} / {anchors.address}")
        return
    try:
        signer = recover_manifest_signer(manifest)
    except SignatureError as exc:
        checks.add("signature", False, f"the signature is unreadable: {exc.message}")
        return
    if signer != manifest.provider:
        checks.add("signature", False,
                   f"signed by {signer}, not by the provider {manifest.provider} it names: the manifest "
                   "was altered or forged")
    else:
        checks.add("signature", True, f"EIP-712 signature by the provider {signer}")


def _check_anchor(found: Located, manifest: Manifest, facts: ChainFacts, checks: _Checks) -> int | None:
    record = found.record
    if record is None:
        checks.add("anchor", False,
                   "not anchored yet: no inclusion proof found (the provider anchors in batches; try again later)")
        return None
    try:
        proof = record.merkle_proof()
    except DeaiError as exc:
        checks.add("anchor", False, f"the inclusion proof is malformed: {exc.message}")
        return None
    anchor = record.anchor
    if record.manifest != manifest:
        checks.add("anchor", False, "the anchored record holds another manifest than the one checked")
        return None
    if proof.leaf != manifest.leaf():
        checks.add("anchor", False, "the proof's leaf is not this manifest's leaf: the proof is for another manifest")
        return None
    if anchor.provider != manifest.provider:
        checks.add("anchor", False, f"the batch was posted by {anchor.provider}, not by the provider {manifest.provider}")
        return None
    computed = compute_root(proof.leaf, proof.siblings)
    onchain = facts.root
    if onchain is None:
        checks.add("anchor", False, f"the provider anchored no batch {anchor.sequence} on chain")
        return None
    if computed != onchain:
        checks.add("anchor", False,
                   f"the proof leads to root 0x{computed.hex()[:16]}…, but the provider's batch "
                   f"{anchor.sequence} on chain has root 0x{onchain.hex()[:16]}…: the proof was altered "
                   "or is for another batch")
        return None
    event = facts.event
    block = event.block if event is not None else anchor.block
    tx = event.tx if event is not None else anchor.tx
    checks.add("anchor", True,
               f"leaf {proof.index + 1} of {anchor.count} in batch {anchor.sequence}, root on chain, "
               f"block {block} (tx {tx[:12]}…)")
    return block


def _check_provider(manifest: Manifest, facts: ChainFacts, checks: _Checks) -> None:
    standing = facts.provider
    if standing is None:
        checks.add("provider", True, "this deployment has no Registry to check")
        return
    checks.add("provider", standing.registered_and_staked, standing.describe())


def _check_dispute(manifest: Manifest, facts: ChainFacts, checks: _Checks) -> None:
    if manifest.job_id is None:
        what = f"fast-path receipt {manifest.receipt_sequence}" if manifest.receipt_sequence is not None else "no job"
        checks.add("dispute", True, f"not disputed ({what}; nothing on chain to challenge)")
        return
    job = facts.job
    if job is None:
        checks.add("dispute", True, "this deployment has no JobMarket to check")
        return
    jid = manifest.job_id
    status = job.status
    if status == JobStatus.NONE:
        checks.add("dispute", False, f"job {jid} does not exist on chain")
    elif job.provider != manifest.provider:
        checks.add("dispute", False, f"job {jid} was assigned to {job.provider}, not to {manifest.provider}")
    elif status == JobStatus.REJECTED:
        checks.add("dispute", False, f"disputed: a validator committee found job {jid}'s result fraudulent "
                   "and the provider was slashed")
    elif status == JobStatus.DISPUTED:
        checks.add("dispute", False, f"disputed: job {jid}'s result is challenged and a validator committee "
                   "is voting")
    elif status == JobStatus.EXPIRED:
        checks.add("dispute", False, f"job {jid} expired: the provider missed its deadline and was penalized")
    elif job.committed_hash is None:
        checks.add("dispute", False, f"job {jid} is {status.description}: no result is committed on chain yet")
    elif manifest.result_hash is not None and manifest.result_hash != job.committed_hash:
        checks.add("dispute", False, f"the provider committed result {job.committed_hash[:14]}… for job {jid}, "
                   f"not this manifest's {manifest.result_hash[:14]}…")
    elif manifest.result_hash is None and job.committed_output not in (None, manifest.output_cid):
        checks.add("dispute", False, f"job {jid}'s committed output {job.committed_output} is not this output")
    else:
        checks.add("dispute", True, f"not disputed (job {jid}: {status.description}; result committed in "
                   f"block {job.commit_block})")


def _sentence(manifest: Manifest, block: int | None, checks: _Checks) -> str:
    model = manifest.model_name or "model"
    lineage = f", parent {', '.join(_short(p) for p in manifest.model_parents)}" if manifest.model_parents else ""
    when = manifest.created.strftime("%Y-%m-%d %H:%M:%S UTC")
    job = f" for job {manifest.job_id}" if manifest.job_id is not None else ""
    dispute = checks.items[-1].detail.split(" (")[0] if checks.items else ""
    return (f"made by model {_short(manifest.model_cid)} ({model}{lineage}) on provider {manifest.provider}"
            f"{job} at {when}, anchored in block {block}, {dispute}")
