"""Test support shipped with deai, usable by projects built on it.

- plugin.py — a pytest plugin (registered through the ``pytest11`` entry point) with a
  session-scoped anvil on a free port, the deployed contracts, devnet accounts, and
  per-test isolation through ``evm_snapshot``/``evm_revert``, and a market staged once per
  test module (``staged_market``).
- market.py — the market contracts' test kit (``Market``, ``prepare_roles``, fingerprints).
- receipt_disputes.py, verification.py, workloads.py, network.py — kits for receipt
  disputes, validation, workloads and a whole local network.
- waiting.py — ``wait_for``: poll a condition until it holds or a deadline passes.
"""
