"""A committee member's last resort: a disputed receipt rebuilt from the provider's own API.

When nobody serves the challenger's evidence, ``rebuild_receipt_evidence`` takes the receipt
(with its proof) and its exchange from the provider named on chain and checks them exactly
as evidence is checked: the disputed digest, the provider's signature, the proof under the
anchored root, the body hashes. Here the provider is real (``FastPathService`` on the devnet)
and the dispute is a real ``ReceiptDisputes`` challenge naming a CID nobody serves.
"""

from __future__ import annotations

import httpx
import pytest

from deai.chain.anchors import Anchors
from deai.chain.receipt_disputes import ReceiptDisputes
from deai.errors import EvidenceError, ReceiptFault
from deai.node.fastpath.receipts import (
    RECEIPT_HEADER,
    ReceiptVerifier,
    SignedReceipt,
    receipt_domain,
)
from deai.testing.market import Market, cid, prepare_roles
from deai.testing.plugin import align_clock
from deai.verify.receipts import CheckedEvidence, rebuild_receipt_evidence

from .conftest import FastEnv

pytestmark = pytest.mark.integration

EMBED = "all-MiniLM-L6-v2"


@pytest.fixture(scope="module", autouse=True)
def roles(fast_env: FastEnv) -> Market:
    m = Market(fast_env.w3, fast_env.deployment, fast_env.accounts)
    prepare_roles(m)
    return m


def test_a_disputed_receipt_is_rebuilt_from_the_provider_and_checked_like_evidence(
    fast_env: FastEnv, roles: Market,
) -> None:
    env = fast_env
    align_clock(env.w3)
    session = env.client().open_channel(env.provider.account.address, 10**18, url=env.provider.url)
    answers = []
    with session.http_client(timeout=60.0) as http:
        for i in range(2):
            reply = http.post(env.provider.url + "/v1/embeddings", json={"model": EMBED, "input": [f"rebuild {i}"]})
            assert reply.status_code == 200
            answers.append((reply.content, SignedReceipt.from_json(reply.headers[RECEIPT_HEADER])))
    env.provider.service.flush()
    (answer, receipt), (_, other) = answers
    check = env.client().check(receipt, provider_url=env.provider.url)
    assert check.proof is not None and check.anchor_sequence is not None
    disputes = ReceiptDisputes.from_deployment(env.w3, env.deployment)
    disputes.challenge(roles["validator1"], receipt, check.anchor_sequence, check.proof.siblings,
                       cid("evidence nobody serves"))
    dispute = disputes.dispute(receipt.leaf)
    anchors = Anchors.from_deployment(env.w3, env.deployment)
    root = anchors.root(receipt.provider, dispute.anchor_sequence)
    assert root is not None
    verifier = ReceiptVerifier(receipt_domain(env.deployment.chain_id, anchors.address))

    def rebuild(*, sequence: int = dispute.receipt_sequence, digest: bytes = receipt.leaf,
                root: bytes = root) -> CheckedEvidence:
        with httpx.Client(timeout=30.0) as http:
            return rebuild_receipt_evidence(
                http, env.provider.url, verifier, chain_id=env.deployment.chain_id, anchors=anchors.address,
                challenger=str(dispute.challenger), provider=str(dispute.provider), receipt_sequence=sequence,
                anchor_sequence=dispute.anchor_sequence, digest=digest, root=root)

    rebuilt = rebuild()
    assert rebuilt.receipt.leaf == receipt.leaf and rebuilt.response == answer
    assert rebuilt.proof == tuple(check.proof.siblings)
    # the provider's data is held to the dispute: another receipt, another root, or none at all fail
    with pytest.raises(EvidenceError, match="another receipt"):
        rebuild(sequence=other.sequence)
    with pytest.raises(EvidenceError, match="does not lead to the root"):
        rebuild(root=b"\x01" * 32)
    with pytest.raises(ReceiptFault, match="HTTP 404"):
        rebuild(sequence=10**6)
