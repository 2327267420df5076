"""deai: an open, verifiable, decentralized AI network.

The package is laid out by role (see DESIGN.md); arrows point down this list, a module
never imports one above it:

- ``errors`` (errors.py), ``units`` (units.py), ``config`` (config.py), ``sqlite_rows``
  (sqlite_rows.py: SQLite files, transactions, dataclass rows) — shared ground
- ``identity/`` — keys, encrypted keystores, DIDs, EIP-191/EIP-712 signatures
- ``chain/`` — Vyper contracts, compilation, deployment, the anvil devnet, typed wrappers
- ``store/`` — CIDs, UnixFS, blockstore, CAR, the IPFS trustless gateway
- ``runtime/`` — workload specs, model artifacts, runtimes, the canonical deterministic mode
- ``market/`` — job specs, bidding, pricing, payment channels and vouchers
- ``verify/`` — comparison, sampling, challenges, redundancy, reputation
- ``provenance/`` — signed manifests, Merkle trees, anchoring, C2PA
- ``node/`` — provider and validator daemons, HTTP API, node state
- ``client/`` — the SDK
- ``apps/`` — applications on the public API
- ``cli/`` — the ``deai`` command
- ``testing/`` — the pytest plugin for a real chain
"""

__version__ = "0.1.0"
