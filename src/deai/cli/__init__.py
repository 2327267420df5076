"""The ``deai`` command: one Typer sub-app per component, thin over the library and node APIs.

- main.py — the root app, global options (``--data-dir``, ``--debug``), error → exit code mapping
- common.py — the per-invocation state (Config) and output helpers (``--json`` or Rich)
- keys.py — ``deai keys``: encrypted accounts and DIDs
- devnet.py — ``deai devnet``: the embedded local chain
"""
