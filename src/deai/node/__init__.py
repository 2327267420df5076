"""deai nodes: the provider and validator daemons and what they stand on.

- state.py — ``NodeState`` (jobs, cursors, request nonces) in SQLite (``SqliteNodeState``)
  or memory (``MemoryNodeState``); jobs move only forward along ``JobStage``
- workers.py — ``WorkerPool``: workloads in spawned processes with time and memory budgets
- auth.py — EIP-712 signed HTTP requests (``sign_request`` / ``verify_request``), replay-safe
- onchain.py — ``OnchainRequests``: a provider's side of contracts' AI requests (spec rebuilt
  from the request, answer delivered, final results released, failed requests settled,
  subscription rounds fired); ``onchain_output`` (what is delivered for a result, the rule
  validators apply too), ``spec_for_request``, ``describe_request``, ``publish``
- processes.py — node processes from Python: ``ProviderSpec`` / ``ValidatorSpec``, their
  command lines, ``spawn_node``, ``wait_ready``, ``terminate``, ``stop_node_pids``
- devnet_nodes.py — ``DevnetNodes``: the providers and validators ``deai devnet up`` runs
  (funded roles, their keystores, logs and pids under ``<data_dir>/devnet/nodes``)
"""
