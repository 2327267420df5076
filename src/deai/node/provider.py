"""The provider daemon: find work on chain, bid, run it, commit the result, get paid.

One ``ProviderNode`` per provider account. ``start`` adds the models it serves to its
store, publishes its capability document, stakes and registers (or updates its entry),
and serves its HTTP API. Each ``tick``:

1. reads the ``JobMarket`` events since its cursor (kept in SQLite) and records what they
   mean for this node: new jobs (decide and bid), assignments (won or lost), commitments
   and settlements (finalized, expired, slashed);
2. moves each of its jobs one step along ``JobStage``: assigned → running in a worker
   process → result ready → committing → committed → (after the challenge window)
   finalized, then withdraws what the market credited it.

Every step is written to SQLite before the side effect that follows it, and every side
effect checks the chain first, so a node killed at any point (``kill -9`` included)
restarts and carries on without committing twice: a job left ``committing`` is checked
against the chain before anything is sent again.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from eth_account.signers.local import LocalAccount

from deai.chain.deploy import Deployment
from deai.chain.events import (
    BidPlaced,
    ChainLog,
    JobAssigned,
    JobPosted,
    JobSettled,
    ResultCommitted,
)
from deai.chain.jobmarket import JobMarket
from deai.chain.registry import Registry
from deai.chain.rpc import connect
from deai.chain.staking import Staking
from deai.chain.types import JobStatus, ProviderState
from deai.config import Config
from deai.errors import BlockNotFound, ContractRevert, DeaiError, NodeError
from deai.http_server import AppServer
from deai.market.bidding import BidDecision, ProviderOffer, decide_bid
from deai.market.discovery import list_providers
from deai.market.orders import registry_prices
from deai.node.adversary import cheating
from deai.node.capabilities import Capabilities, detect_hardware
from deai.node.fastpath.service import FastPathService
from deai.node.jobs import JobOutcome, run_job, warm_up
from deai.node.loop import run_ticks
from deai.node.onchain import OnchainRequests
from deai.node.state import TERMINAL, JobStage, SqliteNodeState, allowed_next
from deai.node.workers import Limits, WorkerPool
from deai.provenance import C2paSigner, ProvenanceLog
from deai.provenance.outputs import describe_outputs, record_output
from deai.runtime.base import frameworks
from deai.runtime.execute import WorkloadResult
from deai.runtime.manifest import MANIFEST_NAME, parse_manifest
from deai.runtime.spec import WORKLOAD_KINDS, WorkloadSpec
from deai.store import GatewayClient, LocalStore
from deai.units import ONE_TOKEN, TokenAmount

log = logging.getLogger("deai.provider")

ACTIVE_STAGES = frozenset(
    {
        JobStage.ASSIGNED,
        JobStage.RUNNING,
        JobStage.RESULT_READY,
        JobStage.COMMITTING,
        JobStage.COMMITTED,
    }
)
HELD_STAGES = frozenset(
    {JobStage.BID, JobStage.ASSIGNED, JobStage.RUNNING, JobStage.RESULT_READY, JobStage.COMMITTING}
)
MARKET_CURSOR = "jobmarket"
RECHECK_S = 1.0
LOCAL_STAGES = frozenset({JobStage.ASSIGNED, JobStage.RUNNING, JobStage.RESULT_READY})
PROVENANCE_FLUSH_S = 2.0
PROVENANCE_BATCH = 256
DEFAULT_STAKE = TokenAmount(1_000 * ONE_TOKEN)


@dataclass(frozen=True)
class ProviderSettings:
    """How a provider runs: where it listens, what it serves, what it charges."""

    prices: dict[str, int]
    model_dirs: tuple[Path, ...] = ()
    host: str = "127.0.0.1"
    port: int = 0
    public_url: str | None = None
    workers: int = 1
    max_concurrent_jobs: int = 1
    stake: TokenAmount = DEFAULT_STAKE
    poll_interval_s: float = 0.25
    delay_s: float = 0.0
    """Extra seconds per job: models a slower machine (the demo's slow provider)."""
    job_memory_mib: int = 4096
    max_upload_bytes: int = 64 * 2**20
    gateways: tuple[str, ...] = ()
    """Other gateways to fetch specs and inputs from (other providers are found in the Registry)."""
    withdraw_earnings: bool = True
    fetch_models: bool = True
    """Serve any model whose folder can be fetched by CID and checked, not only ``model_dirs``."""
    cheat: str | None = None
    """Tests only: run jobs as an adversary (``deai.node.adversary``: lazy, partial:Q, swap, collude)."""


@dataclass
class _Running:
    future: Future[JobOutcome]
    spec: WorkloadSpec


@dataclass
class ProviderStats:
    """Counters the HTTP API shows and the benchmarks read."""

    jobs_run: int = 0
    runtime_cpu_s: float = 0.0
    bids: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


class ProviderNode:
    """A provider: its chain view, store, state, workers and HTTP API."""

    def __init__(
        self,
        config: Config,
        account: LocalAccount,
        deployment: Deployment,
        settings: ProviderSettings,
    ) -> None:
        unknown = set(settings.prices) - set(WORKLOAD_KINDS)
        if unknown:
            raise NodeError(
                f"unknown workload kinds in prices: {sorted(unknown)}",
                hint=f"kinds are {', '.join(WORKLOAD_KINDS)}",
            )
        self.config = config
        self.account = account
        self.address: str = str(account.address)
        self.deployment = deployment
        self.settings = settings
        self.w3 = connect(deployment.rpc_url)
        self.market = JobMarket(self.w3, deployment)
        self.registry = Registry(self.w3, deployment)
        self.staking = Staking(self.w3, deployment)
        self.store = LocalStore.from_config(config)
        self.state = SqliteNodeState(config.data_dir / "provider.sqlite")
        self.cache_dir = config.data_dir / "cache"
        self.stats = ProviderStats()
        self.models: tuple[str, ...] = ()
        self.capabilities: Capabilities | None = None
        self.capability_cid = ""
        self.endpoint = ""
        self._pool: WorkerPool | None = None
        self._threads = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="job")
        self._running: dict[int, _Running] = {}
        self._lock = threading.Lock()
        # Manifests (here) and fast-path receipts both post to Anchors with this key;
        # each takes the next sequence number under this lock.
        self.anchor_lock = threading.Lock()
        self.provenance = ProvenanceLog.open(
            config.data_dir, store=self.store, w3=self.w3,
            anchors_address=deployment.address("Anchors"), account=account,
            anchor_lock=self.anchor_lock,
        )
        self._c2pa: C2paSigner | None = None
        self._last_flush = time.monotonic()
        self._last_recheck = 0.0
        self._server: AppServer | None = None
        # jobs posted by contracts through AIRequests: spec from the request, answer delivered back
        self.onchain = OnchainRequests.attach(self)
        self.fastpath: FastPathService | None = None

    # --- start and stop ---------------------------------------------------------------------

    def start(self, *, serve_http: bool = True) -> None:
        """Add models, publish capabilities, stake and register, start workers and the API."""
        self.models = tuple(str(self.store.add_path(d)) for d in self.settings.model_dirs)
        if serve_http:
            from deai.node.api import create_app  # the API imports this module

            # The fast path (channels, receipts, OpenAI API) serves on the same app.
            self.fastpath = FastPathService.for_node(self)

            server = AppServer(
                create_app(self), self.settings.host, self.settings.port, name="provider"
            )
            self._server = server
            self.endpoint = self.settings.public_url or server.url
        else:
            self.endpoint = self.settings.public_url or f"http://{self.settings.host}:0"
        hardware = detect_hardware()
        self.capabilities = Capabilities(
            provider=self.address,
            endpoint=self.endpoint,
            hardware=hardware,
            runtimes=frameworks(),
            models=self.models,
            prices=dict(self.settings.prices),
            max_concurrent_jobs=self.settings.max_concurrent_jobs,
        )
        self.capability_cid = str(self.store.add_bytes(self.capabilities.canonical_bytes()))
        self.ensure_registered()
        if self.state.get_cursor(MARKET_CURSOR) == 0:
            self.state.set_cursor(MARKET_CURSOR, self.deployment.block)
        self._pool = WorkerPool(self.settings.workers, initializer=warm_up)
        if self.fastpath is not None:
            self.fastpath.start()
        if self._server is not None:
            self._server.start()
        log.info(
            "provider %s serving %d models at %s", self.address, len(self.models), self.endpoint
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        if self.fastpath is not None:
            self.fastpath.stop()  # after the server: no request is left half-served
        self._threads.shutdown(wait=False, cancel_futures=True)
        if self._pool is not None:
            self._pool.close()
        self.flush_provenance(force=True)
        self.provenance.close()
        self.state.close()

    def ensure_registered(self) -> None:
        """Stake up to ``settings.stake`` (at least the minimum) and register or update."""
        need = max(int(self.settings.stake), int(self.registry.min_provider_stake()))
        staked = int(self.staking.stake_of(self.address))
        if staked < need:
            self.staking.deposit(self.account, TokenAmount(need - staked))
        prices = registry_prices(self.settings.prices)
        if self.registry.provider_state(self.address) is ProviderState.UNREGISTERED:
            self.registry.register_provider(
                self.account, self.endpoint, self.capability_cid, prices
            )
        else:
            self.registry.update_provider(self.account, self.endpoint, self.capability_cid, prices)
            if self.registry.provider_state(self.address) is ProviderState.PAUSED:
                self.registry.set_provider_active(self.account, True)

    def run_forever(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set; a failing tick is logged and retried, never fatal."""
        run_ticks(self.tick, stop, self.settings.poll_interval_s, log)

    # --- one round ---------------------------------------------------------------------------

    def tick(self) -> None:
        cursor = self.state.get_cursor(MARKET_CURSOR)
        head = int(self.w3.eth.block_number)
        new_block = cursor <= head
        if new_block:
            for event in self.market.events(from_block=cursor, to_block=head):
                self._on_event(event)
            self.state.set_cursor(MARKET_CURSOR, head + 1)
        # Chain-side checks (bids won, windows passed) change with a new block or with the
        # clock; between those, a tick only collects finished work: far fewer RPC calls.
        recheck = new_block or time.monotonic() - self._last_recheck > RECHECK_S
        if recheck:
            self._last_recheck = time.monotonic()
        self._drive_jobs(recheck=recheck)
        self.flush_provenance()
        if self.onchain is not None and recheck:
            self.onchain.tick()

    def _on_event(self, event: ChainLog) -> None:
        if self.onchain is not None:
            self.onchain.on_event(event)  # first: it stores the spec of a contract's request
        if isinstance(event, JobPosted):
            self._on_posted(event)
        elif isinstance(event, BidPlaced):
            return
        elif isinstance(event, JobAssigned):
            record = self.state.get_job(event.job_id)
            if record is None:
                return
            if event.provider == self.address and record.stage is JobStage.BID:
                self.state.advance(event.job_id, JobStage.ASSIGNED, bid_price=int(event.price))
            elif event.provider != self.address and record.stage in (JobStage.SEEN, JobStage.BID):
                self.state.advance(
                    event.job_id, JobStage.LOST, reason=f"assigned to {event.provider}"
                )
        elif isinstance(event, ResultCommitted):
            record = self.state.get_job(event.job_id)
            if (
                record is not None
                and event.provider == self.address
                and record.stage in (JobStage.COMMITTING, JobStage.RESULT_READY)
            ):
                if record.stage is JobStage.RESULT_READY:
                    self.state.advance(event.job_id, JobStage.COMMITTING)
                self.state.advance(event.job_id, JobStage.COMMITTED, tx_hash=event.transaction_hash)
        elif isinstance(event, JobSettled):
            self._on_settled(event)

    def _on_posted(self, event: JobPosted) -> None:
        if self.state.get_job(event.job_id) is not None:
            return
        self.state.add_job(
            event.job_id,
            spec_cid=str(event.spec_cid),
            client=str(event.client),
            max_price=int(event.max_price),
        )
        self._consider(event.job_id, bid_window_end=int(event.bid_window_end))

    def _consider(self, job_id: int, *, bid_window_end: int | None = None) -> None:
        """Bid on a seen job, skip it for good, or leave it seen to look again next tick."""
        record = self.state.get_job(job_id)
        if record is None or record.stage is not JobStage.SEEN:
            return
        if bid_window_end is None:
            job = self.market.job(job_id)
            if job.status is not JobStatus.OPEN:
                stage = JobStage.EXPIRED if job.status is JobStatus.EXPIRED else JobStage.LOST
                self.state.advance(job_id, stage, reason=f"job is {job.status.name.lower()}")
                return
            bid_window_end = job.window_end
        if self.market.chain_time() >= bid_window_end:
            self.state.advance(job_id, JobStage.SKIPPED, reason="bid window closed")
            return
        decision = self._decide(record.spec_cid, record.max_price)
        if not decision.bid:
            self.stats.skipped[decision.reason] = self.stats.skipped.get(decision.reason, 0) + 1
            if not decision.retry_later:
                self.state.advance(job_id, JobStage.SKIPPED, reason=decision.reason)
            return
        try:
            self.market.bid(self.account, job_id, TokenAmount(decision.price))
        except ContractRevert as exc:
            self.state.advance(job_id, JobStage.SKIPPED, reason=f"bid refused: {exc.reason}")
            return
        self.stats.bids += 1
        self.state.advance(job_id, JobStage.BID, bid_price=decision.price)

    def _decide(self, spec_cid: str, max_price: int) -> BidDecision:
        try:
            spec = self._load_spec(spec_cid)
        except DeaiError as exc:
            return BidDecision(False, reason=f"cannot read the spec: {exc.message}")
        busy = self._held_slots()
        offer = ProviderOffer(
            models=frozenset(self.models) | self._fetchable_model(spec.model),
            prices=self.settings.prices,
            cpus=self.capabilities.hardware.cpus if self.capabilities else 1,
            memory_mb=self.capabilities.hardware.memory_mb if self.capabilities else 1024,
            gpus=len(self.capabilities.hardware.gpus) if self.capabilities else 0,
            free_slots=self.settings.max_concurrent_jobs - busy,
        )
        return decide_bid(spec, max_price, offer)

    def _fetchable_model(self, model_cid: str) -> frozenset[str]:
        """``{model_cid}`` if this node fetches models on demand and this one is a valid model.

        A fine-tuned model made by another provider minutes ago is served like the demo
        models once its folder (and its manifest) can be fetched and checked.
        """
        if not self.settings.fetch_models or model_cid in self.models:
            return frozenset()
        try:
            self._fetch_missing([model_cid])
            parse_manifest(self.store.read_bytes(f"{model_cid}/{MANIFEST_NAME}"))
        except DeaiError as exc:
            log.info("model %s is not servable here: %s", model_cid, exc.message)
            return frozenset()
        return frozenset({model_cid})

    def _held_slots(self) -> int:
        """Jobs this node works on, plus open jobs where its bid is the best so far.

        A bid that is losing holds nothing; one that is winning must not let the node
        overbook its workers.
        """
        held = len(self.state.jobs(HELD_STAGES - {JobStage.BID}))
        for record in self.state.jobs(frozenset({JobStage.BID})):
            if self.market.job(record.job_id).provider == self.address:
                held += 1
        return held

    def _claim_if_won(self, job_id: int) -> None:
        """After the bid window, assign the job if this node's bid is the best (anyone may)."""
        job = self.market.job(job_id)
        now = max(self.market.chain_time(), int(time.time()))
        if job.status is JobStatus.OPEN and now > job.window_end and job.provider == self.address:
            try:
                self.market.assign(self.account, job_id)
            except ContractRevert as exc:
                log.info("job %d not assigned yet: %s", job_id, exc.reason)

    def _on_settled(self, event: JobSettled) -> None:
        record = self.state.get_job(event.job_id)
        if record is None or record.stage in TERMINAL:
            return
        reason = event.reason.sentence
        if event.status is JobStatus.FINALIZED and record.stage is JobStage.COMMITTED:
            self.state.advance(event.job_id, JobStage.FINALIZED, reason=reason)
            self._withdraw()
        elif event.status is JobStatus.REJECTED and record.stage is JobStage.COMMITTED:
            self.state.advance(event.job_id, JobStage.SLASHED, reason=reason)
        elif record.stage in (JobStage.SEEN, JobStage.BID):
            self.state.advance(
                event.job_id,
                JobStage.LOST
                if record.stage is JobStage.BID and event.status is not JobStatus.EXPIRED
                else JobStage.EXPIRED,
                reason=reason,
            )
        elif JobStage.EXPIRED in allowed_next(record.stage):
            self._forget_running(event.job_id)
            self.state.advance(event.job_id, JobStage.EXPIRED, reason=reason)

    # --- driving this node's jobs -------------------------------------------------------------

    def _drive_jobs(self, *, recheck: bool = True) -> None:
        for record in self.state.jobs(ACTIVE_STAGES if recheck else LOCAL_STAGES):
            try:
                if record.stage in (JobStage.ASSIGNED, JobStage.RUNNING):
                    self._run_or_collect(record.job_id, record.spec_cid, record.stage)
                elif record.stage is JobStage.RESULT_READY:
                    self._commit(record.job_id, record.output_cid, record.result_hash)
                elif record.stage is JobStage.COMMITTING:
                    self._recover_commit(record.job_id)
                elif record.stage is JobStage.COMMITTED:
                    self._finalize_when_due(record.job_id)
            except DeaiError as exc:
                log.warning("job %d: %s", record.job_id, exc)
        if not recheck:
            return
        for record in self.state.jobs(frozenset({JobStage.SEEN})):
            try:
                self._consider(record.job_id)  # jobs passed over while every slot was held
            except DeaiError as exc:
                log.warning("job %d: %s", record.job_id, exc)
        for record in self.state.jobs(frozenset({JobStage.BID})):
            try:
                self._claim_if_won(record.job_id)
            except DeaiError as exc:
                log.warning("job %d: %s", record.job_id, exc)

    def _run_or_collect(self, job_id: int, spec_cid: str, stage: JobStage) -> None:
        with self._lock:
            running = self._running.get(job_id)
        if running is None:
            spec = self._load_spec(spec_cid)
            self._fetch_inputs(spec)
            record = self.state.get_job(job_id)
            attempts = (record.attempts if record else 0) + 1
            self.state.advance(job_id, JobStage.RUNNING, attempts=attempts)
            future = self._threads.submit(self._execute, spec_cid, spec)
            with self._lock:
                self._running[job_id] = _Running(future, spec)
            return
        if not running.future.done():
            return
        with self._lock:
            self._running.pop(job_id, None)
        try:
            outcome = running.future.result()
        except DeaiError as exc:
            self.state.advance(job_id, JobStage.FAILED, reason=exc.message)
            return
        self.stats.jobs_run += 1
        self.stats.runtime_cpu_s += outcome.cpu_s
        self._record_provenance(job_id, running.spec, outcome.output_cid)
        self.state.advance(
            job_id,
            JobStage.RESULT_READY,
            output_cid=outcome.output_cid,
            result_hash=outcome.result_hash,
        )
        self._commit(job_id, outcome.output_cid, outcome.result_hash)

    def _record_provenance(self, job_id: int, spec: WorkloadSpec, output_cid: str) -> None:
        """A signed manifest for every output of the job (PNGs also get a C2PA credential)."""
        result = WorkloadResult.model_validate_json(self.store.read_bytes(output_cid))
        model = parse_manifest(self.store.read_bytes(f"{spec.model}/{MANIFEST_NAME}"))
        if self._c2pa is None:
            self._c2pa = C2paSigner.load_or_create(
                self.config.data_dir / "c2pa", self.account, self.provenance.domain
            )
        for unsigned in describe_outputs(
            result, spec, model, provider=self.address, chain_id=self.deployment.chain_id,
            anchors=self.deployment.address("Anchors"), job_id=job_id,
        ):
            record_output(self.provenance, self.account, unsigned, c2pa_signer=self._c2pa)

    def flush_provenance(self, *, force: bool = False) -> None:
        """Anchor pending manifests: at once when many are waiting, else every few seconds."""
        pending = self.provenance.pending_count()
        due = time.monotonic() - self._last_flush > PROVENANCE_FLUSH_S
        if pending and (force or due or pending >= PROVENANCE_BATCH):
            self.provenance.flush()
            self._last_flush = time.monotonic()

    def _execute(self, spec_cid: str, spec: WorkloadSpec) -> JobOutcome:
        assert self._pool is not None, "start() creates the worker pool"
        limits = Limits(
            timeout_s=float(spec.resources.max_seconds),
            memory_mib=min(self.settings.job_memory_mib, spec.resources.memory_mb + 2048),
        )
        job, cheat = (run_job, ()) if self.settings.cheat is None else cheating(self.settings.cheat, self.models)
        outcome: JobOutcome = self._pool.run(
            job,
            str(self.store.root),
            str(self.cache_dir),
            self.store.read_bytes(spec_cid),
            self.settings.delay_s,
            *cheat,
            limits=limits,
        )
        return outcome

    def _commit(self, job_id: int, output_cid: str, result_hash: str) -> None:
        job = self.market.job(job_id)
        if job.status is not JobStatus.ASSIGNED:
            self._recover_commit(job_id, job_status=job.status, from_ready=True)
            return
        self.state.advance(job_id, JobStage.COMMITTING)  # recorded before the transaction
        event = self.market.commit_result(
            self.account, job_id, output_cid, bytes.fromhex(result_hash.removeprefix("0x"))
        )
        self.state.advance(job_id, JobStage.COMMITTED, tx_hash=event.transaction_hash)

    def _recover_commit(
        self, job_id: int, *, job_status: JobStatus | None = None, from_ready: bool = False
    ) -> None:
        """A commit may or may not have reached the chain before a crash: ask the chain."""
        status = job_status if job_status is not None else self.market.job(job_id).status
        if status is JobStatus.ASSIGNED:
            if not from_ready:
                self.state.advance(job_id, JobStage.RESULT_READY)
            return
        if status in (JobStatus.COMMITTED, JobStatus.DISPUTED, JobStatus.FINALIZED):
            if from_ready:
                self.state.advance(job_id, JobStage.COMMITTING)
            result = self.market.result(job_id, from_block=self.deployment.block)
            self.state.advance(
                job_id, JobStage.COMMITTED, tx_hash=result.transaction_hash if result else ""
            )

    def _finalize_when_due(self, job_id: int) -> None:
        job = self.market.job(job_id)
        now = max(self.market.chain_time(), int(time.time()))  # see Job.wait in deai.client
        if job.status is JobStatus.COMMITTED and now > job.window_end:
            try:
                self.market.finalize(self.account, job_id)
            except ContractRevert as exc:
                log.info("job %d not finalized yet: %s", job_id, exc.reason)

    def _withdraw(self) -> None:
        if self.settings.withdraw_earnings and self.market.balance_of(self.address) > 0:
            self.market.withdraw(self.account)

    def _forget_running(self, job_id: int) -> None:
        with self._lock:
            running = self._running.pop(job_id, None)
        if running is not None:
            running.future.cancel()

    # --- data ----------------------------------------------------------------------------------

    def _load_spec(self, spec_cid: str) -> WorkloadSpec:
        self._fetch_missing([spec_cid])
        return WorkloadSpec.parse(self.store.read_bytes(spec_cid))

    def _fetch_inputs(self, spec: WorkloadSpec) -> None:
        self._fetch_missing([*spec.inputs, spec.model])

    def _fetch_missing(self, cids: list[str]) -> None:
        """Copy whatever is not here from other providers' gateways (from the Registry)."""
        missing = [cid for cid in cids if not self.store.has(cid)]
        if not missing:
            return
        urls = list(self.settings.gateways)
        for listing in list_providers(self.registry, from_block=self.deployment.block):
            if listing.address != self.address and listing.endpoint.startswith("http"):
                urls.append(listing.endpoint)
        if not urls:
            raise BlockNotFound(f"{missing[0]} is not here and no other gateway is known")
        with GatewayClient(urls, timeout=10.0) as client:
            for cid in missing:
                client.fetch(cid, self.store)
