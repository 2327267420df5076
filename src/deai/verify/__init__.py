"""deai.verify: making cheating unprofitable and measurably detectable (docs/verification.md).

The validator daemon (``deai.node.validator``, ``deai validator start``) is built from
these pieces; each is a plain module with no process or network of its own:

- ``sampling.py`` — the lottery: a ticket per (validator, job) from the validator's secret
  key and the commit block's hash, selected under the job's fraction p; nobody can steer or
  foresee it. ``detection_probability`` = 1 − (1 − p·q)^n.
- ``checks.py`` — ``check_result``: structure, then re-execution in the canonical mode with
  the model's comparison policy, rescoring, or a training segment re-run → ``Verdict``.
- ``rescore.py`` — one teacher-forced pass instead of generating: structure, the sampling
  rule per token (vectorised margins), the activation commitment.
- ``commitment.py`` — TOPLOC-style commitments: top-128 activations per 32 tokens as a
  polynomial over GF(65497), 258 bytes per chunk; ``with_commitment`` is what a provider's
  worker adds to a rescore job's result document.
- ``redundancy.py`` — ``redundant(k)`` as k jobs: groups rebuilt from the chain, agreement
  classes under the comparison policy, ``accept_distinct`` for clients.
- ``evidence.py`` — the evidence document behind a challenge, checked against the chain
  before any bond is posted.
- ``reputation.py`` — validator scores reported per epoch to the ValidatorPool (which pays
  the reporters the epoch's fees by stake); the network's
  score is the stake-weighted median with clipping (Yuma-style), recomputable by anyone.
- ``params.py`` — p and the slash from a job's value so that p·slash > gain.
- ``state.py`` — the validator's SQLite state (jobs, checks, challenges, votes, score
  reports, fee claims).

Adversaries for the tests live in ``deai.node.adversary`` (``deai provider start --cheat``).
"""
