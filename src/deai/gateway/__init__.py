"""The gateway: one OpenAI-compatible endpoint in front of many deai providers.

``deai gateway start`` runs it with a client's key: it holds that client's payment
channels to the providers, routes each request by price, measured latency and reputation,
pays with vouchers, checks and keeps every receipt, and fails over — mid-stream too —
without paying twice. docs/fastpath.md has the walk-through.

- ``Gateway``, ``GatewaySettings`` (service.py) — routing, paying, retries, stream resumption.
- ``create_gateway_app`` (app.py) — the FastAPI app (``/v1/models``, ``/v1/embeddings``,
  ``/v1/completions``, ``/v1/chat/completions``, ``/v1/gateway``, ``/v1/receipts``).
- upstreams.py — ``Upstream`` (a provider's URL, prices, models, stats), ``Lanes`` (its
  channels, one request each), ``probe``, ``restore_lanes``.
- routing.py — ``UpstreamStats``, ``score``, ``choose`` (power of two choices).
"""

from deai.gateway.app import create_gateway_app
from deai.gateway.service import Gateway, GatewaySettings

__all__ = ["Gateway", "GatewaySettings", "create_gateway_app"]
