"""AI-generated NFTs: a token per output, its provenance manifest as the ERC-7007 proof.

- ``prompt`` = the manifest's :meth:`~deai.provenance.manifest.UnsignedManifest.request_bytes`
  (kind, input CIDs, parameters), so the token id ``keccak256(prompt)`` names the request;
- ``aigcData`` = the output CID (UTF-8), the bytes the model produced;
- ``proof`` = :func:`encode_proof`: the manifest fields the EIP-712 digest needs beyond
  those two, the provider's signature, and the Merkle proof of the anchored leaf.

The metadata JSON (stored by CID, the token URI is ``ipfs://<CID>``) follows ERC-7007's
schema (name, description, image, prompt, aigc_type, aigc_data, proof_type) and carries
the whole anchored record under ``provenance``, so a token can be checked from the
chain and any gateway: :func:`verify_token` checks the token on chain (owner, the
contract's own ``verify``, the stored provider, sequence and output hash), the metadata
against the token, and then the output itself with :func:`deai.provenance.verifier.verify`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from pydantic import BaseModel, ConfigDict
from web3 import Web3

from deai.chain.deploy import Deployment
from deai.chain.nft import AINFT, Minted
from deai.errors import ManifestError, ProvenanceError, StoreError
from deai.provenance.locate import Fetcher
from deai.provenance.log import ProvenanceIndex
from deai.provenance.manifest import canonical_json
from deai.provenance.records import AnchoredRecord
from deai.provenance.verifier import Check, verify
from deai.store import LocalStore, parse_cid

PROOF_TYPE = "deai-provenance/1"
METADATA_SCHEMA = "deai-nft-metadata/1"
_PROOF_ABI = ["(string,string,address,uint64,bytes32,bytes,uint256,bytes32[])"]


def encode_proof(record: AnchoredRecord) -> bytes:
    """The ``proof`` argument of ``AINFT.mint`` / ``verify`` for an anchored manifest."""
    m = record.manifest
    proof = record.merkle_proof()
    return bytes(abi_encode(_PROOF_ABI, [(
        m.model_cid, m.job_ref, m.provider, m.created_at, m.content_hash(), m.signature_bytes,
        record.anchor.sequence, list(proof.siblings),
    )]))


def token_id_for(prompt: bytes) -> int:
    """ERC-7007 indexes tokens by prompt: ``uint256(keccak256(prompt))``."""
    return int.from_bytes(keccak(prompt), "big")


@dataclass(frozen=True)
class MintPlan:
    """Everything a mint sends, computed from an anchored record."""

    prompt: bytes
    aigc_data: bytes
    proof: bytes
    metadata: dict[str, Any]

    @property
    def token_id(self) -> int:
        return token_id_for(self.prompt)


def plan_mint(record: AnchoredRecord, *, record_cid: str | None = None, name: str | None = None) -> MintPlan:
    """The prompt, output, proof and ERC-7007 metadata of a token for ``record``'s output."""
    m = record.manifest
    image = next((d.cid for d in record.derived if d.relation == "c2pa"), m.output_cid)
    aigc_type = m.content_type.split("/")[0] if m.content_type else "data"
    prompt = m.request_bytes()
    metadata: dict[str, Any] = {
        "schema": METADATA_SCHEMA,
        "name": name or f"{m.model_name or 'deai'} output {m.output_cid[-8:]}",
        "description": (
            f"Made by model {m.model_cid} ({m.model_name or 'unnamed'}) on deai provider {m.provider}; "
            f"its signed provenance manifest is anchored on chain {m.chain_id}, batch {record.anchor.sequence}, "
            f"block {record.anchor.block}."
        ),
        "image": f"ipfs://{image}",
        "prompt": prompt.decode(),
        "aigc_type": aigc_type,
        "aigc_data": f"ipfs://{m.output_cid}",
        "proof_type": PROOF_TYPE,
        "provenance": {"record": json.loads(record.to_json()), "record_cid": record_cid},
    }
    return MintPlan(prompt, m.output_cid.encode(), encode_proof(record), metadata)


def mint_output(
    nft: AINFT, minter: LocalAccount, record: AnchoredRecord, store: LocalStore, *,
    record_cid: str | None = None, name: str | None = None,
) -> tuple[Minted, str]:
    """Commit, then reveal in a later block: mint ``record``'s output to ``minter``.

    Stores the metadata JSON (pinned) and returns the Minted event and the metadata CID.
    """
    plan = plan_mint(record, record_cid=record_cid, name=name)
    if not nft.verify(plan.prompt, plan.aigc_data, plan.proof):
        raise ProvenanceError(
            "the AINFT contract does not accept this output's provenance proof",
            hint="check the output with `deai verify` first: it must be anchored by a registered provider",
        )
    metadata_cid = str(store.add_bytes(canonical_json(plan.metadata)))
    commitment = keccak(abi_encode(["address", "bytes32", "bytes32"],
                                   [minter.address, keccak(plan.prompt), keccak(plan.aigc_data)]))
    # The reveal must land in a later block than the commitment. ``commit`` returns once its
    # block is sealed, so any transaction sent after it is in a later block.
    nft.commit(minter, commitment)
    minted = nft.mint(minter, plan.prompt, plan.aigc_data, f"ipfs://{metadata_cid}", plan.proof)
    return minted, metadata_cid


class NftVerdict(BaseModel):
    """The answer of :func:`verify_token`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token_id: int
    ok: bool
    summary: str
    checks: tuple[Check, ...]
    owner: str | None = None
    output_cid: str | None = None
    model_cid: str | None = None
    provider: str | None = None
    anchor_block: int | None = None
    mint_block: int | None = None


def verify_token(
    token_id: int,
    *,
    store: LocalStore | None,
    w3: Web3,
    deployment: Deployment,
    gateways: Sequence[str] = (),
    index: ProvenanceIndex | None = None,
) -> NftVerdict:
    """Check a token end to end and trace it to its model, provider and anchor block."""
    nft = AINFT(w3, deployment)
    checks: list[Check] = []

    def fail(name: str, detail: str) -> NftVerdict:
        checks.append(Check(name=name, ok=False, detail=detail))
        return NftVerdict(token_id=token_id, ok=False, checks=tuple(checks),
                          summary="NOT VERIFIED: " + "; ".join(f"{c.name}: {c.detail}" for c in checks if not c.ok))

    info = nft.info(token_id)
    if info is None:
        return fail("token", f"no token {token_id} was minted by AINFT at {nft.address}")
    checks.append(Check(name="token", ok=True, detail=f"owned by {info.owner}, minted in block {info.mint_block}"))
    metadata_cid = info.uri.removeprefix("ipfs://")
    try:
        parse_cid(metadata_cid)
    except StoreError:
        return fail("metadata", f"the token URI {info.uri!r} is not ipfs://<CID>")
    raw = Fetcher(store, gateways).get(metadata_cid)
    if raw is None:
        return fail("metadata", f"no store or gateway has the metadata {metadata_cid}")
    try:
        metadata: dict[str, Any] = json.loads(raw)
        record = AnchoredRecord.model_validate(metadata["provenance"]["record"])
        prompt = str(metadata["prompt"]).encode()
    except (ValueError, KeyError, TypeError) as exc:
        return fail("metadata", f"the metadata {metadata_cid} is not deai NFT metadata: {exc}")
    except ManifestError as exc:
        return fail("metadata", exc.message)
    manifest = record.manifest
    plan = plan_mint(record)
    if token_id_for(prompt) != token_id or prompt != plan.prompt:
        return fail("metadata", "the metadata's prompt is not this token's (keccak256(prompt) ≠ token id)")
    if keccak(plan.aigc_data) != info.aigc_data_hash:
        return fail("metadata", f"the metadata names output {manifest.output_cid}, not the token's")
    if (manifest.provider, record.anchor.sequence) != (info.provider, info.sequence):
        return fail("metadata", f"the metadata's provider/batch ({manifest.provider}, {record.anchor.sequence}) "
                    f"differ from the token's ({info.provider}, {info.sequence})")
    checks.append(Check(name="metadata", ok=True, detail=f"ipfs://{metadata_cid} names this token's prompt and output"))
    if not nft.verify(plan.prompt, plan.aigc_data, plan.proof):
        return fail("contract", "AINFT.verify(prompt, aigcData, proof) is false: the proof no longer checks on chain")
    checks.append(Check(name="contract", ok=True, detail="AINFT.verify(prompt, aigcData, proof) holds"))
    verdict = verify(manifest.output_cid, store=store, w3=w3, deployment=deployment, gateways=gateways,
                     index=index)
    checks.extend(Check(name=f"output.{c.name}", ok=c.ok, detail=c.detail) for c in verdict.checks)
    ok = all(c.ok for c in checks)
    if ok:
        summary = (f"token {token_id} (owner {info.owner}, minted in block {info.mint_block}) is output "
                   f"{manifest.output_cid}: {verdict.summary}")
    else:
        summary = "NOT VERIFIED: " + "; ".join(f"{c.name}: {c.detail}" for c in checks if not c.ok)
    return NftVerdict(
        token_id=token_id, ok=ok, summary=summary, checks=tuple(checks), owner=info.owner,
        output_cid=manifest.output_cid, model_cid=manifest.model_cid, provider=manifest.provider,
        anchor_block=verdict.block, mint_block=info.mint_block,
    )
