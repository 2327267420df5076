"""The deai SDK: post work, watch it, fetch and check results.

- ``Client`` (_client.py) — one account and its store against one deployment:
  ``submit(spec, max_price=…) -> Job``, ``job(id)``, ``jobs()``, ``providers()``, ``withdraw()``
- ``Job`` (_client.py) — ``wait()`` (drives assign/finalize/expire where anyone may),
  ``status()``, ``why()`` (a sentence), ``result() -> JobResult`` (fetched and verified)
- ``JobResult`` (_client.py) — the result document and each output's bytes; ``save(folder)``

Example::

    client = Client.from_config(Config(), account)
    digit = client.add_bytes(json.dumps({"pixels": [...]}).encode())
    job = client.submit({"kind": "classify", "model": model_cid, "inputs": [digit]},
                        max_price=tokens(2))
    job.wait()
    print(job.why(), job.result().result.result)
"""

from deai.client._client import MAX_JOB_INPUT_BYTES, Client, Job, JobResult

__all__ = ["MAX_JOB_INPUT_BYTES", "Client", "Job", "JobResult"]
