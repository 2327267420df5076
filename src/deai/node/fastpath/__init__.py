"""The fast path on a provider: interactive inference paid through channels, with receipts.

A client opens a payment channel once (``deai.client.channels``), then sends OpenAI-style
requests with an EIP-712 voucher in ``X-Deai-Voucher``; the provider checks the voucher
before any work, answers at once with a signed receipt, anchors receipt batches on
``Anchors`` and serves inclusion proofs. docs/fastpath.md walks through it.

- ``FastPathService``, ``FastPathSettings`` (service.py) — the provider side: channel
  state from the ``Channels`` events, prices, preparing (parse, validate, quote), running
  the loaded models in-process, issuing receipts, anchoring, redeeming and closing.
- ``fastpath_router`` (router.py) — ``/v1/models``, ``/v1/embeddings``,
  ``/v1/completions``, ``/v1/chat/completions`` (SSE streams), ``/v1/fastpath``,
  ``/v1/channels/{id}``, ``/v1/receipts…``; 402 with the price and how to pay.
- ``Receipt``, ``SignedReceipt``, ``ReceiptSigner``, ``ReceiptVerifier``,
  ``receipt_domain``, ``body_hash``, ``RECEIPT_HEADER`` (receipts.py) — EIP-712
  ``DeaiReceipt`` in the "deai-receipts" domain (chain id, Anchors); its digest is the leaf.
- ``PaymentLedger``, ``Charge`` (ledger.py) — vouchers accepted before work, charged when
  served; an unserved voucher may be sent again, a served one never.
- ``ReceiptStore`` (store.py) — SQLite: receipts with their bodies, served vouchers, batches.
- ``ReceiptBatcher`` (anchoring.py) — Merkle root per batch on Anchors (sharing the
  node's ``anchor_lock`` with the provenance log), the listing by CID, proofs.
- openai_api.py — OpenAI request models, response bodies, SSE events.
- streaming.py — token-by-token generation identical to ``TextGenerator.generate``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deai.node.fastpath.anchoring import ReceiptBatcher
    from deai.node.fastpath.ledger import Charge, PaymentLedger
    from deai.node.fastpath.receipts import (
        RECEIPT_HEADER,
        Receipt,
        ReceiptSigner,
        ReceiptVerifier,
        SignedReceipt,
        body_hash,
        receipt_domain,
    )
    from deai.node.fastpath.router import fastpath_router
    from deai.node.fastpath.service import FastPathService, FastPathSettings
    from deai.node.fastpath.store import ReceiptStore

__all__ = [
    "RECEIPT_HEADER",
    "Charge",
    "FastPathService",
    "FastPathSettings",
    "PaymentLedger",
    "Receipt",
    "ReceiptBatcher",
    "ReceiptSigner",
    "ReceiptStore",
    "ReceiptVerifier",
    "SignedReceipt",
    "body_hash",
    "fastpath_router",
    "receipt_domain",
]

# Names load on first use: the SDK imports receipts.py without FastAPI, torch or SQLite code.
_WHERE = {
    "anchoring": ("ReceiptBatcher",),
    "ledger": ("Charge", "PaymentLedger"),
    "receipts": ("RECEIPT_HEADER", "Receipt", "ReceiptSigner", "ReceiptVerifier", "SignedReceipt",
                 "body_hash", "receipt_domain"),
    "router": ("fastpath_router",),
    "service": ("FastPathService", "FastPathSettings"),
    "store": ("ReceiptStore",),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'deai.node.fastpath' has no attribute {name!r}")
    return getattr(importlib.import_module(f"deai.node.fastpath.{module}"), name)
