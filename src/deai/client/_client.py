"""``Client`` and ``Job``: post work, watch it, fetch the checked result, ask why.

A client keeps its own store (inputs, specs, fetched outputs). ``submit`` validates the
spec, checks funds and inputs before anything is written on chain, stores the spec by
CID, uploads the spec and inputs as CAR files to the registered providers (a signed
request each), and posts the job with the maximum price in escrow. ``Job.wait`` moves
the job along where anyone may (assign the best bid after the bid window, finalize after
the challenge window, expire after the deadline) and ``Job.result`` fetches the result
document from the provider's gateway, verifying every block and the committed hash.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from eth_account.signers.local import LocalAccount

from deai.chain.deploy import Deployment
from deai.chain.events import BidPlaced, JobPosted
from deai.chain.jobmarket import JobMarket
from deai.chain.registry import Registry
from deai.chain.rpc import connect
from deai.chain.types import Job as ChainJob
from deai.chain.types import JobStatus
from deai.client.channels import ChannelSession, FastPath
from deai.config import Config
from deai.errors import (
    BlockNotFound,
    ContractRevert,
    CorruptBlock,
    InputError,
    InsufficientFunds,
    SpecError,
)
from deai.market.discovery import ProviderListing, list_providers
from deai.market.orders import chain_verification
from deai.node.auth import request_domain, sign_request
from deai.runtime.execute import WorkloadResult, result_hash
from deai.runtime.spec import WorkloadSpec
from deai.store import GatewayClient, LocalStore
from deai.units import TokenAmount, format_tokens

MAX_JOB_INPUT_BYTES = 64 * 2**20
"""The most input data one job may carry (providers refuse larger uploads too)."""


@dataclass(frozen=True)
class JobResult:
    """A job's checked result: the result document, each file output's bytes, and folders.

    Folder outputs (a fine-tuned model) stay in the client's store, named by CID in
    ``folders``; ``save`` copies them out with the files.
    """

    job_id: int
    output_cid: str
    provider: str
    result: WorkloadResult
    outputs: dict[str, bytes]
    folders: dict[str, str]
    store: LocalStore

    def save(self, folder: Path) -> list[Path]:
        """Write every output into ``folder`` (named by job and output name); returns the paths."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for ref in self.result.outputs:
            if ref.name in self.folders:
                path = folder / f"{self.job_id}-{ref.name}"
                self.store.get(ref.cid, path)
            else:
                name = ref.name if Path(ref.name).suffix else ref.name + _suffix(ref.content_type)
                path = folder / f"{self.job_id}-{name}"
                path.write_bytes(self.outputs[ref.name])
            paths.append(path)
        return paths


class Client:
    """The SDK: one account talking to one deployment, with its own store."""

    def __init__(self, account: LocalAccount, deployment: Deployment, store: LocalStore) -> None:
        self.account = account
        self.address: str = str(account.address)
        self.deployment = deployment
        self.store = store
        self.w3 = connect(deployment.rpc_url)
        self.market = JobMarket(self.w3, deployment)
        self.registry = Registry(self.w3, deployment)
        self._domain = request_domain(deployment.chain_id, deployment.address("Registry"))
        self._fast: FastPath | None = None

    @classmethod
    def from_config(cls, config: Config, account: LocalAccount) -> Client:
        """A client for the devnet (or chain) this config's deployment file names."""
        deployment = Deployment.load(config.deployment_file)
        if config.rpc_url:
            deployment = deployment.with_rpc_url(config.rpc_url)
        return cls(account, deployment, LocalStore.from_config(config))

    # --- data ---------------------------------------------------------------------------------

    def add_bytes(self, data: bytes) -> str:
        return str(self.store.add_bytes(data))

    def add_path(self, path: Path) -> str:
        return str(self.store.add_path(path))

    def providers(self) -> list[ProviderListing]:
        return list_providers(self.registry, from_block=self.deployment.block)

    # --- posting ------------------------------------------------------------------------------

    def submit(
        self,
        spec: WorkloadSpec | dict[str, Any],
        *,
        max_price: TokenAmount,
        bid_window_s: int = 4,
        deadline_s: int = 300,
        upload: bool = True,
    ) -> Job:
        """Post a job; raises before anything is written if the spec, inputs or funds are wrong."""
        parsed = spec if isinstance(spec, WorkloadSpec) else WorkloadSpec.parse(spec)
        if max_price <= 0:
            raise SpecError("the maximum price must be positive", hint="e.g. max_price=tokens(1)")
        if deadline_s <= bid_window_s:
            raise SpecError(
                "the deadline must come after the bid window",
                hint="give deadline_s larger than bid_window_s",
            )
        self._check_inputs(parsed)
        self._check_funds(max_price)
        spec_cid = str(self.store.add_bytes(parsed.canonical_bytes()))
        if upload:
            self._upload([spec_cid, *parsed.inputs])
        now = self.market.chain_time()
        posted = self.market.post_job(
            self.account,
            spec_cid,
            max_price,
            bid_window=bid_window_s,
            deadline=max(now, int(time.time())) + deadline_s,
            verification=chain_verification(parsed),
        )
        return Job(self, int(posted.job_id), posted)

    def _check_inputs(self, spec: WorkloadSpec) -> None:
        total = 0
        for cid in spec.inputs:
            if not self.store.has(cid):
                raise BlockNotFound(
                    f"input {cid} is not in your store",
                    hint="add it first with client.add_path(...) or `deai store add`",
                )
            total += _dag_size(self.store, cid)
        if total > MAX_JOB_INPUT_BYTES:
            raise InputError(
                f"the job's inputs are {total} bytes, over the {MAX_JOB_INPUT_BYTES}-byte limit",
                hint="split the work into several jobs",
            )

    def _check_funds(self, max_price: int) -> None:
        have = int(self.market.token().balance_of(self.address)) + int(
            self.market.balance_of(self.address)
        )
        if have < max_price:
            raise InsufficientFunds(
                f"posting needs {format_tokens(max_price)} in escrow; you have {format_tokens(have)}",
            )

    def _upload(self, cids: list[str]) -> dict[str, str]:
        """Send each root as a CAR to every active provider; returns provider → error for failures."""
        failures: dict[str, str] = {}
        bodies = []
        for cid in cids:
            buffer = io.BytesIO()
            self.store.export_car(cid, buffer)
            bodies.append(buffer.getvalue())
        with httpx.Client(timeout=30.0) as http:
            for provider in self.providers():
                for body in bodies:
                    headers = sign_request(
                        self.account, self._domain, "POST", "/v1/store/car", body
                    )
                    try:
                        response = http.post(
                            f"{provider.endpoint.rstrip('/')}/v1/store/car",
                            content=body,
                            headers=headers,
                        )
                        if response.status_code != 200:
                            failures[provider.address] = response.text[:200]
                    except httpx.HTTPError as exc:
                        failures[provider.address] = str(exc)
        return failures

    # --- jobs ---------------------------------------------------------------------------------

    def job(self, job_id: int) -> Job:
        if not 1 <= job_id <= self.market.job_count():
            raise SpecError(f"there is no job {job_id}", hint="list jobs with `deai job ls`")
        return Job(self, job_id)

    def jobs(self) -> list[Job]:
        """Every job this client posted, oldest first."""
        return [
            Job(self, int(e.job_id), e)
            for e in self.market.events(from_block=self.deployment.block)
            if isinstance(e, JobPosted) and e.client == self.address
        ]

    def withdraw(self) -> TokenAmount:
        """Pay out refunds held in the market account; returns the amount."""
        amount = self.market.balance_of(self.address)
        if amount > 0:
            self.market.withdraw(self.account)
        return amount

    # --- fast path (channels; deai.client.channels) --------------------------------------------

    def fast_path(self, data_dir: Path | None = None) -> FastPath:
        """This account's channels and receipts (a wallet under ``data_dir``, else in memory)."""
        if self._fast is None or (data_dir is not None and self._fast.wallet.path is None):
            self._fast = FastPath(self.account, self.deployment, data_dir=data_dir, w3=self.w3)
        return self._fast

    def open_channel(self, provider: str, deposit: int, *, url: str | None = None) -> ChannelSession:
        """Open a payment channel to ``provider``; its API URL comes from the Registry unless given."""
        if url is None:
            listing = next((p for p in self.providers() if p.address.lower() == provider.lower()), None)
            url = listing.endpoint if listing is not None else ""
        return self.fast_path().open_channel(provider, deposit, url=url)


class Job:
    """One posted job, as its client sees it."""

    def __init__(self, client: Client, job_id: int, posted: JobPosted | None = None) -> None:
        self.client = client
        self.id = job_id
        self._posted = posted

    def __repr__(self) -> str:
        return f"Job({self.id})"

    @property
    def posted(self) -> JobPosted:
        if self._posted is None:
            for event in self.client.market.job_events(
                self.id, from_block=self.client.deployment.block
            ):
                if isinstance(event, JobPosted):
                    self._posted = event
                    break
            else:
                raise SpecError(f"job {self.id} has no JobPosted event")
        return self._posted

    def info(self) -> ChainJob:
        return self.client.market.job(self.id)

    def status(self) -> JobStatus:
        return self.info().status

    def why(self) -> str:
        """The job's state and the reason, in a sentence a person can act on."""
        market = self.client.market
        info = self.info()
        events = market.job_events(self.id, from_block=self.client.deployment.block)
        bids = [e for e in events if isinstance(e, BidPlaced)]
        if info.status is JobStatus.OPEN and not bids:
            spec_cid = self.posted.spec_cid
            return f"no bids yet: {self._why_no_bids(spec_cid)}"
        if info.status is JobStatus.EXPIRED and not bids:
            return (
                f"expired with no bids ({self._why_no_bids(self.posted.spec_cid)}); "
                "the escrow was refunded in full"
            )
        return market.why(self.id, from_block=self.client.deployment.block)

    def _why_no_bids(self, spec_cid: str) -> str:
        try:
            spec = WorkloadSpec.parse(self.client.store.read_bytes(spec_cid))
        except (BlockNotFound, SpecError):
            return "no provider has bid"
        serving = []
        for provider in self.client.providers():
            caps = _capabilities(provider)
            if (
                caps
                and spec.model in caps.get("models", [])
                and spec.kind in caps.get("prices", {})
            ):
                serving.append(provider.address)
        if not serving:
            return f"no provider serves model {spec.model} for {spec.kind!r} work"
        return f"{len(serving)} provider(s) serve model {spec.model} but none has bid (busy or priced above the maximum)"

    def wait(
        self,
        *,
        until: JobStatus = JobStatus.FINALIZED,
        timeout: float = 180.0,
        poll_s: float = 0.25,
        on_change: Callable[[Job, JobStatus], None] | None = None,
    ) -> JobStatus:
        """Drive and watch the job until it reaches ``until`` or ends; returns the last status."""
        deadline = time.monotonic() + timeout
        last: JobStatus | None = None
        market = self.client.market
        while True:
            info = self.info()
            if info.status != last:
                last = info.status
                if on_change is not None:
                    on_change(self, info.status)
            if info.status.terminal or info.status >= until:
                return info.status
            # The next block's timestamp is at least the wall clock (automine devnets leave
            # the last block's time behind until something is sent).
            now = max(market.chain_time(), int(time.time()))
            try:
                if (
                    info.status is JobStatus.OPEN
                    and now > info.window_end
                    and int(info.provider, 16)
                ):
                    market.assign(self.client.account, self.id)
                elif info.status is JobStatus.COMMITTED and now > info.window_end:
                    market.finalize(self.client.account, self.id)
                elif (
                    not info.status.terminal
                    and info.status is not JobStatus.DISPUTED
                    and now > info.deadline
                ):
                    market.expire(self.client.account, self.id)
            except ContractRevert:
                pass  # someone else moved it first, or the chain's clock lags ours: look again
            if time.monotonic() > deadline:
                return info.status
            time.sleep(poll_s)

    def result(self) -> JobResult:
        """Fetch the committed result from the provider, verifying every byte and the hash."""
        market = self.client.market
        committed = market.result(self.id, from_block=self.client.deployment.block)
        if committed is None:
            raise BlockNotFound(
                f"job {self.id} has no committed result yet",
                hint="wait for it with job.wait() or `deai job status`",
            )
        provider = next(
            (p for p in self.client.providers() if p.address == committed.provider), None
        )
        urls = [provider.endpoint] if provider else []
        urls += [p.endpoint for p in self.client.providers() if p.address != committed.provider]
        store = self.client.store
        output_cid = str(committed.output_cid)
        with GatewayClient(urls or ["http://127.0.0.1:9"], timeout=30.0) as gateways:
            if not store.has(output_cid):
                gateways.fetch(output_cid, store)
            result = WorkloadResult.model_validate_json(store.read_bytes(output_cid))
            for ref in result.outputs:
                if not store.has(ref.cid):
                    gateways.fetch(ref.cid, store)
        if (
            result_hash(list(result.outputs)) != "0x" + committed.result_hash.hex()
            or result.result_hash != "0x" + committed.result_hash.hex()
        ):
            raise CorruptBlock(
                f"job {self.id}: the result document does not match the hash committed on chain",
                hint="the provider served something other than it committed; challenge it",
            )
        folders = {r.name: r.cid for r in result.outputs if store.kind(r.cid) == "directory"}
        outputs = {r.name: store.read_bytes(r.cid) for r in result.outputs if r.name not in folders}
        return JobResult(self.id, output_cid, str(committed.provider), result, outputs, folders, store)


def _capabilities(provider: ProviderListing) -> dict[str, Any] | None:
    try:
        response = httpx.get(f"{provider.endpoint.rstrip('/')}/v1/capabilities", timeout=5.0)
        data = response.json().get("capabilities")
        return data if isinstance(data, dict) else None
    except (httpx.HTTPError, ValueError, json.JSONDecodeError):
        return None


def _dag_size(store: LocalStore, cid: str) -> int:
    return sum(len(block) for _cid, block in store.dag_blocks(store.resolve(cid), "all"))


def _suffix(content_type: str) -> str:
    return {
        "image/png": ".png",
        "application/json": ".json",
        "text/plain": ".txt",
        "text/plain; charset=utf-8": ".txt",
        "application/x-npy": ".npy",
    }.get(content_type, ".bin")
