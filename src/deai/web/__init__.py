"""The explorer dashboard: server-rendered pages over the chain index, kept current live.

- ``create_app`` (app.py) — the FastAPI app: overview, provider, address, job (timeline,
  bids, output, provenance), model (lineage graph), search, ``/api/stats``; friendly pages
  for unknown ids and a chain that is down.
- ``Explorer``, ``ExplorerSettings`` (service.py) — the DuckDB index, the follower thread
  that indexes as the chain grows, chain health.
- charts.py — bar, column and line charts and the lineage graph, as inline SVG.
- ``serve``, ``start_explorer``, ``stop_explorer``, ``running_explorer`` (server.py) — run it
  in the foreground (``deai explorer``) or as a daemon process (``deai devnet up``).
- templates/, static/ — Jinja2 pages and one stylesheet; nothing is fetched from a CDN.
"""

from __future__ import annotations

from deai.web.app import create_app
from deai.web.server import ExplorerProcess, running_explorer, serve, start_explorer, stop_explorer
from deai.web.service import Explorer, ExplorerSettings

__all__ = [
    "Explorer",
    "ExplorerProcess",
    "ExplorerSettings",
    "create_app",
    "running_explorer",
    "serve",
    "start_explorer",
    "stop_explorer",
]
