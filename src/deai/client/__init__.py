"""The deai SDK: post work, watch it, fetch and check results.

- ``Client`` (_client.py) — one account and its store against one deployment:
  ``submit(spec, max_price=…) -> Job``, ``job(id)``, ``jobs()``, ``providers()``, ``withdraw()``
- ``Job`` (_client.py) — ``wait()`` (drives assign/finalize/expire where anyone may),
  ``status()``, ``why()`` (a sentence), ``result() -> JobResult`` (fetched and verified)
- ``JobResult`` (_client.py) — the result document and each output's bytes; ``save(folder)``
- ``Client.open_channel(provider, deposit)`` / ``FastPath``, ``ChannelSession``,
  ``check_receipt`` (channels.py) — the fast path: payment channels, per-request vouchers
  (an httpx / openai transport), receipts kept and proven against the chain

Example::

    client = Client.from_config(Config(), account)
    digit = client.add_bytes(json.dumps({"pixels": [...]}).encode())
    job = client.submit({"kind": "classify", "model": model_cid, "inputs": [digit]},
                        max_price=tokens(2))
    job.wait()
    print(job.why(), job.result().result.result)
"""

from deai.client._client import MAX_JOB_INPUT_BYTES, Client, Job, JobResult
from deai.client.channels import ChannelSession, FastPath, check_receipt

__all__ = ["MAX_JOB_INPUT_BYTES", "ChannelSession", "Client", "FastPath", "Job", "JobResult", "check_receipt"]
