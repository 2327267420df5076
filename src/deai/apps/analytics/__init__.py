"""Chain analytics: every deai contract's events indexed into DuckDB, and what they say.

- ``Indexer``, ``IndexStatus``, ``RunResult``, ``ensure_schema`` (indexer.py) — follows the
  deployment's contracts in block ranges from the deployment block; resumable (cursor in
  the index), reorg-safe (re-reads the last blocks, walks back on a hash mismatch),
  idempotent (each range replaces its rows in one transaction).
- schema.py — the fact tables (one row per event), the state tables rebuilt from them
  (providers, jobs, bids, payments, stakes, slashes, channels, models, datasets,
  balances, lineage, on-chain AI requests and subscriptions) and the analytical views.
- rows.py — ``RowBuilder``: decoded events → fact rows.
- ``overview``, ``price_per_kind``, ``provider_reliability``, ``latency``,
  ``revenue_per_provider``, ``verification_outcomes``, ``find_anomalies`` (queries.py) —
  the figures; plus the page lookups the explorer uses (``job``, ``provider``, ``search``,
  ``ai_requests``, ``ai_request``, ``ai_request_counts``…).
- ``Anomaly`` (anomalies.py) — rate-jump and price-outlier flags, each with its rule.
- ``open_index``, ``index_path`` (database.py) — the DuckDB file under the data directory.
- ``make_sample_history`` (sample.py) — real jobs of every outcome on a devnet, and
  on-chain AI requests of every outcome from a small consumer contract.
- ``store_spec_kinds`` (specs.py) — job spec CID → workload kind, from the local store.
"""

from __future__ import annotations

from deai.apps.analytics.anomalies import Anomaly
from deai.apps.analytics.database import index_path, open_index
from deai.apps.analytics.indexer import Indexer, IndexStatus, RunResult, ensure_schema, index_status
from deai.apps.analytics.queries import (
    Latency,
    Outcome,
    Overview,
    PricePoint,
    Reliability,
    Revenue,
    find_anomalies,
    latency,
    overview,
    price_per_kind,
    provider_reliability,
    revenue_per_provider,
    verification_outcomes,
)
from deai.apps.analytics.specs import store_spec_kinds

__all__ = [
    "Anomaly",
    "IndexStatus",
    "Indexer",
    "Latency",
    "Outcome",
    "Overview",
    "PricePoint",
    "Reliability",
    "Revenue",
    "RunResult",
    "ensure_schema",
    "find_anomalies",
    "index_path",
    "index_status",
    "latency",
    "open_index",
    "overview",
    "price_per_kind",
    "provider_reliability",
    "revenue_per_provider",
    "store_spec_kinds",
    "verification_outcomes",
]
