"""On-chain AI requests on the provider side: rebuild the spec, deliver the answer, keep requests moving.

A contract's request reaches a provider as a JobMarket job whose client is the
``AIRequests`` contract, so the provider's ordinary job path bids on it, runs it, commits
and finalizes it. This module adds what is particular to such a job, through
``OnchainRequests`` (one per provider node, fed every market event and ticked with the node):

- when the job is posted, rebuild its ``WorkloadSpec`` from the ``AIRequested`` event in
  the same transaction (``spec_for_request``), check it hashes to the posted spec CID, and
  put it (and an inline input) into the node's store, where the job path and validators
  find it;
- once this node's result is committed, ``deliver`` the answer: ``onchain_output`` (the
  rule validators apply to their own re-execution) and the CID of the output's signed
  provenance manifest;
- ``release`` its ``final`` requests once their jobs are finalized; ``settle`` requests
  whose jobs were rejected or expired (any node may: the first one wins);
- fire subscription rounds that are due, for models this node serves.

``verify_delivery`` checks a delivered answer against the result committed on the JobMarket
and the provider's signed manifest; ``describe_request`` gathers what the chain says about one request (the CLI's ``show``
and the explorer's view); ``publish`` puts data a contract will name by CID (an image to classify) on the providers'
gateways, as a client's upload does.

Actions that fail (a transaction refused, the chain busy) stay queued and are tried again
on later ticks; the chain decides whether one is still needed, so a restarted node simply
finds the request already delivered.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from deai.chain.ai_requests import (
    MAX_OUTPUT,
    AIDelivered,
    AIRequested,
    AIRequestFailed,
    AIRequests,
    CallbackCalled,
    CallbackState,
    Policy,
    RequestKind,
    RequestStatus,
    SubscriptionCancelled,
    SubscriptionCreated,
    SubscriptionFired,
)
from deai.chain.cids import cid_to_bytes
from deai.chain.events import ChainLog, JobPosted, JobSettled, ResultCommitted
from deai.chain.jobmarket import JobMarket
from deai.chain.types import JobStatus, VerificationMode
from deai.errors import ChainError, ContractRevert, DeaiError, InputError, ManifestError
from deai.runtime.execute import WorkloadResult
from deai.runtime.spec import Params, Verification, WorkloadSpec

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from deai.chain.deploy import Deployment
    from deai.node.provider import ProviderNode
    from deai.store import LocalStore

log = logging.getLogger("deai.provider.onchain")

MAX_ATTEMPTS = 20
_MODE_NAMES = {
    VerificationMode.SAMPLED: "sampled", VerificationMode.REDUNDANT: "redundant",
    VerificationMode.RESCORE: "rescore", VerificationMode.ZK: "zk", VerificationMode.NONE: "none",
}


def spec_for_request(request: AIRequested) -> WorkloadSpec:
    """The workload spec an on-chain request posts: the one AIRequests.vy writes byte for byte."""
    v = request.verification
    verification = Verification(
        mode=_MODE_NAMES[v.mode],
        sample_rate=v.param / 10_000 if v.mode in (VerificationMode.SAMPLED, VerificationMode.RESCORE) else None,
        replicas=v.param if v.mode is VerificationMode.REDUNDANT else None,
    )
    p = request.params
    params = Params()
    if p.kind is RequestKind.GENERATE:
        params = Params(max_tokens=p.max_tokens, temperature=p.temperature_centi / 100, seed=p.seed)
    return WorkloadSpec(
        kind=p.kind.spec_kind,
        model=request.model_cid,
        inputs=(request.input_cid,),
        params=params,
        verification=verification,
    )


def truncate_utf8(data: bytes, limit: int) -> bytes:
    """The longest prefix of ``data`` within ``limit`` bytes that ends on a character boundary."""
    if len(data) <= limit:
        return data
    cut = limit
    while cut > 0 and (data[cut] & 0xC0) == 0x80:  # a continuation byte: back off to its lead byte
        cut -= 1
    return data[:cut]


def onchain_output(result: WorkloadResult, *, output_as_cid: bool) -> bytes:
    """What a provider delivers on chain for ``result`` (validators compare their own the same way).

    - ``output_as_cid``: the binary CID of the first (primary) output file;
    - classify: ``abi_encode(uint256 index)`` of the predicted class;
    - generate: the UTF-8 completion, cut to ``MAX_OUTPUT`` bytes on a character boundary.
    """
    if output_as_cid:
        return cid_to_bytes(result.outputs[0].cid)
    if result.kind == "classify":
        return int(result.result["index"]).to_bytes(32, "big")
    if result.kind == "generate":
        return truncate_utf8(str(result.result["text"]).encode(), MAX_OUTPUT)
    raise InputError(f"a {result.kind!r} result has no inline on-chain form; request it as a CID")


def decode_output(output: bytes, kind: RequestKind, *, output_as_cid: bool) -> object:
    """The delivered bytes as a value: class index, text, or CID string."""
    from deai.chain.cids import bytes_to_cid

    if output_as_cid:
        return str(bytes_to_cid(output))
    if kind is RequestKind.CLASSIFY:
        return int.from_bytes(output, "big")
    return output.decode("utf-8", errors="replace")


def publish(store: LocalStore, cids: list[str], account: LocalAccount, deployment: Deployment) -> int:
    """Put ``cids`` (an input a contract will name by CID) on every active provider's gateway.

    Each root goes as a CAR in a signed ``POST /v1/store/car``; returns how many providers
    took all of them. Contracts only carry CIDs, so the bytes must be where providers look.
    """
    import io

    import httpx

    from deai.chain.registry import Registry
    from deai.chain.rpc import connect
    from deai.market.discovery import list_providers
    from deai.node.auth import request_domain, sign_request

    registry = Registry(connect(deployment.rpc_url), deployment)
    domain = request_domain(deployment.chain_id, deployment.address("Registry"))
    bodies = []
    for cid in cids:
        buffer = io.BytesIO()
        store.export_car(cid, buffer)
        bodies.append(buffer.getvalue())
    reached = 0
    with httpx.Client(timeout=30.0) as http:
        for provider in list_providers(registry, from_block=deployment.block):
            ok = True
            for body in bodies:
                headers = sign_request(account, domain, "POST", "/v1/store/car", body)
                try:
                    response = http.post(f"{provider.endpoint.rstrip('/')}/v1/store/car", content=body, headers=headers)
                    ok = ok and response.status_code == 200
                except httpx.HTTPError:
                    ok = False
            reached += ok
    return reached


def _output(delivered: AIDelivered, request: AIRequested) -> Any:
    return decode_output(delivered.output, request.params.kind, output_as_cid=request.params.output_as_cid)


def describe_request(ai: AIRequests, market: JobMarket, request_id: int, *, from_block: int) -> dict[str, Any]:
    """Everything the chain says about one request, as plain data (the CLI's and explorer's view)."""
    state_ = ai.request(request_id)
    events = ai.request_events(request_id, from_block=from_block)
    requested = next((e for e in events if isinstance(e, AIRequested)), None)
    if requested is None or not state_.exists:
        raise InputError(f"no on-chain AI request {request_id}", hint="list them with `deai ai-request list`")
    job = market.job(request_id)
    data: dict[str, Any] = {
        "request_id": request_id,
        "consumer": state_.consumer,
        "status": state_.status.name.lower(),
        "why": ai.why(request_id, from_block=from_block),
        "policy": state_.policy.name.lower(),
        "callback": state_.callback.name.lower(),
        "callback_gas_limit": state_.callback_gas_limit,
        "kind": requested.params.kind.spec_kind,
        "model": requested.model_cid,
        "input_cid": requested.input_cid,
        "verification": str(requested.verification),
        "max_price": str(requested.max_price),
        "subscription_id": state_.subscription_id or None,
        "job": {"status": job.status.name.lower(), "provider": job.provider, "price": str(job.price)},
        "block": requested.block_number,
    }
    for event in events:
        if isinstance(event, AIDelivered):
            data["delivered"] = {
                "provider": event.provider, "output": _output(event, requested),
                "manifest_cid": event.manifest_cid, "refunded": str(event.refunded), "block": event.block_number,
            }
        elif isinstance(event, AIRequestFailed):
            data["failed"] = {"reason": event.reason.name.lower(), "refunded": str(event.refunded),
                              "compensation": str(event.compensation), "block": event.block_number}
    data["callbacks"] = [
        {"disputed": e.disputed, "success": e.success, "gas_limit": e.gas_limit, "block": e.block_number}
        for e in events if isinstance(e, CallbackCalled)
    ]
    return data


@dataclass(frozen=True)
class DeliveryCheck:
    name: str
    ok: bool
    detail: str


def verify_delivery(
    ai: AIRequests, market: JobMarket, request_id: int, store: LocalStore, gateways: list[str], *,
    from_block: int = 0,
) -> list[DeliveryCheck]:
    """Check a delivered answer against what the provider committed on the JobMarket.

    The committed result document (fetched by CID, hash-checked) must give exactly the
    delivered bytes by ``onchain_output``, and the manifest must be signed by the provider
    for this job's primary output. With the JobMarket's verification of the committed
    result (validators, challenges), that makes the callback's answer a verified one.
    """
    from deai.provenance.manifest import Manifest, recover_manifest_signer
    from deai.store import GatewayClient

    requested = ai.requested(request_id, from_block=from_block)
    delivered = ai.delivery_or_fail(request_id, from_block=from_block)
    committed = market.result(request_id, from_block=from_block)
    if committed is None:
        return [DeliveryCheck("committed", False, "no result was committed on the JobMarket")]
    checks = [DeliveryCheck("committed", committed.provider == delivered.provider,
                            f"result {committed.output_cid} committed by {committed.provider}")]
    with GatewayClient(gateways, timeout=10.0) as gateway:
        for cid in (str(committed.output_cid), str(delivered.manifest_cid)):
            if not store.has(cid):
                gateway.fetch(cid, store)
    result = WorkloadResult.model_validate_json(store.read_bytes(str(committed.output_cid)))
    expected = onchain_output(result, output_as_cid=requested.params.output_as_cid)
    checks.append(DeliveryCheck("output", expected == delivered.output,
                                "the delivered bytes are the committed result's answer" if expected == delivered.output
                                else f"the committed result answers {expected!r}, not {delivered.output!r}"))
    manifest = Manifest.from_json(store.read_bytes(str(delivered.manifest_cid)))
    signer = recover_manifest_signer(manifest)
    checks.append(DeliveryCheck("manifest", signer == delivered.provider and manifest.job_id == request_id
                                and manifest.output_cid == result.outputs[0].cid,
                                f"signed by {signer} for job {manifest.job_id}, output {manifest.output_cid}"))
    return checks


@dataclass
class _Action:
    kind: str  # deliver | release | settle
    attempts: int = 0


class OnchainRequests:
    """The provider side of on-chain requests for one ``ProviderNode``."""

    def __init__(self, node: ProviderNode) -> None:
        self.node = node
        self.coordinator = AIRequests(node.w3, node.deployment)
        self._queue: dict[int, _Action] = {}
        self._deadlines: dict[int, int] = {}
        self._subscriptions: dict[int, SubscriptionCreated] = {}
        self._next_block: dict[int, int] = {}
        self._cursor = node.deployment.block

    @classmethod
    def attach(cls, node: ProviderNode) -> OnchainRequests | None:
        """The helper for ``node``, or None on a deployment without AIRequests."""
        if "AIRequests" not in node.deployment.contracts:
            return None
        return cls(node)

    # --- events ------------------------------------------------------------------------------

    def on_event(self, event: ChainLog) -> None:
        """Called with every JobMarket event, before the node's own handling."""
        try:
            if isinstance(event, JobPosted) and event.client == self.coordinator.address:
                self._prepare(event)
            elif isinstance(event, ResultCommitted) and event.provider == self.node.address:
                if self._is_request(event.job_id):
                    self._queue[event.job_id] = _Action("deliver")
            elif isinstance(event, JobSettled) and self._is_request(event.job_id):
                if event.status in (JobStatus.REJECTED, JobStatus.EXPIRED):
                    self._queue[event.job_id] = _Action("settle")
                elif event.status is JobStatus.FINALIZED:
                    self._queue.setdefault(event.job_id, _Action("release"))
        except DeaiError as exc:
            log.warning("on-chain request %s: %s", getattr(event, "job_id", "?"), exc)

    def _is_request(self, job_id: int) -> bool:
        record = self.node.state.get_job(job_id)
        return record is not None and record.client == self.coordinator.address

    def _prepare(self, event: JobPosted) -> None:
        """Rebuild the posted spec from the request in the same transaction and store it."""
        receipt = self.node.w3.eth.get_transaction_receipt(event.transaction_hash)  # type: ignore[arg-type]
        found = [e for e in self.coordinator.decode(receipt["logs"])
                 if isinstance(e, AIRequested) and e.request_id == event.job_id]
        if not found:
            log.warning("job %d is the coordinator's but no request was logged with it", event.job_id)
            return
        request = found[0]
        self._deadlines[event.job_id] = int(event.deadline)
        spec = spec_for_request(request)
        spec_cid = str(self.node.store.add_bytes(spec.canonical_bytes()))
        if spec_cid != event.spec_cid:
            log.warning("request %d: rebuilt spec %s is not the posted %s", event.job_id, spec_cid, event.spec_cid)
            return
        if not request.params.input_is_cid:
            self.node.store.add_bytes(request.input)

    # --- ticking -----------------------------------------------------------------------------

    def tick(self) -> None:
        """Run queued actions, settle requests past their deadline, fire due subscriptions."""
        for job_id, action in list(self._queue.items()):
            try:
                following = self._run(job_id, action.kind)
            except (DeaiError, KeyError, ValueError) as exc:
                action.attempts += 1
                following = None if action.attempts > MAX_ATTEMPTS else action.kind
                log.info("request %d: %s not done yet: %s", job_id, action.kind, exc)
            if following is None:
                self._queue.pop(job_id, None)
            elif following != action.kind:
                self._queue[job_id] = _Action(following)
        if self._deadlines:
            now = self.coordinator.chain_time()
            for job_id, deadline in list(self._deadlines.items()):
                if now >= deadline:
                    self._deadlines.pop(job_id)
                    if self.coordinator.request(job_id).status is RequestStatus.PENDING:
                        self._queue.setdefault(job_id, _Action("settle"))
        self._follow_subscriptions()

    def _run(self, job_id: int, kind: str) -> str | None:
        """Do one action; returns the action still due for the request (None: nothing)."""
        request = self.coordinator.request(job_id)
        if kind == "deliver":
            if request.status is RequestStatus.PENDING:
                self.deliver(job_id, output_as_cid=request.output_as_cid)
            return "release" if request.policy is Policy.FINAL else None
        if kind == "release":
            if request.status is RequestStatus.PENDING:
                return "deliver"  # finalized before this node delivered: deliver first
            if (request.status is not RequestStatus.DELIVERED or request.policy is not Policy.FINAL
                    or request.callback is not CallbackState.NOT_CALLED):
                return None
            job = self.node.market.job(job_id)
            if job.status is not JobStatus.FINALIZED:
                return None if job.status.terminal else "release"
            self.coordinator.release(self.node.account, job_id)
            return None
        if kind == "settle":
            if request.status not in (RequestStatus.PENDING, RequestStatus.DELIVERED):
                return None
            try:
                self.coordinator.settle(self.node.account, job_id)
            except ContractRevert as exc:
                if "nothing to settle" in exc.reason:
                    return "settle"  # the job has not ended yet: look again
                if "already closed" in exc.reason:
                    return None
                raise
            return None
        raise ChainError(f"unknown on-chain action {kind!r}")

    def deliver(self, job_id: int, *, output_as_cid: bool) -> None:
        """Deliver this node's committed result of request ``job_id``."""
        record = self.node.state.get_job(job_id)
        if record is None or not record.output_cid:
            raise ChainError(f"no result recorded for job {job_id}")
        result = WorkloadResult.model_validate_json(self.node.store.read_bytes(record.output_cid))
        output = onchain_output(result, output_as_cid=output_as_cid)
        manifest = self.manifest_cid(result.outputs[0].cid)
        self.coordinator.deliver(self.node.account, job_id, output, manifest)
        log.info("request %d delivered (%d bytes)", job_id, len(output))

    def manifest_cid(self, output_cid: str) -> str:
        """The CID of this node's signed provenance manifest for ``output_cid``."""
        from deai.provenance.log import ProvenanceIndex, default_db_path

        record = self.node.provenance.record(output_cid)  # anchored already
        if record is not None:
            return str(record.manifest_cid)
        index = ProvenanceIndex(default_db_path(self.node.config.data_dir))
        try:
            manifest = index.pending_manifest(output_cid)  # signed, waiting for its batch
        finally:
            index.close()
        if manifest is None:
            raise ManifestError(f"no provenance manifest for output {output_cid} yet")
        return str(self.node.store.add_bytes(manifest.to_json()))

    # --- subscriptions -----------------------------------------------------------------------

    def _follow_subscriptions(self) -> None:
        head = int(self.node.w3.eth.block_number)
        if self._cursor <= head:
            for event in self.coordinator.events(from_block=self._cursor, to_block=head):
                if isinstance(event, SubscriptionCreated):
                    if event.model_cid in self.node.models:
                        self._subscriptions[event.subscription_id] = event
                        self._next_block[event.subscription_id] = event.block_number
                elif isinstance(event, SubscriptionCancelled):
                    self._subscriptions.pop(event.subscription_id, None)
                elif isinstance(event, SubscriptionFired) and event.subscription_id in self._subscriptions:
                    sub = self._subscriptions[event.subscription_id]
                    self._next_block[event.subscription_id] = event.block_number + sub.period
                    if event.round >= sub.rounds:
                        self._subscriptions.pop(event.subscription_id, None)
            self._cursor = head + 1
        for sub_id, sub in list(self._subscriptions.items()):
            if head + 1 < self._next_block.get(sub_id, 0):
                continue
            try:
                self.coordinator.fire_subscription(self.node.account, sub_id, sub.input)
            except ContractRevert as exc:
                if "no rounds left" in exc.reason:
                    self._subscriptions.pop(sub_id, None)
                else:  # another node fired it first, or it is not due: the next event says when
                    self._next_block[sub_id] = head + 2
            except DeaiError as exc:
                log.info("subscription %d not fired: %s", sub_id, exc)


__all__ = [
    "DeliveryCheck",
    "OnchainRequests",
    "decode_output",
    "describe_request",
    "onchain_output",
    "publish",
    "spec_for_request",
    "truncate_utf8",
    "verify_delivery",
]
