"""Test support shipped with deai, usable by projects built on it.

- plugin.py — a pytest plugin (registered through the ``pytest11`` entry point) with a
  session-scoped anvil on a free port, the deployed contracts, devnet accounts, and
  per-test isolation through ``evm_snapshot``/``evm_revert``.
"""
