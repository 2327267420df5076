"""The validator daemon: sample committed results, re-check them, challenge, vote, score providers.

One ``ValidatorNode`` per validator account. ``start`` adds the models it can check to its
store, stakes and registers as a validator (or reactivates), and serves a small HTTP API
(status, checks, evidence documents through an IPFS gateway), whose URL it publishes in the
Registry (``setValidatorEndpoint``, only when it changed) so that dispute committees can
fetch its evidence. Each ``tick``:

1. reads the ``JobMarket`` events since its cursor (in SQLite) and records what they mean:
   posted jobs; committed results, each entered in the lottery of ``deai.verify.sampling``
   (a ticket from the validator's secret key and the commit block's hash, under the job's
   p) or, for ``redundant(k)`` jobs, held for their group; challenges naming it on a
   committee; votes and settlements;
2. judges redundant groups whose members have all committed (``deai.verify.redundancy``);
3. checks the selected results (``deai.verify.checks``: re-execution in the canonical mode,
   rescoring with the TOPLOC-style commitment, or a training segment), earliest challenge
   window first; a wrong result is challenged, with evidence checked against the chain
   first (``deai.verify.evidence``) and kept in its store;
4. votes on the disputes it was drawn for, by its own check — never by the challenger's
   word — and resolves disputes whose votes are all in;
5. after each reputation epoch reports its scores of the providers it checked to the
   ``ValidatorPool`` (``deai.verify.reputation``), and, when it is the market's reputation
   oracle, writes the stake-weighted, clipped consensus back to the JobMarket;
6. once per epoch, moves the validator fees parked in the JobMarket into the pool
   (``sync``) and claims its share of every epoch it reported for whose reporting period
   has closed (docs/verification.md, "Validator fees").

With ``receipt_checks`` on (the default), each round also does the fast path's share
(``deai.node.receipt_checks``): it samples the receipts providers anchor, re-runs them,
challenges wrong responses on ``ReceiptDisputes``, votes on the receipt disputes it is drawn
for and resolves them (``/v1/receipt-checks`` shows the rows).

Every step is recorded before the transaction it leads to, and a restarted validator asks
the chain how an interrupted step ended, so it never posts a bond twice. ``cheat`` turns
it into the adversary of the tests: ``false-challenge`` challenges results its own check
found right (and loses its bond to the committee).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from pydantic import ValidationError

from deai.chain.anchors import Anchors
from deai.chain.deploy import Deployment
from deai.chain.events import (
    ChainLog,
    JobChallenged,
    JobPosted,
    JobSettled,
    ResultCommitted,
    VoteCast,
)
from deai.chain.jobmarket import JobMarket
from deai.chain.registry import Registry
from deai.chain.rpc import connect
from deai.chain.staking import Staking
from deai.chain.types import JobStatus, VerificationMode
from deai.chain.validator_pool import MAX_PIDS, ReportState, ValidatorPool
from deai.config import Config
from deai.errors import ContractRevert, DeaiError, EvidenceError, NodeError
from deai.http_server import AppServer
from deai.market.discovery import list_providers
from deai.node.loop import run_ticks
from deai.node.receipt_checks import ReceiptChecker
from deai.runtime.canonical import RunSettings
from deai.runtime.compare import Comparison, compare_results, policy_for
from deai.runtime.execute import Executor, WorkloadResult, result_hash
from deai.runtime.spec import WorkloadSpec
from deai.store import GatewayClient, LocalStore
from deai.units import ONE_TOKEN, TokenAmount
from deai.verify.checks import Verdict, check_result
from deai.verify.evidence import Evidence, check_evidence, parse_evidence
from deai.verify.params import DEFAULT_SAMPLE_BPS
from deai.verify.redundancy import clusters, group_jobs
from deai.verify.reputation import (
    encode_scores,
    epoch_of,
    latest_posted_epoch,
    network_scores,
    score_provider,
    scores_root,
)
from deai.verify.sampling import key_commitment, pick, sampling_key, selected, ticket
from deai.verify.state import CheckStage, JobCheck, ValidatorState, VoteRecord, VoteStage

log = logging.getLogger("deai.validator")

MARKET_CURSOR = "jobmarket"
ORACLE_CURSOR = "oracle_epoch"
FEES_CURSOR = "fees_epoch"
DEFAULT_VALIDATOR_STAKE = TokenAmount(500 * ONE_TOKEN)
CHEATS = ("false-challenge",)
_MODES_CHECKED = (VerificationMode.SAMPLED, VerificationMode.RESCORE)


@dataclass(frozen=True)
class ValidatorSettings:
    """How a validator runs: what it can check, how it listens, its reputation duties."""

    model_dirs: tuple[Path, ...] = ()
    host: str = "127.0.0.1"
    port: int = 0
    public_url: str | None = None
    """The URL published in the Registry for committees to fetch evidence from (default: the served one)."""
    stake: TokenAmount = DEFAULT_VALIDATOR_STAKE
    poll_interval_s: float = 0.25
    gateways: tuple[str, ...] = ()
    threads: int = 1
    """Threads of the canonical runs (results do not depend on it: docs/runtime.md)."""
    redundant_audit_bps: int = DEFAULT_SAMPLE_BPS
    """Chance that a redundant group whose members agree is re-executed anyway (collusion)."""
    epoch_s: int = 60
    """Used only without a ValidatorPool: the pool's ``epochLength`` decides otherwise."""
    post_scores: bool = True
    """Report scores each epoch, sync the fees and claim this validator's share of them."""
    oracle: bool = False
    """Write the consensus reputation to the JobMarket (needs setReputationOracle to name us)."""
    cheat: str | None = None
    receipt_checks: bool = True
    """Sample anchored fast-path receipts, re-run them, challenge and vote (``deai.node.receipt_checks``)."""
    receipt_sample_bps: int = DEFAULT_SAMPLE_BPS
    """The fraction of anchored receipts this validator re-runs, in basis points (10000 = all)."""

    def __post_init__(self) -> None:
        if self.public_url is not None and not self.public_url.startswith(("http://", "https://")):
            raise NodeError(f"the public URL {self.public_url!r} is not an http(s) URL",
                            hint="give the URL others reach this validator at, e.g. http://host:port")
        if not 0 <= self.receipt_sample_bps <= 10_000:
            raise NodeError(f"the receipt sampling rate is 0..10000 basis points, not {self.receipt_sample_bps}")
        if self.cheat is not None and self.cheat not in CHEATS:
            raise NodeError(f"unknown validator cheat {self.cheat!r}", hint=f"one of {', '.join(CHEATS)}")


@dataclass
class ValidatorStats:
    """Counters the HTTP API shows and the benchmarks read."""

    results_seen: int = 0
    selected: int = 0
    checks: int = 0
    mismatches: int = 0
    challenges: int = 0
    votes: int = 0
    check_cpu_s: float = 0.0
    posts: int = 0
    reputation_updates: int = 0
    fee_syncs: int = 0
    fee_claims: int = 0
    fees_earned: int = 0
    """Validator fees claimed from the ValidatorPool, in token base units (all time)."""
    receipt_checks: int = 0
    receipt_mismatches: int = 0
    receipt_faults: int = 0
    receipt_challenges: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class ValidatorNode:
    """A validator: chain view, store, canonical executor, state and HTTP API."""

    def __init__(self, config: Config, account: LocalAccount, deployment: Deployment,
                 settings: ValidatorSettings) -> None:
        self.config = config
        self.account = account
        self.address: str = str(account.address)
        self.deployment = deployment
        self.settings = settings
        self.w3 = connect(deployment.rpc_url)
        self.market = JobMarket(self.w3, deployment)
        self.registry = Registry(self.w3, deployment)
        self.staking = Staking(self.w3, deployment)
        self.anchors = Anchors.from_deployment(self.w3, deployment)
        self.pool = ValidatorPool(self.w3, deployment)
        # the pool decides what an epoch is: a report in another rhythm would be refused
        self.epoch_s = self.pool.epoch_length()
        if settings.epoch_s != self.epoch_s:
            log.info("epochs are the pool's %d s, not the %d s asked for", self.epoch_s, settings.epoch_s)
        self.store = LocalStore.from_config(config)
        self.state = ValidatorState(config.data_dir / "validator.sqlite")
        self.executor = Executor(self.store, cache_dir=config.data_dir / "runtime",
                                 settings=RunSettings(threads=settings.threads))
        self.key = sampling_key(bytes(account.key))
        self.stats = ValidatorStats()
        claimed = self.state.claims()
        self.stats.fee_claims, self.stats.fees_earned = len(claimed), sum(claimed.values())
        self.endpoint = ""
        self._server: AppServer | None = None
        self._endpoints: tuple[float, list[tuple[str, str]]] = (0.0, [])
        self._block_hashes: dict[int, bytes] = {}
        self._window = 0
        self.receipts = ReceiptChecker.for_node(self) if settings.receipt_checks else None

    # --- start and stop ---------------------------------------------------------------------

    def start(self, *, serve_http: bool = True) -> None:
        for folder in self.settings.model_dirs:
            self.store.add_path(folder)
        if serve_http:
            server = AppServer(create_app(self), self.settings.host, self.settings.port, name="validator")
            self._server = server
            self.endpoint = self.settings.public_url or server.url
        self.ensure_registered()
        if self.endpoint:
            self.publish_endpoint()
        if self.state.get_cursor(MARKET_CURSOR) == 0:
            self.state.set_cursor(MARKET_CURSOR, self.deployment.block)
        if self.receipts is not None:
            self.receipts.start()
        if self._server is not None:
            self._server.start()
        log.info("validator %s ready (sampling key %s…)", self.address, key_commitment(self.key)[:12])

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        if self.receipts is not None:
            self.receipts.close()
        self.state.close()

    def ensure_registered(self) -> None:
        """Stake up to ``settings.stake`` (at least the minimum) and register or reactivate."""
        need = max(int(self.settings.stake), int(self.registry.min_validator_stake()))
        staked = int(self.staking.stake_of(self.address))
        if staked < need:
            self.staking.deposit(self.account, TokenAmount(need - staked))
        if self.address not in self.registry.validators():
            self.registry.register_validator(self.account)
        elif not self.registry.is_active_validator(self.address):
            self.registry.set_validator_active(self.account, True)

    def publish_endpoint(self) -> None:
        """Publish this validator's API URL in the Registry, unless it is already the one there.

        Committee members fetch a challenger's evidence from it (``deai.node.receipt_checks``);
        a restart on the same URL sends no transaction.
        """
        if self.registry.validator_endpoint(self.address, from_block=self.deployment.block) == self.endpoint:
            return
        self.registry.set_validator_endpoint(self.account, self.endpoint)
        log.info("published our endpoint %s in the Registry", self.endpoint)

    def run_forever(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set; a failing tick is logged and retried, never fatal."""
        run_ticks(self.tick, stop, self.settings.poll_interval_s, log)

    # --- one round ---------------------------------------------------------------------------

    def tick(self) -> None:
        self.follow()
        self._judge_groups()
        self._work_queue()
        self._work_votes()
        self._resolve_disputes()
        if self.settings.post_scores:
            self.post_scores()
            self.collect_fees()
        if self.settings.oracle:
            self.apply_consensus()
        if self.receipts is not None:
            self.receipts.tick()

    def follow(self) -> None:
        """Record the market events since the cursor."""
        cursor = self.state.get_cursor(MARKET_CURSOR)
        head = int(self.w3.eth.block_number)
        if cursor > head:
            return
        for event in self.market.events(from_block=cursor, to_block=head):
            self._on_event(event)
        self.state.set_cursor(MARKET_CURSOR, head + 1)

    def now(self) -> int:
        """The time the next block will carry (an automine devnet's last block may be old)."""
        return max(self.market.chain_time(), int(time.time()))

    def _on_event(self, event: ChainLog) -> None:
        if isinstance(event, JobPosted):
            if self.state.get(event.job_id) is None:
                self.state.put(JobCheck(int(event.job_id), CheckStage.POSTED, client=str(event.client),
                                        spec_cid=str(event.spec_cid), mode=int(event.mode), param=int(event.param)))
        elif isinstance(event, ResultCommitted):
            self._on_committed(event)
        elif isinstance(event, JobChallenged):
            if self.address in event.committee and self.state.vote(event.job_id) is None:
                self.state.put_vote(VoteRecord(int(event.job_id), VoteStage.PENDING, vote_end=int(event.vote_end)))
            if event.challenger == self.address:
                self.state.update(int(event.job_id), stage=CheckStage.CHALLENGED,
                                  challenge_tx=event.transaction_hash)
        elif isinstance(event, VoteCast):
            record = self.state.vote(event.job_id)
            if event.validator == self.address and record is not None and record.stage is not VoteStage.RESOLVED:
                self.state.put_vote(VoteRecord(record.job_id, VoteStage.VOTED, record.vote_end,
                                               int(event.fraud), record.detail, event.transaction_hash))
        elif isinstance(event, JobSettled):
            if self.state.get(event.job_id) is not None:
                self.state.update(int(event.job_id), final_status=int(event.status), final_reason=int(event.reason))
            record = self.state.vote(event.job_id)
            if record is not None:
                self.state.put_vote(VoteRecord(record.job_id, VoteStage.RESOLVED, record.vote_end, record.fraud,
                                               record.detail, record.tx))

    def _on_committed(self, event: ResultCommitted) -> None:
        job_id = int(event.job_id)
        record = self.state.get(job_id) or JobCheck(job_id)
        if record.stage is not CheckStage.POSTED:
            return  # seen before (a replay after a restart)
        beacon = self._block_hash(event.block_number)
        mode = VerificationMode(record.mode)
        value = ticket(self.key, chain_id=self.deployment.chain_id, market=self.market.address,
                       job_id=job_id, beacon=beacon)
        common: dict[str, Any] = dict(
            provider=str(event.provider), output_cid=str(event.output_cid),
            result_hash="0x" + event.result_hash.hex(), commit_block=event.block_number,
            beacon="0x" + beacon.hex(), challenge_end=int(event.challenge_end), ticket=f"{value:064x}",
        )
        self.stats.results_seen += 1
        if event.provider == self.address:
            self.state.put(_with(record, CheckStage.SKIPPED, detail="our own result", **common))
        elif mode is VerificationMode.REDUNDANT:
            self.state.put(_with(record, CheckStage.GROUPED, **common))
        elif mode in _MODES_CHECKED and selected(value, record.param):
            self.stats.selected += 1
            self.state.put(_with(record, CheckStage.QUEUED, sampled=1, **common))
        else:
            why = "not selected" if mode in _MODES_CHECKED else f"mode {mode.name.lower()} is not re-executed"
            self.state.put(_with(record, CheckStage.SKIPPED, detail=why, **common))

    def _block_hash(self, number: int) -> bytes:
        if number not in self._block_hashes:
            if len(self._block_hashes) > 4096:
                self._block_hashes.clear()
            self._block_hashes[number] = bytes(self.w3.eth.get_block(number)["hash"])
        return self._block_hashes[number]

    # --- checking ------------------------------------------------------------------------------

    def _work_queue(self) -> None:
        queued = sorted(self.state.jobs([CheckStage.QUEUED, CheckStage.CHALLENGING]),
                        key=lambda r: r.challenge_end)
        for record in queued:
            if record.stage is CheckStage.CHALLENGING:
                self._recover_challenge(record)
                continue
            if self.now() >= record.challenge_end:
                self.state.update(record.job_id, stage=CheckStage.MISSED, detail="the challenge window closed first")
                continue
            verdict = self.judge(record)
            if verdict is None:
                continue  # could not fetch yet: try again next tick
            self._after_check(record.job_id, verdict)

    def judge(self, record: JobCheck, *, deadline: int | None = None) -> Verdict | None:
        """Check one committed result; None while its data cannot be fetched and time remains."""
        until = record.challenge_end if deadline is None else deadline
        try:
            spec = self._spec(record.spec_cid, provider=record.provider)
            claimed = self._claimed(record)
            if isinstance(claimed, Verdict):
                return self._count(claimed)
            verdict = check_result(self.executor, spec, record.spec_cid, claimed, mode=VerificationMode(record.mode),
                                   ticket=int(record.ticket or "0", 16), fetch=self._fetch)
        except DeaiError as exc:
            return self._fetch_failed(record, exc, until)
        return self._count(verdict)

    def _count(self, verdict: Verdict) -> Verdict:
        self.stats.checks += 1
        self.stats.check_cpu_s += verdict.cpu_s
        if not verdict.match:
            self.stats.mismatches += 1
        return verdict

    def _fetch_failed(self, record: JobCheck, exc: DeaiError, deadline: int) -> Verdict | None:
        """Data still unavailable near the deadline is the provider's failure, not a reason to wait."""
        name = type(exc).__name__
        self.stats.errors[name] = self.stats.errors.get(name, 0) + 1
        attempts = record.attempts + 1
        self.state.update(record.job_id, attempts=attempts, detail=f"{name}: {exc.message}"[:2000])
        if self.now() < deadline - self._margin() and attempts < 20:
            return None
        log.warning("job %d: %s after %d attempts", record.job_id, exc.message, attempts)
        return Verdict(False, "unreadable", f"the committed result could not be read or run: {exc.message}")

    def _margin(self) -> int:
        """Seconds kept in hand before a window closes: a third of the challenge window."""
        if self._window == 0:
            self._window = self.market.settings().challenge_window
        return max(2, self._window // 3)

    def _after_check(self, job_id: int, verdict: Verdict) -> None:
        record = self.state.update(job_id, verdict="match" if verdict.match else "mismatch",
                                   method=verdict.method, detail=verdict.detail[:2000],
                                   cpu_s=verdict.cpu_s, stage=CheckStage.CHECKED)
        # An honest validator challenges what it found wrong; the false challenger of the
        # tests challenges exactly what it found right.
        if verdict.match == (self.settings.cheat == "false-challenge"):
            self._challenge(record, verdict)

    # --- challenges ----------------------------------------------------------------------------

    def evidence_for(self, record: JobCheck, verdict: Verdict) -> Evidence:
        facts = {k: v for k, v in verdict.facts.items() if isinstance(v, (int, float, str, bool))}
        return Evidence(
            chain_id=self.deployment.chain_id, market=self.market.address, job_id=record.job_id,
            provider=record.provider, validator=self.address, spec_cid=record.spec_cid,
            output_cid=record.output_cid, result_hash=record.result_hash, method=verdict.method,
            detail=verdict.detail[:2000] or "mismatch", recomputed_hash=verdict.recomputed_hash
            if verdict.recomputed_hash.startswith("0x") else "", facts=facts, beacon=record.beacon,
            ticket=record.ticket,
        )

    def _challenge(self, record: JobCheck, verdict: Verdict) -> None:
        if verdict.match:  # only a false challenger gets here: it claims what it did not find
            verdict = Verdict(False, "reexecute", "the outputs differ (a false claim: the check matched)")
        try:
            event = self.challenge(self.evidence_for(record, verdict))
        except EvidenceError as exc:
            self.state.update(record.job_id, stage=CheckStage.CHECKED, detail=f"not challenged: {exc.message}")
            log.info("job %d not challenged: %s", record.job_id, exc.message)
            return
        except ContractRevert as exc:
            self.state.update(record.job_id, stage=CheckStage.CHECKED, detail=f"challenge refused: {exc.reason}")
            log.info("job %d: challenge refused: %s", record.job_id, exc.reason)
            return
        log.info("job %d challenged (%s) in %s: %s", record.job_id, verdict.method, event.transaction_hash,
                 verdict.detail[:200])

    def challenge(self, evidence: Evidence | bytes | dict[str, Any]) -> JobChallenged:
        """Challenge a committed result with ``evidence``, posting the bond.

        The evidence is parsed and checked against the chain first (``EvidenceError``, with
        nothing sent, when it is malformed, late or about another result), then stored (its
        CID is recorded, and served from this validator's gateway) before the transaction.
        A revert comes back as ``ContractRevert`` with the contract's reason.
        """
        found = evidence if isinstance(evidence, Evidence) else parse_evidence(evidence)
        if found.validator.lower() != self.address.lower():
            raise EvidenceError("the evidence is signed off by another validator")
        record = self.state.get(found.job_id)
        start = max(self.deployment.block, record.commit_block if record else 0)
        check_evidence(found, job=self.market.job(found.job_id),
                       committed=self.market.result(found.job_id, from_block=start),
                       chain_id=self.deployment.chain_id, market=self.market.address, now=self.now())
        evidence_cid = str(self.store.add_bytes(found.canonical_bytes()))
        self.state.update(found.job_id, stage=CheckStage.CHALLENGING, evidence_cid=evidence_cid)
        event = self.market.challenge(self.account, found.job_id)
        self.stats.challenges += 1
        self.state.update(found.job_id, stage=CheckStage.CHALLENGED, challenge_tx=event.transaction_hash)
        return event

    def _recover_challenge(self, record: JobCheck) -> None:
        """A challenge may or may not have been mined before a crash: the chain says which."""
        job = self.market.job(record.job_id)
        if job.status is JobStatus.DISPUTED or job.status.terminal:
            mine = self.market.dispute(record.job_id).challenger == self.address
            self.state.update(record.job_id, stage=CheckStage.CHALLENGED if mine else CheckStage.CHECKED)
        elif job.status is JobStatus.COMMITTED and self.now() < job.window_end:
            verdict = Verdict(record.verdict == "match", record.method or "reexecute", record.detail or "mismatch")
            self.state.update(record.job_id, stage=CheckStage.CHECKED)
            self._challenge(record, verdict)
        else:
            self.state.update(record.job_id, stage=CheckStage.CHECKED)

    # --- redundancy ------------------------------------------------------------------------------

    def _judge_groups(self) -> None:
        grouped = self.state.jobs([CheckStage.GROUPED])
        if not grouped:
            return
        posted = [e for e in self.market.events(from_block=self.deployment.block) if isinstance(e, JobPosted)]
        groups = group_jobs(posted)
        members: dict[Any, list[int]] = {}
        for job_id, key in groups.items():
            members.setdefault(key, []).append(job_id)
        done: set[Any] = set()
        for record in grouped:
            found = groups.get(record.job_id)
            if found is None or found in done:
                continue
            done.add(found)
            self._judge_group(members[found])

    def _judge_group(self, job_ids: list[int]) -> None:
        records = [self.state.get(j) or JobCheck(j) for j in job_ids]
        waiting = [r for r in records if r.stage is CheckStage.GROUPED]
        pending = [r for r in records
                   if r.stage is CheckStage.POSTED and not self.market.job(r.job_id).status.terminal]
        earliest = min(r.challenge_end for r in waiting)
        if pending and self.now() < earliest - self._margin():
            return  # other members may still commit
        late = [r for r in waiting if self.now() >= r.challenge_end]
        for r in late:
            self.state.update(r.job_id, stage=CheckStage.MISSED, detail="the group was judged after the window")
        waiting = [r for r in waiting if r not in late]
        if not waiting:
            return
        claimed: list[tuple[int, WorkloadResult]] = []
        spec: WorkloadSpec | None = None
        for r in waiting:
            try:
                spec = spec or self._spec(r.spec_cid, provider=r.provider)
                result = self._claimed(r)
            except DeaiError as exc:
                verdict = self._fetch_failed(r, exc, earliest)
                if verdict is None:
                    return  # retry the whole group next tick
                self._after_check(r.job_id, verdict)
                continue
            if isinstance(result, Verdict):
                self._after_check(r.job_id, self._count(result))
            else:
                claimed.append((r.job_id, result))
        if spec is None or not claimed:
            return
        manifest = self.executor.manifest(spec.model)
        classes = clusters(claimed, self.executor.store, policy_for(manifest.framework, manifest.task))
        providers = {r.provider for r in waiting if any(r.job_id == j for j, _ in claimed)}
        agree = len(classes) == 1 and len(providers) >= 2
        audit = pick(int(waiting[0].ticket or "0", 16), 10_000) < self.settings.redundant_audit_bps
        if agree and not audit:
            for job_id, _ in claimed:
                self.state.update(job_id, stage=CheckStage.CHECKED, verdict="match", method="redundant",
                                  detail=f"{len(claimed)} results from {len(providers)} providers agree")
            return
        why = "the group agreed; audited" if agree else f"{len(classes)} disagreeing classes among {len(claimed)} results"
        started = time.thread_time()
        reference = self.executor.execute(spec)
        cpu = time.thread_time() - started
        for job_id, result in claimed:
            match = compare_one(self.executor, spec, result, reference)
            verdict = self._count(Verdict(match.match, "redundant", f"{why}; against our run: {match.detail}",
                                          reference.result_hash, cpu / len(claimed)))
            self._after_check(job_id, verdict)

    # --- votes and resolution ------------------------------------------------------------------

    def _work_votes(self) -> None:
        for vote in self.state.votes([VoteStage.PENDING, VoteStage.VOTING]):
            job = self.market.job(vote.job_id)
            if job.status is not JobStatus.DISPUTED or self.now() >= job.window_end:
                continue
            if vote.stage is VoteStage.VOTING and self.market.ballot(vote.job_id, self.address) != 1:
                self.state.put_vote(VoteRecord(vote.job_id, VoteStage.VOTED, vote.vote_end, vote.fraud, vote.detail))
                continue
            record = self.state.get(vote.job_id)
            if record is None or not record.output_cid:
                continue
            if record.verdict in ("match", "mismatch"):
                fraud, detail = record.verdict == "mismatch", record.detail
            else:
                verdict = self.judge(record, deadline=job.window_end)
                if verdict is None:
                    continue
                self.state.update(record.job_id, verdict="match" if verdict.match else "mismatch",
                                  method=verdict.method, detail=verdict.detail[:2000], cpu_s=verdict.cpu_s)
                fraud, detail = not verdict.match, verdict.detail
            self.state.put_vote(VoteRecord(vote.job_id, VoteStage.VOTING, vote.vote_end, int(fraud), detail[:2000]))
            try:
                event = self.market.vote(self.account, vote.job_id, fraud=fraud)
            except ContractRevert as exc:
                log.info("job %d: vote refused: %s", vote.job_id, exc.reason)
                self.state.put_vote(VoteRecord(vote.job_id, VoteStage.VOTED, vote.vote_end, int(fraud), exc.reason))
                continue
            self.stats.votes += 1
            self.state.put_vote(VoteRecord(vote.job_id, VoteStage.VOTED, vote.vote_end, int(fraud), detail[:2000],
                                           event.transaction_hash))
            log.info("job %d: voted %s", vote.job_id, "fraud" if fraud else "valid")

    def _resolve_disputes(self) -> None:
        ours = {v.job_id for v in self.state.votes([VoteStage.VOTED])}
        ours |= {r.job_id for r in self.state.jobs([CheckStage.CHALLENGED]) if not r.final_status}
        for job_id in sorted(ours):
            job = self.market.job(job_id)
            if job.status is not JobStatus.DISPUTED:
                continue
            dispute = self.market.dispute(job_id)
            if dispute.fraud_votes + dispute.valid_votes == len(dispute.committee) or self.now() > job.window_end:
                try:
                    self.market.resolve(self.account, job_id)
                except ContractRevert as exc:
                    log.info("job %d not resolved yet: %s", job_id, exc.reason)

    # --- reputation ----------------------------------------------------------------------------

    def scores(self) -> dict[int, int]:
        """Provider id → this validator's score, from its own checks."""
        out: dict[int, int] = {}
        for provider, (passes, failures) in self.state.tallies().items():
            pid = self.market.account(provider).provider_id
            if pid:
                out[pid] = score_provider(passes, failures)
        return out

    def post_scores(self) -> None:
        """After an epoch ends, report this validator's scores for it to the ValidatorPool (once).

        A validator that checked nobody reports an empty vector: consensus ignores it, but
        the report is its epoch's duty, which the pool pays (docs/verification.md).
        """
        finished = epoch_of(self.now(), self.epoch_s) - 1
        last = self.state.last_post()
        if finished < 0 or (last is not None and last >= finished):
            return
        uri = encode_scores(self.scores())
        try:
            report = self.pool.report(self.account, finished, scores_root(uri), uri)
        except ContractRevert as exc:
            log.warning("scores for epoch %d not reported: %s", finished, exc.reason)
            self.state.record_post(finished, uri, "")
            return
        self.stats.posts += 1
        self.state.record_post(finished, uri, report.transaction_hash)
        log.info("reported scores for epoch %d (weight %d): %s", finished, report.weight, uri)

    def collect_fees(self) -> None:
        """Once per epoch: sync the fees the market parked into the pool, claim what is due."""
        epoch = epoch_of(self.now(), self.epoch_s)
        if self.state.get_cursor(FEES_CURSOR) > epoch:
            return
        self._sync_fees()
        self._claim_fees(epoch)
        self.state.set_cursor(FEES_CURSOR, epoch + 1)

    def _sync_fees(self) -> None:
        # views first (free): a sync transaction only when some provider id has fees parked,
        # or somebody else's collectFees left them in the pool's market account
        pids = [pid for pid in range(1, self.market.provider_count() + 1) if self.market.fees_owed_at(pid) > 0]
        if not pids and self.market.balance_of(self.pool.address) == 0:
            return
        try:
            synced = self.pool.sync(self.account, pids[:MAX_PIDS])
        except ContractRevert as exc:  # another validator synced first
            log.info("fees not synced: %s", exc.reason)
            return
        self.stats.fee_syncs += 1
        log.info("synced %d in validator fees into the pot of epoch %d", synced.amount, synced.epoch)

    def _claim_fees(self, current: int) -> None:
        claimed = self.state.claims()
        for epoch in self.state.posted_epochs():
            if epoch in claimed or current < epoch + 2:
                continue
            status = self.pool.state_of(epoch, self.address)
            if status == ReportState.CLAIMED:  # claimed before a crash: the chain has the amount
                found = [c for c in self.pool.claims(validator=self.address, from_block=self.deployment.block)
                         if c.epoch == epoch]
                self._record_claim(epoch, found[0].amount if found else 0, found[0].transaction_hash if found else "")
                continue
            if status != ReportState.REPORTED or self.pool.epoch(epoch).pot == 0:
                self._record_claim(epoch, 0, "")  # nothing to claim: remember it, send nothing
                continue
            try:
                event = self.pool.claim(self.account, epoch)
            except ContractRevert as exc:
                log.warning("fees of epoch %d not claimed: %s", epoch, exc.reason)
                continue
            self._record_claim(epoch, int(event.amount), event.transaction_hash)
            log.info("claimed %d in validator fees for epoch %d", event.amount, epoch)

    def _record_claim(self, epoch: int, amount: int, tx: str) -> None:
        self.state.record_claim(epoch, amount, tx)
        if tx:
            self.stats.fee_claims += 1
            self.stats.fees_earned += amount

    def apply_consensus(self) -> None:
        """As the market's reputation oracle: write the consensus of the latest scored epoch.

        An epoch counts once half an epoch has passed after its end (the validators' grace
        to post); the chain is scanned only when a new epoch has come of age.
        """
        epoch_s = self.epoch_s
        ripe = epoch_of(self.now() - epoch_s // 2, epoch_s) - 1
        cursor = self.state.get_cursor(ORACLE_CURSOR)
        if ripe < 0 or ripe + 1 <= cursor or self.market.reputation_oracle() != self.address:
            return
        epoch = latest_posted_epoch(self.w3, self.deployment)
        if epoch is not None and cursor <= epoch <= ripe:
            for provider, found in network_scores(self.w3, self.deployment, epoch).items():
                if self.market.account(provider).reputation != found.score:
                    self.market.set_reputation(self.account, provider, found.score)
                    self.stats.reputation_updates += 1
                    log.info("reputation of %s set to %d (epoch %d)", provider, found.score, epoch)
        self.state.set_cursor(ORACLE_CURSOR, ripe + 1)

    # --- data ----------------------------------------------------------------------------------

    def provider_listings(self, wanted: str = "") -> list[tuple[str, str]]:
        """(address, HTTP endpoint) of every active provider, from the Registry (cached 10 s)."""
        fetched_at, listings = self._endpoints
        age = time.monotonic() - fetched_at
        # Stale, empty, or without the provider asked for (it may have registered since the
        # last read: nodes start side by side): read the Registry again, at most once a second.
        unknown = bool(wanted) and all(address.lower() != wanted.lower() for address, _ in listings)
        if age > 10 or not listings or (unknown and age > 1):
            found = list_providers(self.registry, from_block=self.deployment.block)
            listings = [(str(p.address), p.endpoint) for p in found if p.endpoint.startswith("http")]
            self._endpoints = (time.monotonic(), listings)
        return list(listings)

    def _gateway_urls(self, first: str = "") -> list[str]:
        listings = self.provider_listings(first)
        urls = [url for address, url in listings if address == first]
        urls += [url for address, url in listings if address != first]
        return urls + list(self.settings.gateways)

    def _fetch(self, cids: list[str], *, provider: str = "") -> None:
        missing = [cid for cid in cids if not self.store.has(cid)]
        if not missing:
            return
        urls = self._gateway_urls(provider)
        if not urls:
            raise NodeError(f"{missing[0]} is not here and no gateway is known")
        with GatewayClient(urls, timeout=10.0) as client:
            for cid in missing:
                client.fetch(cid, self.store)

    def _spec(self, spec_cid: str, *, provider: str = "") -> WorkloadSpec:
        # the provider that ran the job holds its spec, model and inputs: ask it first
        self._fetch([spec_cid], provider=provider)
        spec = WorkloadSpec.parse(self.store.read_bytes(spec_cid))
        self._fetch([spec.model, *spec.inputs], provider=provider)
        return spec

    def _claimed(self, record: JobCheck) -> WorkloadResult | Verdict:
        """The committed result document with its outputs here, or the verdict that it is unreadable."""
        self._fetch([record.output_cid], provider=record.provider)
        try:
            claimed = WorkloadResult.model_validate_json(self.store.read_bytes(record.output_cid))
        except ValidationError as exc:
            return Verdict(False, "unreadable", f"the committed output is not a result document: {exc.errors()[0]['msg']}")
        if claimed.result_hash != record.result_hash or result_hash(list(claimed.outputs)) != record.result_hash:
            return Verdict(False, "structure", "the result document does not hash to the committed result hash")
        self._fetch([ref.cid for ref in claimed.outputs], provider=record.provider)
        return claimed


def compare_one(executor: Executor, spec: WorkloadSpec, claimed: WorkloadResult,
                reference: WorkloadResult) -> Comparison:
    """Compare a claimed result with our canonical run under the model's policy."""
    manifest = executor.manifest(spec.model)
    return compare_results(claimed, reference, executor.store, policy_for(manifest.framework, manifest.task))


def _with(record: JobCheck, stage: CheckStage, **changes: Any) -> JobCheck:
    return replace(record, stage=stage, **changes)


# --- HTTP API ------------------------------------------------------------------------------------


def create_app(node: ValidatorNode) -> Any:
    """``/health``, ``/v1/stats``, ``/v1/checks``, ``/v1/checks/{job}``, ``/v1/scores`` and a gateway."""
    from dataclasses import asdict

    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from deai.store import gateway_router

    app = FastAPI(title="deai validator", version="1", summary="A deai validator node")

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "address": node.address, "chain_id": node.deployment.chain_id,
                "cursor": node.state.get_cursor(MARKET_CURSOR),
                "sampling_key_commitment": key_commitment(node.key)}

    @app.get("/v1/stats")
    def stats() -> dict[str, Any]:
        return asdict(node.stats)

    @app.get("/v1/checks")
    def checks() -> dict[str, Any]:
        return {"checks": [_check_json(r) for r in node.state.jobs() if r.stage is not CheckStage.POSTED]}

    @app.get("/v1/checks/{job_id}")
    def check(job_id: int) -> JSONResponse:
        record = node.state.get(job_id)
        if record is None:
            return JSONResponse({"error": f"this validator has not seen job {job_id}",
                                 "hint": "ask the chain with `deai job status ID`"}, status_code=404)
        return JSONResponse(_check_json(record))

    @app.get("/v1/receipt-checks")
    def receipt_checks() -> dict[str, Any]:
        return {"checks": [_row_json(r) for r in node.state.receipt_checks()],
                "votes": [_row_json(v) for v in node.state.receipt_votes()]}

    @app.get("/v1/scores")
    def scores() -> dict[str, Any]:
        return {"epoch_s": node.epoch_s, "last_posted_epoch": node.state.last_post(),
                "scores": {str(pid): score for pid, score in node.scores().items()}}

    app.include_router(gateway_router(node.store))
    return app


def _row_json(record: Any) -> dict[str, Any]:
    from dataclasses import asdict

    data: dict[str, Any] = asdict(record)
    data["stage"] = record.stage.value
    return data


def _check_json(record: JobCheck) -> dict[str, Any]:
    from dataclasses import asdict

    data = asdict(record)
    data["stage"] = record.stage.value
    return data
