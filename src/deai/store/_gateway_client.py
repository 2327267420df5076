"""The IPFS Trustless Gateway, client side: fetch from any gateways, trust none of them.

Every block is hashed against its CID before use, and a CAR is checked block by block
against the traversal that the request implies, so a gateway can neither alter bytes nor
slip in extra blocks. A gateway that fails (unreachable, 404, a bad block, a broken
stream) is skipped for the next one; ``cat`` resumes where the last verified byte left
off (``entity-bytes``), and ``fetch`` keeps the verified blocks it already has.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar
from urllib.parse import quote

import httpx

from deai.errors import (
    BlockNotFound,
    BlockTooLarge,
    CarError,
    CorruptBlock,
    InvalidCid,
    StoreError,
    UnsupportedCid,
)
from deai.store import _dag
from deai.store._car import CAR_CONTENT_TYPE, CarReader, IterStream
from deai.store._cid import CID, MAX_BLOCK_SIZE, verify_block
from deai.store._gateway_server import RAW_CONTENT_TYPE
from deai.store._local import LocalStore, split_path
from deai.units import Cid

T = TypeVar("T")

# What a bad or broken gateway can cause; anything else (the local store is full, the CID
# names a directory where a file was asked for) is not the gateway's fault and propagates.
_GATEWAY_FAULTS = (
    httpx.HTTPError, BlockNotFound, BlockTooLarge, CarError, CorruptBlock, InvalidCid, UnsupportedCid,
)


class _GatewayFailed(Exception):
    """One gateway could not serve a request; the next one is tried."""


class _CarFeed:
    """Hands out the blocks of a CAR response in the order a traversal asks for them."""

    def __init__(self, reader: CarReader, dups: bool, fallback: Callable[[CID], bytes]) -> None:
        self._blocks = reader.blocks()
        self._dups = dups
        self._fallback = fallback
        self._seen: set[str] = set()

    def get(self, cid: CID) -> bytes:
        if not self._dups and cid.key in self._seen:
            # the gateway sends each block once; fetch the repeat on its own
            return self._fallback(cid)
        try:
            sent, block = next(self._blocks)
        except StopIteration:
            raise _GatewayFailed(f"the CAR ended before block {cid}") from None
        if sent.key != cid.key:
            raise CorruptBlock(f"the gateway sent block {sent} where {cid} belongs")
        self._seen.add(cid.key)
        return block


class GatewayClient:
    """Fetch and verify content from a list of gateways, in order, failing over."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.urls = [u.rstrip("/") for u in urls]
        if not self.urls:
            raise StoreError("no gateway URLs given", hint="name at least one, e.g. http://127.0.0.1:8080")
        self._http = httpx.Client(timeout=timeout, transport=transport, follow_redirects=True)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- failover -------------------------------------------------------------------------

    def _each(self, what: str, attempt: Callable[[str], T]) -> T:
        failures: list[str] = []
        corrupt = False
        for url in self.urls:
            try:
                return attempt(url)
            except (*_GATEWAY_FAULTS, _GatewayFailed) as exc:
                corrupt = corrupt or isinstance(exc, CorruptBlock | BlockTooLarge)
                failures.append(f"{url}: {exc}")
        summary = f"no gateway could serve {what}: " + "; ".join(failures)
        if corrupt:
            raise CorruptBlock(summary)
        raise BlockNotFound(summary, hint="check the CID or add gateways that have it")

    @staticmethod
    def _check(response: httpx.Response, content_type: str) -> None:
        if response.status_code != 200:
            raise _GatewayFailed(f"HTTP {response.status_code}")
        got = response.headers.get("content-type", "")
        if not got.startswith(content_type):
            raise _GatewayFailed(f"answered {got or 'no content type'}, not {content_type}")

    def _url(self, base: str, cid: CID, path: str = "") -> str:
        suffix = "/" + "/".join(quote(p) for p in path.split("/") if p) if path else ""
        return f"{base}/ipfs/{cid.encode()}{suffix}"

    # --- blocks ---------------------------------------------------------------------------

    def _block_from(self, base: str, cid: CID) -> bytes:
        with self._http.stream("GET", self._url(base, cid), headers={"Accept": RAW_CONTENT_TYPE}) as resp:
            self._check(resp, RAW_CONTENT_TYPE)
            data = bytearray()
            for chunk in resp.iter_bytes():
                data += chunk
                if len(data) > MAX_BLOCK_SIZE:
                    raise BlockTooLarge(f"{base} sent more than 2 MiB for block {cid}")
        block = bytes(data)
        verify_block(cid, block)
        return block

    def get_block(self, cid: str | CID) -> bytes:
        """One block, verified, from the first gateway that serves it correctly."""
        parsed = split_path(cid)[0]
        return self._each(f"block {parsed}", lambda base: self._block_from(base, parsed))

    # --- files ----------------------------------------------------------------------------

    def cat(self, target: str | CID) -> Iterator[bytes]:
        """Stream a file (``cid`` or ``cid/path``), verified block by block, with failover.

        Bytes are yielded only after their block checked out; if a gateway fails half-way,
        the next one is asked for the rest (``entity-bytes=N:*``) and nothing repeats.
        """
        root, path = split_path(target)
        emitted = 0
        failures: list[str] = []
        corrupt = False
        for base in self.urls:
            try:
                for chunk in self._cat_from(base, root, path, emitted):
                    emitted += len(chunk)
                    yield chunk
                return
            except (*_GATEWAY_FAULTS, _GatewayFailed) as exc:
                corrupt = corrupt or isinstance(exc, CorruptBlock | BlockTooLarge)
                failures.append(f"{base}: {exc}")
        summary = f"no gateway could serve {root}{'/' + path if path else ''}: " + "; ".join(failures)
        if corrupt:
            raise CorruptBlock(summary)
        raise BlockNotFound(summary, hint="check the CID or add gateways that have it")

    def _cat_from(self, base: str, root: CID, path: str, start: int) -> Iterator[bytes]:
        params = {"dag-scope": "entity"}
        if start:
            params["entity-bytes"] = f"{start}:*"
        accept = f"{CAR_CONTENT_TYPE}; version=1; order=dfs; dups=y"
        url = self._url(base, root, path)
        with self._http.stream("GET", url, params=params, headers={"Accept": accept}) as resp:
            self._check(resp, CAR_CONTENT_TYPE)
            dups = "dups=y" in resp.headers.get("content-type", "").replace(" ", "")
            reader = CarReader(IterStream(resp.iter_bytes()))  # type: ignore[arg-type]
            if root.key not in {r.key for r in reader.roots}:
                raise CorruptBlock(f"the CAR's roots do not include {root}")
            feed = _CarFeed(reader, dups, lambda cid: self._block_from(base, cid))
            target, _ = _dag.resolve(feed.get, root, path)
            for visit in _dag.walk_file(feed.get, target, start):
                if len(visit.payload):
                    yield bytes(visit.payload)

    def read_bytes(self, target: str | CID) -> bytes:
        return b"".join(self.cat(target))

    # --- whole DAGs into a store ----------------------------------------------------------

    def fetch(self, target: str | CID, store: LocalStore, *, pin: bool = True) -> Cid:
        """Copy the whole DAG under ``target`` into ``store``, verified; pins it by default.

        Blocks already in the store are not fetched twice across gateways. If no gateway
        completes the DAG, the blocks this call added are removed again.
        """
        root = split_path(target)[0]
        with store._transaction() as tx:
            def attempt(base: str) -> Cid:
                if not store.missing(root, limit=1):
                    return root.encode()
                self._fetch_car(base, root, tx.put)
                absent = store.missing(root, limit=1)
                if absent:
                    raise _GatewayFailed(f"the CAR lacked block {absent[0]}")
                return root.encode()

            result = self._each(f"the DAG {root}", attempt)
            if pin:
                store._write_pin(root)
        return result

    def _fetch_car(self, base: str, root: CID, put: Callable[[CID, bytes], None]) -> None:
        accept = f"{CAR_CONTENT_TYPE}; version=1; order=dfs; dups=n"
        url = self._url(base, root)
        with self._http.stream("GET", url, params={"dag-scope": "all"}, headers={"Accept": accept}) as resp:
            self._check(resp, CAR_CONTENT_TYPE)
            reader = CarReader(IterStream(resp.iter_bytes()))  # type: ignore[arg-type]
            known = {root.key}
            for cid, block in reader.blocks():  # each block verified by the reader
                if cid.key not in known:
                    raise CorruptBlock(f"the gateway sent block {cid}, which is not in the DAG of {root}")
                put(cid, block)
                known.update(link.key for link in _dag.links_of(cid, block))
