"""Checking fast-path receipts: the lottery, the fetch, the re-run, and the evidence of a challenge.

A provider anchors its receipts in batches (``AnchorPosted(provider, sequence, root,
count, uri)``, the ``uri`` naming the batch listing, see ``deai.node.fastpath.anchoring``).
A validator checks an anchored receipt in five steps, each a plain function here:

1. **which** — ``sampled_leaves``: leaf *i* of batch *s* is checked when its
   ``receipt_ticket`` (the validator's secret key, the hash of the block holding the
   ``AnchorPosted`` event) falls under the receipt sampling fraction; the provider signed
   and anchored before that block existed, so it cannot know which receipts are checked;
2. **where** — ``fetch_listing``: the batch listing from the provider's gateway, accepted
   only when its leaves hash to the root on chain; it maps leaf *i* to a receipt sequence;
3. **the receipt** — ``fetch_receipt``: signature by the anchoring provider, its leaf at
   index *i*, its Merkle proof leading to the on-chain root;
4. **the exchange** — ``fetch_exchange``: the request and response bodies, whose keccak256
   must be the receipt's ``requestHash`` / ``responseHash``;
5. **the re-run** — ``rerun``: the request again in the canonical mode with the receipt's
   model, compared under the runtime's policy (``deai.runtime.compare``): embeddings by the
   model's tolerance, generated text exactly (generation is seeded — the seed defaults to
   0 — so every request is reproducible; the response's ``id`` and ``created`` are random
   and never compared).

A provider that does not answer, or answers with data its own signature or anchor
contradicts, raises ``ReceiptFault`` (``permanent`` when asking again cannot help): the
validator records it; there is nothing to challenge with, since nothing signed is wrong.
A request that cannot be re-run faithfully (a model this validator does not hold, a
generation whose token limit is unknown) is ``unverifiable``, with the reason.

A wrong response is challenged with ``ReceiptEvidence``: the signed receipt, its anchor
sequence, leaf index and proof, both bodies (hex), and what failed. The challenger adds its
canonical bytes to its store and names the CID on chain; a committee member fetches it,
runs ``check_receipt_evidence`` (the hashes, the signature, the proof) and then its own
``rerun`` — it votes by its own result, never by the challenger's word.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import numpy as np
from eth_utils.address import to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, field_validator

from deai.errors import (
    EvidenceError,
    InputError,
    MerkleError,
    ModelError,
    NotReceiptBatch,
    ReceiptFault,
    SignatureError,
)
from deai.node.fastpath import openai_api as oa
from deai.node.fastpath.receipts import ReceiptVerifier, SignedReceipt, body_hash
from deai.node.fastpath.streaming import TextPieces, generate_tokens, prompt_ids
from deai.provenance.merkle import MAX_PROOF_LENGTH, MerkleTree, verify_proof
from deai.runtime.compare import compare_arrays, policy_for
from deai.runtime.execute import Executor, text_generator_of
from deai.runtime.spec import canonical_json
from deai.runtime.tasks import EmbedRequest, load_npy
from deai.verify.evidence import parse_document
from deai.verify.sampling import receipt_ticket, selected

EVIDENCE_KIND: Literal["deai-receipt-evidence"] = "deai-receipt-evidence"
MAX_RECEIPT_EVIDENCE_BYTES = 8 * 2**20
"""A request body is at most 1 MiB on a provider; the response (256 embeddings) a few MiB, hex doubles it."""
LISTING_KIND = "deai-receipt-batch"
Outcome = Literal["match", "mismatch", "unverifiable"]
_HEX32 = re.compile(r"^0x[0-9a-f]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HEX = re.compile(r"^(0x)?([0-9a-f]{2})*$")


# --- 1. which leaves ---------------------------------------------------------------------------


def sampled_leaves(key: bytes, *, chain_id: int, anchors: str, provider: str, anchor_sequence: int,
                   count: int, beacon: bytes, fraction_bps: int) -> list[int]:
    """The leaf indices of one anchored batch this validator checks (``beacon``: the hash of
    the block holding its ``AnchorPosted`` event)."""
    return [
        index for index in range(count)
        if selected(receipt_ticket(key, chain_id=chain_id, anchors=anchors, provider=provider,
                                   sequence=anchor_sequence, index=index, beacon=beacon), fraction_bps)
    ]


# --- 2-4. fetching from the provider -----------------------------------------------------------


@dataclass(frozen=True)
class BatchListing:
    """An anchored batch's leaves, checked against the root on chain."""

    first_sequence: int
    leaves: tuple[bytes, ...]

    def sequence_of(self, index: int) -> int:
        return self.first_sequence + index


@dataclass(frozen=True)
class AnchoredReceipt:
    """A receipt with the proof that it is leaf ``index`` of its provider's batch ``anchor_sequence``."""

    receipt: SignedReceipt
    anchor_sequence: int
    index: int
    proof: tuple[bytes, ...]
    root: bytes


def _get(http: httpx.Client, url: str, what: str) -> httpx.Response:
    try:
        response = http.get(url)
    except httpx.HTTPError as exc:
        raise ReceiptFault(f"{what}: the provider did not answer ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise ReceiptFault(f"{what}: the provider answered HTTP {response.status_code}")
    return response


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ReceiptFault(f"{what}: the provider's answer is not JSON", permanent=True) from None
    if not isinstance(data, dict):
        raise ReceiptFault(f"{what}: the provider's answer is not a JSON object", permanent=True)
    return data


def fetch_listing(http: httpx.Client, endpoint: str, uri: str, *, root: bytes, count: int) -> BatchListing:
    """The batch listing named by an anchor's ``uri``, from the provider's gateway.

    The listing is trusted only as far as the chain vouches for it: its leaves must be
    ``count`` and hash to ``root``; its first sequence is then checked receipt by receipt
    (each receipt signs its own sequence, and must be the leaf at its place).
    """
    what = f"the listing {uri}"
    data = _json(_get(http, f"{endpoint.rstrip('/')}/ipfs/{uri}", what), what)
    # A provider anchors its provenance manifests through the same Anchors contract; their
    # listings name a "schema" (deai-manifest-batch/1) where receipt listings name a "kind".
    kind = data.get("kind")
    other = kind if isinstance(kind, str) else data.get("schema")
    if isinstance(other, str) and other != LISTING_KIND:
        raise NotReceiptBatch(f"{what} is a {other!r} listing, not a receipt batch")
    try:
        if kind != LISTING_KIND:
            raise ValueError(f"its kind is {kind!r}")
        first = int(data["first_sequence"])
        leaves = tuple(_hex32(v) for v in data["leaves"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ReceiptFault(f"{what} is malformed: {exc}", permanent=True) from None
    if len(leaves) != count or not leaves or MerkleTree(leaves).root != root:
        raise ReceiptFault(f"{what} does not hash to the root anchored on chain", permanent=True,
                           hint="the provider serves another batch than it anchored")
    return BatchListing(first, leaves)


def fetch_receipt(http: httpx.Client, endpoint: str, verifier: ReceiptVerifier, *, provider: str,
                  listing: BatchListing, index: int, anchor_sequence: int, root: bytes) -> AnchoredReceipt:
    """Leaf ``index`` of the batch as a signed receipt with its proof, every part checked."""
    sequence = listing.sequence_of(index)
    what = f"receipt {sequence}"
    data = _json(_get(http, f"{endpoint.rstrip('/')}/v1/receipts/{sequence}", what), what)
    try:
        signed = SignedReceipt.from_dict(data["receipt"], verifier.separator)
        verifier.verify(signed, leaf_checked=True)
        siblings = tuple(_hex32(s) for s in (data.get("proof") or {}).get("siblings", ()))
    except SignatureError as exc:
        raise ReceiptFault(f"{what}: {exc.message}", permanent=True) from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ReceiptFault(f"{what} is malformed: {exc}", permanent=True) from None
    problems = []
    if signed.provider.lower() != provider.lower():
        problems.append(f"it names provider {signed.provider}")
    if signed.sequence != sequence:
        problems.append(f"it is receipt {signed.sequence}")
    if signed.leaf != listing.leaves[index]:
        problems.append(f"it is not leaf {index} of the anchored batch")
    if not verify_proof(root, signed.leaf, siblings):
        problems.append("its proof does not lead to the anchored root")
    if problems:
        raise ReceiptFault(f"{what} does not fit anchor {anchor_sequence}: {'; '.join(problems)}", permanent=True)
    return AnchoredReceipt(signed, anchor_sequence, index, siblings, root)


def body_mismatch(receipt: SignedReceipt, request: bytes, response: bytes) -> str | None:
    """Why the bodies are not the ones the receipt signs (None: they are)."""
    problems = []
    if body_hash(request) != receipt.receipt.request_hash:
        problems.append("keccak256(request) is not the receipt's requestHash")
    if body_hash(response) != receipt.receipt.response_hash:
        problems.append("keccak256(response) is not the receipt's responseHash")
    return "; ".join(problems) or None


def fetch_exchange(http: httpx.Client, endpoint: str, receipt: SignedReceipt) -> tuple[bytes, bytes]:
    """The request and response bodies of a receipt, checked against its hashes."""
    what = f"the exchange of receipt {receipt.sequence}"
    data = _json(_get(http, f"{endpoint.rstrip('/')}/v1/receipts/{receipt.sequence}/exchange", what), what)
    request, response = data.get("request"), data.get("response")
    if not isinstance(request, str) or not isinstance(response, str):
        raise ReceiptFault(f"{what} is malformed: request and response are strings", permanent=True)
    bodies = request.encode(), response.encode()
    wrong = body_mismatch(receipt, *bodies)
    if wrong:
        raise ReceiptFault(f"{what} is not what the receipt signs: {wrong}", permanent=True)
    return bodies


# --- 5. the re-run -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiptVerdict:
    """What re-running one receipt's request found."""

    outcome: Outcome
    method: str
    detail: str
    cpu_s: float = 0.0

    @property
    def match(self) -> bool:
        return self.outcome == "match"


def rerun(executor: Executor, receipt: SignedReceipt, request: bytes, response: bytes) -> ReceiptVerdict:
    """Run the receipt's request again in the canonical mode and compare with its response.

    The bodies must already be known to be the receipt's (``body_mismatch``). ``mismatch``
    means the provider was paid for a wrong answer (or for another model than asked);
    ``unverifiable`` says why this validator cannot tell.
    """
    started = time.thread_time()
    verdict = _rerun(executor, receipt, request, response)
    return ReceiptVerdict(verdict.outcome, verdict.method, verdict.detail[:2000], time.thread_time() - started)


def _rerun(executor: Executor, receipt: SignedReceipt, request: bytes, response: bytes) -> ReceiptVerdict:
    cid = receipt.receipt.model
    try:
        manifest = executor.manifest(cid)
    except (ModelError, InputError) as exc:
        return ReceiptVerdict("unverifiable", "model", f"model {cid} is not held here: {exc.message}")
    try:
        head = json.loads(request)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ReceiptVerdict("unverifiable", "request", "the request body is not JSON")
    if not isinstance(head, dict):
        return ReceiptVerdict("unverifiable", "request", "the request body is not a JSON object")
    kind: type[oa.Req] = (oa.ChatRequest if "messages" in head else oa.CompletionRequest if "prompt" in head
                          else oa.EmbeddingsRequest)
    try:
        parsed = oa.parse_request(kind, request)
    except InputError as exc:
        return ReceiptVerdict("unverifiable", "request", f"the request does not parse: {exc.message}")
    if parsed.model not in (cid, manifest.name):
        return ReceiptVerdict("mismatch", "model",
                              f"the request asked for model {parsed.model!r}; the receipt charges for "
                              f"{manifest.name!r} ({cid})")
    wanted = "embed" if isinstance(parsed, oa.EmbeddingsRequest) else "generate"
    if manifest.task != wanted:
        return ReceiptVerdict("mismatch", "model", f"a {manifest.task} model cannot answer a {wanted} request")
    try:
        if isinstance(parsed, oa.EmbeddingsRequest):
            return _rerun_embeddings(executor, cid, parsed, response)
        assert isinstance(parsed, (oa.ChatRequest, oa.CompletionRequest))
        return _rerun_generation(executor, cid, parsed, response)
    except (ModelError, InputError) as exc:
        return ReceiptVerdict("unverifiable", "rerun", f"the request does not run here: {exc.message}")


def embed_texts(executor: Executor, cid: str, texts: Sequence[str]) -> np.ndarray:
    """Embeddings the way the provider's fast path computes them (``FastPathService.run_embeddings``)."""
    loaded = executor.load(cid)
    embed = getattr(loaded, "embed", None)
    if callable(embed):
        return np.asarray(embed(list(texts)), dtype=np.float32)
    return load_npy(loaded.run(EmbedRequest(texts=tuple(texts))).blobs[0].data)


def _rerun_embeddings(executor: Executor, cid: str, request: oa.EmbeddingsRequest, response: bytes) -> ReceiptVerdict:
    texts = request.texts()
    try:
        claimed = oa.decode_embeddings(json.loads(response))
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        return ReceiptVerdict("mismatch", "structure", f"the response is not an embeddings body: {exc}")
    ours = embed_texts(executor, cid, texts)
    if claimed.shape != ours.shape:
        return ReceiptVerdict("mismatch", "structure",
                              f"{claimed.shape[0]}×{claimed.shape[1] if claimed.ndim > 1 else 0} embeddings for "
                              f"{len(texts)} texts (expected {ours.shape[0]}×{ours.shape[1]})")
    manifest = executor.manifest(cid)
    found = compare_arrays(claimed, ours, policy_for(manifest.framework, "embed"))
    return ReceiptVerdict("match" if found.match else "mismatch", "reexecute",
                          f"{len(texts)} embeddings against our run: {found.detail}")


def claimed_text(request: oa.ChatRequest | oa.CompletionRequest, response: bytes) -> tuple[str, str | None, int | None]:
    """The generated text, finish reason and completion-token count a response claims."""
    if request.stream:
        text, finish, tokens = "", None, None
        for event in response.split(b"\n\n"):
            if not event.startswith(b"data: ") or event == oa.SSE_DONE.strip():
                continue
            chunk = json.loads(event[6:])
            piece, reason = oa.stream_text(chunk)
            text += piece
            finish = reason or finish
            if chunk.get("usage"):
                tokens = int(chunk["usage"]["completion_tokens"])
        return text, finish, tokens
    body = json.loads(response)
    choice = body["choices"][0]
    text = choice["message"]["content"] if "message" in choice else choice["text"]
    usage = body.get("usage") or {}
    return str(text or ""), choice.get("finish_reason"), usage.get("completion_tokens")


def _rerun_generation(executor: Executor, cid: str, request: oa.ChatRequest | oa.CompletionRequest,
                      response: bytes) -> ReceiptVerdict:
    try:
        claimed, finish, count = claimed_text(request, response)
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, IndexError, TypeError, ValueError) as exc:
        return ReceiptVerdict("mismatch", "structure", f"the response is not a completion body: {exc}")
    limit = request.tokens_wanted(0)
    if limit == 0:
        # The provider's default token limit is its own setting: the claimed count stands in
        # for it (we then compare the text only, since the finish reason depends on the limit).
        if count is None or count < 1:
            return ReceiptVerdict("unverifiable", "rerun", "the request sets no max_tokens and the response "
                                  "does not say how many tokens it generated")
        limit = int(count)
    loaded = executor.load(cid)
    text = text_generator_of(loaded)
    if text is None:
        return ReceiptVerdict("unverifiable", "rerun", f"model {cid} is not a text generator this validator can run")
    pieces = TextPieces(text, request.stops(), text.eos)
    ids = prompt_ids(text, request.prompt_text(), limit)
    parts = []
    for token in generate_tokens(text, loaded.settings, ids, limit, temperature=request.temperature,
                                 top_k=request.top_k, seed=request.seed):
        parts.append(pieces.add(token))
        if pieces.stopped:
            break
    ours = "".join(parts) + pieces.finish()
    produced = len(pieces.tokens)
    ended = pieces.stopped or (produced > 0 and pieces.tokens[-1] == text.eos)
    our_finish = "length" if produced >= limit and not ended else "stop"
    if ours != claimed:
        return ReceiptVerdict("mismatch", "reexecute",
                              f"the generated text differs from our run ({len(claimed)} vs {len(ours)} characters; "
                              f"ours begins {ours[:60]!r}, theirs {claimed[:60]!r})")
    if request.tokens_wanted(0) and finish is not None and finish != our_finish:
        return ReceiptVerdict("mismatch", "reexecute", f"finish reason {finish!r}, ours {our_finish!r}")
    return ReceiptVerdict("match", "reexecute", f"the same {produced} tokens of text as our run")


# --- the evidence of a challenge ---------------------------------------------------------------


class ReceiptEvidence(BaseModel):
    """Why a validator says a receipted response is wrong (one per receipt challenge)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["deai-receipt-evidence"] = EVIDENCE_KIND
    version: Literal[1] = 1
    chain_id: int = Field(ge=1)
    anchors: str
    validator: str
    receipt: dict[str, Any]
    anchor_sequence: int = Field(ge=1)
    leaf_index: int = Field(ge=0)
    proof: list[str] = Field(max_length=MAX_PROOF_LENGTH)
    request: str
    response: str
    method: str = Field(min_length=1, max_length=40)
    detail: str = Field(min_length=1, max_length=2000)
    beacon: str = ""
    ticket: str = ""

    @field_validator("anchors", "validator")
    @classmethod
    def _address(cls, value: str) -> str:
        if not _ADDRESS.match(value):
            raise ValueError(f"{value[:50]!r} is not an address")
        return value

    @field_validator("proof")
    @classmethod
    def _proof(cls, value: list[str]) -> list[str]:
        if not all(_HEX32.match(v) for v in value):
            raise ValueError("a proof is a list of 0x and 64 lowercase hex digits")
        return value

    @field_validator("request", "response")
    @classmethod
    def _body(cls, value: str) -> str:
        if not _HEX.match(value):
            raise ValueError("a body is lowercase hex")
        return value

    @field_validator("beacon")
    @classmethod
    def _beacon(cls, value: str) -> str:
        if value and not _HEX32.match(value):
            raise ValueError("expected 0x and 64 lowercase hex digits")
        return value

    @classmethod
    def build(cls, *, chain_id: int, anchors: str, validator: str, anchored: AnchoredReceipt, request: bytes,
              response: bytes, verdict: ReceiptVerdict, beacon: bytes = b"", ticket: int | None = None
              ) -> ReceiptEvidence:
        return cls(chain_id=chain_id, anchors=to_checksum_address(anchors), validator=to_checksum_address(validator),
                   receipt=anchored.receipt.as_dict(), anchor_sequence=anchored.anchor_sequence,
                   leaf_index=anchored.index, proof=["0x" + p.hex() for p in anchored.proof],
                   request="0x" + request.hex(), response="0x" + response.hex(), method=verdict.method,
                   detail=verdict.detail[:2000] or "mismatch", beacon="0x" + beacon.hex() if beacon else "",
                   ticket="" if ticket is None else f"{ticket:064x}")

    def bodies(self) -> tuple[bytes, bytes]:
        return bytes.fromhex(self.request.removeprefix("0x")), bytes.fromhex(self.response.removeprefix("0x"))

    def proof_bytes(self) -> tuple[bytes, ...]:
        return tuple(bytes.fromhex(p[2:]) for p in self.proof)

    def canonical_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))


def parse_receipt_evidence(data: bytes | str | dict[str, Any]) -> ReceiptEvidence:
    """Read receipt evidence from JSON bytes, a string or a dict; anything malformed → EvidenceError."""
    return parse_document(data, ReceiptEvidence, what="receipt evidence", limit=MAX_RECEIPT_EVIDENCE_BYTES)


@dataclass(frozen=True)
class CheckedEvidence:
    """Receipt evidence whose receipt, proof and bodies hold together."""

    receipt: SignedReceipt
    proof: tuple[bytes, ...]
    request: bytes
    response: bytes


def check_receipt_evidence(evidence: ReceiptEvidence, verifier: ReceiptVerifier, *, chain_id: int, anchors: str,
                           digest: bytes | None = None, provider: str | None = None,
                           root: bytes | None = None) -> CheckedEvidence:
    """Raise EvidenceError unless the evidence is about this receipt and its parts hold together.

    ``digest`` and ``provider``: the dispute's (from the chain); ``root``: the anchored root
    of ``evidence.anchor_sequence``, read from the chain (None: the proof is not checked here).
    """
    if evidence.chain_id != chain_id or evidence.anchors.lower() != anchors.lower():
        raise EvidenceError("the receipt evidence is for another chain or Anchors contract")
    try:
        signed = SignedReceipt.from_dict(evidence.receipt, verifier.separator)
        verifier.verify(signed, leaf_checked=True)
    except SignatureError as exc:
        raise EvidenceError(f"the evidence's receipt does not hold: {exc.message}") from None
    if digest is not None and signed.leaf != digest:
        raise EvidenceError("the evidence is about another receipt than the one disputed")
    if provider is not None and signed.provider.lower() != provider.lower():
        raise EvidenceError("the evidence's receipt is signed by another provider than the one disputed")
    proof = evidence.proof_bytes()
    try:
        included = root is None or verify_proof(root, signed.leaf, proof)
    except MerkleError:
        included = False
    if not included:
        raise EvidenceError(f"the evidence's proof does not lead to the root of anchor {evidence.anchor_sequence}")
    request, response = evidence.bodies()
    wrong = body_mismatch(signed, request, response)
    if wrong:
        raise EvidenceError(f"the evidence's bodies are not the receipt's: {wrong}",
                            hint="a challenger must give the exact bytes the provider signed")
    return CheckedEvidence(signed, proof, request, response)


def rebuild_receipt_evidence(http: httpx.Client, endpoint: str, verifier: ReceiptVerifier, *, chain_id: int,
                             anchors: str, challenger: str, provider: str, receipt_sequence: int,
                             anchor_sequence: int, digest: bytes, root: bytes) -> CheckedEvidence:
    """A disputed receipt and its exchange rebuilt from the provider's own API, checked as evidence is.

    A committee member's last resort when the challenger's evidence cannot be fetched: the
    provider serves the receipt (``/v1/receipts/{sequence}``, with its proof) and its
    exchange (``/v1/receipts/{sequence}/exchange``). Nothing it serves is taken on its word:
    the parts become a ``ReceiptEvidence`` that must pass ``check_receipt_evidence`` against
    the dispute's digest, provider and anchored root, so the bodies are exactly the ones the
    receipt signs. A provider that does not answer raises ``ReceiptFault``.
    """
    what = f"disputed receipt {receipt_sequence}"
    data = _json(_get(http, f"{endpoint.rstrip('/')}/v1/receipts/{receipt_sequence}", what), what)
    try:
        signed = SignedReceipt.from_dict(data["receipt"], verifier.separator)
        proof = data.get("proof") or {}
        siblings = ["0x" + _hex32(s).hex() for s in proof.get("siblings", ())]
        index = int(proof.get("index", 0))
    except SignatureError as exc:
        raise ReceiptFault(f"{what}: {exc.message}", permanent=True) from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ReceiptFault(f"{what} is malformed: {exc}", permanent=True) from None
    request, response = fetch_exchange(http, endpoint, signed)
    evidence = ReceiptEvidence(
        chain_id=chain_id, anchors=to_checksum_address(anchors), validator=to_checksum_address(challenger),
        receipt=signed.as_dict(), anchor_sequence=anchor_sequence, leaf_index=index, proof=siblings,
        request="0x" + request.hex(), response="0x" + response.hex(), method="provider",
        detail="rebuilt from the provider's API")
    return check_receipt_evidence(evidence, verifier, chain_id=chain_id, anchors=anchors, digest=digest,
                                  provider=provider, root=root)


def _hex32(value: Any) -> bytes:
    raw = bytes.fromhex(str(value).removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes of hex, got {len(raw)}")
    return raw

