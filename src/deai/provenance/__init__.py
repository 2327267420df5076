"""Provenance: who made an output, with which model, when, and proof that it was anchored.

A provider node calls, for every output (``describe_outputs`` builds the unsigned manifests
of a runtime result; ``record_output`` does the three middle lines in one call)::

    domain = provenance_domain(chain_id, deployment.address("Anchors"))     # or log.domain
    manifest = sign_manifest(account, domain, UnsignedManifest(...))
    log.add(manifest)                       # stored by CID, queued; survives a restart
    png2 = embed_c2pa(png, manifest, signer); log.add(manifest, derived=[store.add_bytes(png2)])
    log.flush()                             # one Anchors.post per batch (≤ 4,096 manifests)

and anyone checks an output with ``verify(path_or_cid, store=…, w3=…, deployment=…)``
(``deai verify FILE|CID``). Format and steps: docs/provenance.md.

- ``MerkleTree``, ``MerkleProof``, ``merkle_root``, ``verify_proof``, ``compute_root``,
  ``hash_leaf``, ``hash_pair`` (merkle.py) — the batch tree whose root goes to the
  ``Anchors`` contract: 32-byte leaves, ``keccak256(0x00 ‖ leaf)`` leaf hashes,
  ``keccak256(0x01 ‖ sorted pair)`` nodes, an odd node moves up unchanged; the contract
  checks proofs with the same rule.
- ``UnsignedManifest``, ``Manifest``, ``sign_manifest``, ``recover_manifest_signer``,
  ``provenance_domain`` (manifest.py) — the signed manifest of one output (canonical
  JSON, EIP-712 ``DeaiManifest`` in the "deai-provenance" domain), ``Manifest.leaf()``.
- ``AnchoredRecord``, ``AnchorInfo``, ``BatchListing`` (records.py) — what anchoring
  stores by CID: each manifest with its proof and anchor, each batch's listing.
- ``ProvenanceLog``, ``ProvenanceIndex``, ``default_db_path`` (log.py) — the provider's
  SQLite-backed batcher: add, flush (anchor), index CID → anchored record; crash-safe.
- ``C2paSigner``, ``generate_c2pa_signer``, ``embed_c2pa``, ``read_c2pa``,
  ``strip_c2pa`` (credentials.py) — C2PA content credentials for PNG outputs, signed
  with an ES256 chain whose CA the provider binds to its Ethereum key.
- ``describe_outputs``, ``record_output``, ``RecordedOutput`` (outputs.py) — a runtime
  result's manifests (model, lineage, inputs, params, runtime versions, job or receipt),
  and sign + log + C2PA in one call: what a provider node calls per output.
- ``locate`` (locate.py) — find a manifest and its record: C2PA, sidecar, index, chain.
- ``verify``, ``Verdict``, ``Check`` (verifier.py) — every check and one plain sentence.
- ``read_facts`` (chainstate.py) — the Anchors, Registry, Staking and
  JobMarket reads verification needs.
- ``nft`` (nft.py) — ERC-7007-style AI-generated NFTs: metadata with the manifest,
  commit-reveal minting through ``deai.chain.nft.AINFT``, end-to-end token verification.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deai.provenance.credentials import (
        C2paReading,
        C2paSigner,
        embed_c2pa,
        generate_c2pa_signer,
        read_c2pa,
        strip_c2pa,
    )
    from deai.provenance.log import (
        AnchoredBatch,
        LoggedManifest,
        ProvenanceIndex,
        ProvenanceLog,
        default_db_path,
    )
    from deai.provenance.manifest import (
        Manifest,
        UnsignedManifest,
        provenance_domain,
        recover_manifest_signer,
        sign_manifest,
    )
    from deai.provenance.merkle import (
        MerkleProof,
        MerkleTree,
        compute_root,
        hash_leaf,
        hash_pair,
        merkle_root,
        verify_proof,
    )
    from deai.provenance.outputs import RecordedOutput, describe_outputs, record_output
    from deai.provenance.records import AnchoredRecord, AnchorInfo, BatchListing
    from deai.provenance.verifier import Check, Verdict, verify


__all__ = [
    "AnchorInfo",
    "AnchoredBatch",
    "AnchoredRecord",
    "BatchListing",
    "C2paReading",
    "C2paSigner",
    "Check",
    "LoggedManifest",
    "Manifest",
    "MerkleProof",
    "MerkleTree",
    "ProvenanceIndex",
    "ProvenanceLog",
    "RecordedOutput",
    "UnsignedManifest",
    "Verdict",
    "compute_root",
    "default_db_path",
    "describe_outputs",
    "embed_c2pa",
    "generate_c2pa_signer",
    "hash_leaf",
    "hash_pair",
    "merkle_root",
    "provenance_domain",
    "read_c2pa",
    "record_output",
    "recover_manifest_signer",
    "sign_manifest",
    "strip_c2pa",
    "verify",
    "verify_proof",
]


# Names load on first use, so ``import deai.provenance.merkle`` (the fast path's receipt
# batcher) does not pull in c2pa, web3 and pydantic models it never touches.
_LAZY = {
    **dict.fromkeys(("C2paReading", "C2paSigner", "embed_c2pa", "generate_c2pa_signer", "read_c2pa",
                     "strip_c2pa"), "deai.provenance.credentials"),
    **dict.fromkeys(("AnchoredBatch", "LoggedManifest", "ProvenanceIndex", "ProvenanceLog",
                     "default_db_path"), "deai.provenance.log"),
    **dict.fromkeys(("Manifest", "UnsignedManifest", "provenance_domain", "recover_manifest_signer",
                     "sign_manifest"), "deai.provenance.manifest"),
    **dict.fromkeys(("MerkleProof", "MerkleTree", "compute_root", "hash_leaf", "hash_pair", "merkle_root",
                     "verify_proof"), "deai.provenance.merkle"),
    **dict.fromkeys(("AnchoredRecord", "AnchorInfo", "BatchListing"), "deai.provenance.records"),
    **dict.fromkeys(("RecordedOutput", "describe_outputs", "record_output"), "deai.provenance.outputs"),
    **dict.fromkeys(("Check", "Verdict", "verify"), "deai.provenance.verifier"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'deai.provenance' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
