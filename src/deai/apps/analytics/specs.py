"""Job spec CID → workload kind, read from the local store (specs are not on chain).

A job's event carries only its spec's CID; the spec itself (a ``WorkloadSpec`` JSON
document) lives in content-addressed storage. The index asks this resolver once per spec
and remembers the answer; a spec that is not in the local store stays ``unknown``. Only
the local store is read, never the network, so indexing never waits on a gateway.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from deai.config import Config
from deai.errors import DeaiError

MAX_SPEC_BYTES = 64 * 1024


def store_spec_kinds(config: Config) -> Callable[[str], str | None]:
    """A resolver over ``config``'s local store (None for a spec it does not hold)."""
    from deai.store import LocalStore

    store = LocalStore.from_config(config)

    def resolve(spec_cid: str) -> str | None:
        try:
            if not store.has(spec_cid):
                return None
            data = store.read_bytes(spec_cid)
        except DeaiError:
            return None
        return kind_of(data)

    return resolve


def kind_of(data: bytes) -> str | None:
    """The ``kind`` field of a workload spec document, or None if it is not one."""
    if len(data) > MAX_SPEC_BYTES:
        return None
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    kind = doc.get("kind") if isinstance(doc, dict) else None
    return kind if isinstance(kind, str) and kind.isidentifier() and len(kind) <= 32 else None
