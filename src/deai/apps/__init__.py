"""The application layer: what people build on the network, each a sub-folder on the public API.

- ``analytics/`` — the chain index in DuckDB (``Indexer``), the analytics questions
  (prices, reliability, latency, revenue, verification outcomes), anomaly flags, and a
  sample job history for demos; the explorer dashboard (``deai.web``) reads it.
"""
