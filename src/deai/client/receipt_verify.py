"""``verify_receipt``: who answered this fast-path request, with which model, and does it all check?

A fast-path answer has no job and no manifest of its own: its provenance is the signed
receipt the provider returned with it (``deai.node.fastpath.receipts``), which names the
request and response by hash, the model by CID, the provider, the price and the time, and
which the provider anchors in a Merkle batch on ``Anchors``. Given the response bytes
and that receipt, the checks — the same ``Check`` / ``Verdict`` as ``deai verify`` gives a
job output (``deai.provenance.verifier``) — are:

- ``file`` — keccak256 of the bytes is the receipt's ``responseHash``;
- ``signature`` — the receipt's EIP-712 signature recovers to the provider it names,
  under this chain's id and ``Anchors`` address;
- ``anchor`` — the receipt is in a batch the provider anchored (``check_receipt``: the
  provider's proof, else the batch listings by CID); a batch that covers it with another
  leaf is proof the provider left it out;
- ``provider`` — registered in the ``Registry`` and staked at least the minimum;
- ``dispute`` — ``ReceiptDisputes`` holds no dispute of it, or one the committee upheld;
  an open dispute or a fraud verdict fails.

``deai verify FILE --receipt RECEIPT.json`` prints it; without ``--receipt`` the CLI looks
for a receipt of the file's bytes in the client's wallet.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from web3 import Web3

from deai.chain.anchors import Anchors
from deai.chain.deploy import Deployment
from deai.chain.receipt_disputes import ReceiptDisputes
from deai.chain.types import ReceiptDisputeStatus
from deai.client.channels import AnchorCheck, check_receipt
from deai.errors import SignatureError
from deai.node.fastpath.receipts import ReceiptVerifier, SignedReceipt, body_hash, receipt_domain
from deai.provenance.chainstate import read_facts
from deai.provenance.verifier import Check, Verdict


def verify_receipt(
    response: bytes,
    receipt: SignedReceipt,
    *,
    w3: Web3,
    deployment: Deployment,
    provider_url: str | None = None,
    gateways: Sequence[str] = (),
    target: str = "",
) -> Verdict:
    """Check a fast-path answer against its receipt and the chain (see the module docstring)."""
    checks: list[Check] = []

    def add(name: str, ok: bool, detail: str) -> None:
        checks.append(Check(name=name, ok=ok, detail=detail))

    signed = receipt.receipt
    if body_hash(response) == signed.response_hash:
        add("file", True, f"the bytes hash to the receipt's response hash 0x{signed.response_hash.hex()[:16]}…")
    else:
        add("file", False, "the bytes do not hash to the receipt's response hash: this is not the answer the "
            "receipt covers, or it was changed")
    anchors = Anchors.from_deployment(w3, deployment)
    verifier = ReceiptVerifier(receipt_domain(w3.eth.chain_id, anchors.address))
    # The leaf is recomputed from the fields under this chain's domain, never taken as
    # given: a receipt with altered fields must not borrow the original's anchored leaf.
    receipt = verifier.parse(receipt.to_json())
    try:
        verifier.verify(receipt, leaf_checked=True)
        add("signature", True, f"EIP-712 signature by the provider {receipt.provider}")
    except SignatureError as exc:
        add("signature", False, exc.message)
    found = check_receipt(receipt, anchors=anchors, provider_url=provider_url, gateways=gateways,
                          from_block=deployment.block)
    facts = read_facts(w3, deployment, provider=receipt.provider, job_id=None,
                       sequence=found.anchor_sequence if found.included else None)
    block = facts.event.block if found.included and facts.event is not None else None
    add("anchor", found.included, _anchor_detail(found, block))
    if facts.provider is None:
        add("provider", True, "this deployment has no Registry to check")
    else:
        add("provider", facts.provider.registered_and_staked, facts.provider.describe())
    _check_dispute(receipt, w3, deployment, add)

    ok = all(c.ok for c in checks)
    when = datetime.fromtimestamp(signed.issued_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if ok:
        summary = (f"answered by model {_short(signed.model)} on provider {receipt.provider} at {when} "
                   f"(receipt {receipt.sequence}), anchored in block {block}, {checks[-1].detail.split(' (')[0]}")
    else:
        summary = "NOT VERIFIED: " + "; ".join(f"{c.name}: {c.detail}" for c in checks if not c.ok)
    return Verdict(target=target, ok=ok, summary=summary, checks=tuple(checks), source="receipt", block=block)


def _short(cid: str) -> str:
    return f"{cid[:12]}…{cid[-4:]}" if len(cid) > 20 else cid


def _anchor_detail(found: AnchorCheck, block: int | None) -> str:
    if found.included:
        return f"{found.reason}; anchored in block {block}"
    if found.status == "excluded":
        return f"left out of its batch: {found.reason}"
    return f"not anchored yet: {found.reason} (the provider anchors in batches; try again later)"


def _check_dispute(receipt: SignedReceipt, w3: Web3, deployment: Deployment,
                   add: Callable[[str, bool, str], None]) -> None:
    if "ReceiptDisputes" not in deployment.contracts:
        add("dispute", True, "this deployment has no ReceiptDisputes to check")
        return
    disputes = ReceiptDisputes.from_deployment(w3, deployment)
    dispute = disputes.dispute(receipt.leaf)
    if dispute.status is ReceiptDisputeStatus.NONE:
        add("dispute", True, f"not disputed (challengeable for {disputes.challenge_window()} s after issue)")
    elif dispute.status is ReceiptDisputeStatus.OPEN:
        add("dispute", False, f"disputed: validator {dispute.challenger} challenged this answer and a committee "
            "is voting")
    elif dispute.status is ReceiptDisputeStatus.REJECTED:
        add("dispute", False, "disputed: a validator committee found this answer wrong and the provider was "
            f"slashed (evidence {dispute.evidence_cid})")
    else:
        add("dispute", True, "challenged and upheld (a validator committee found the answer right)")
