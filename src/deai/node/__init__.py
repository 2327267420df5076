"""deai nodes: the provider and validator daemons and what they stand on.

- state.py — ``NodeState`` (jobs, cursors, request nonces) in SQLite (``SqliteNodeState``)
  or memory (``MemoryNodeState``); jobs move only forward along ``JobStage``
- workers.py — ``WorkerPool``: workloads in spawned processes with time and memory budgets
- auth.py — EIP-712 signed HTTP requests (``sign_request`` / ``verify_request``), replay-safe
"""
