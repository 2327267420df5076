"""A validator's fast-path duties: sample anchored receipts, re-run them, challenge, vote, resolve.

``ReceiptChecker`` is the part of ``deai.node.validator.ValidatorNode`` that watches the
fast path (the node calls ``tick`` once a round when ``ValidatorSettings.receipt_checks``
is on). Each round:

1. **follow** — the ``AnchorPosted`` events of registered providers since its cursor: each
   anchored batch enters the lottery of ``deai.verify.receipts.sampled_leaves`` (the
   validator's key, the hash of the anchoring block, ``receipt_sample_bps``); a selected
   leaf becomes a ``ReceiptCheck`` row (``queued``). ``ReceiptDisputes`` events since the
   same cursor: a ``ReceiptChallenged`` naming this validator on its committee becomes a
   ``ReceiptVote`` row (``pending``); its own challenges and every verdict are recorded;
2. **check** — each queued leaf: the batch listing, the receipt and its proof, and its
   exchange from the provider's API (``ReceiptFault`` when the provider does not serve
   them: asked again a few rounds, then recorded as ``fault``), then ``rerun``. A wrong
   response is challenged: the evidence goes to the store (its CID, served from this
   validator's gateway, named on chain) and the row to ``challenging`` *before* the
   transaction; a restart asks the chain whether it was mined before sending it again;
3. **vote** — on each dispute it sits on: its own verdict on the receipt if it checked it,
   else the challenger's evidence fetched by CID (``evidence_sources``), checked
   (``check_receipt_evidence``: digest, signature, proof against the anchored root, body
   hashes) and re-run by itself. Evidence that does not hold, or cannot be had before the
   vote closes, is a vote for the receipt;
4. **resolve** — the disputes it voted on or raised, once every member voted or the vote
   closed.

Evidence availability. Voting for the receipt when nothing can be fetched is the only safe
default: a committee member that voted fraud on evidence it never saw would let anyone slash
an honest provider by naming a CID nobody serves. The price of that rule is that a cheating
provider wins whenever the evidence is out of reach, so the evidence is made hard to lose:

- every validator publishes its API's URL in the Registry (``ValidatorEndpointSet``, sent
  by ``ValidatorNode.publish_endpoint`` at start when it changed), and the challenger
  serves its evidence from its gateway there — committee members look there **first**,
  then at the other validators' published endpoints (one may have fetched it already),
  then at the gateways they were told about (``--gateway``) and the providers' gateways;
- **last resort**: the evidence holds nothing a committee member could not get from the
  provider itself. The ``ReceiptChallenged`` event names the provider, the receipt's
  sequence and its anchor; the provider's API serves the receipt with its proof
  (``/v1/receipts/{sequence}``) and the exchange (``/v1/receipts/{sequence}/exchange``).
  ``deai.verify.receipts.rebuild_receipt_evidence`` checks them exactly as evidence is
  checked — the receipt must be the disputed digest, signed by that provider and proven
  under its anchored root, and the bodies must hash to what the receipt signs — so the
  provider cannot answer with anything but the exchange it was paid for.

What remains: a provider that withholds its own exchange *and* a challenger nobody can
reach. Then the member has nothing it may judge by, and the receipt stands; the challenger
gets its bond back only by being reachable, which is what publishing its endpoint is for.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import httpx

from deai.chain.events import ChainLog, ReceiptChallenged, ReceiptDisputeResolved, ReceiptVoteCast
from deai.chain.receipt_disputes import ReceiptDisputes
from deai.chain.types import Ballot, ReceiptDispute, ReceiptDisputeStatus
from deai.errors import (
    ChainError,
    ContractRevert,
    DeaiError,
    EvidenceError,
    NodeError,
    NotReceiptBatch,
    ReceiptFault,
)
from deai.market.discovery import list_validators
from deai.node.fastpath.receipts import ReceiptVerifier, receipt_domain
from deai.store import GatewayClient
from deai.verify.receipts import (
    BatchListing,
    CheckedEvidence,
    ReceiptEvidence,
    ReceiptVerdict,
    check_receipt_evidence,
    fetch_exchange,
    fetch_listing,
    fetch_receipt,
    parse_receipt_evidence,
    rebuild_receipt_evidence,
    rerun,
    sampled_leaves,
)
from deai.verify.state import ReceiptCheck, ReceiptStage, ReceiptVote, VoteStage

if TYPE_CHECKING:
    from deai.node.validator import ValidatorNode

log = logging.getLogger("deai.validator.receipts")

RECEIPTS_CURSOR = "receipts"
MAX_ATTEMPTS = 10
"""Rounds a provider may fail to serve a sampled receipt before it is recorded as a fault."""
CHECKS_PER_ROUND = 16
"""Re-runs per round at most, so a burst of anchored receipts never starves the job checks."""
EVIDENCE_TIMEOUT_S = 5.0
"""Per source: an unreachable gateway must not hold up the others before the vote closes."""


class ReceiptChecker:
    """The fast-path half of a validator (see the module docstring)."""

    def __init__(self, node: ValidatorNode) -> None:
        self.node = node
        self.disputes = ReceiptDisputes.from_deployment(node.w3, node.deployment)
        self.verifier = ReceiptVerifier(receipt_domain(node.deployment.chain_id, node.anchors.address))
        self.http = httpx.Client(timeout=10.0)
        self._listings: dict[tuple[str, int], BatchListing] = {}
        self._validators: tuple[float, list[tuple[str, str]]] = (0.0, [])
        self._window = 0

    @classmethod
    def for_node(cls, node: ValidatorNode) -> ReceiptChecker | None:
        """The checker, or None (logged) on a deployment without ``ReceiptDisputes``."""
        try:
            return cls(node)
        except ChainError as exc:
            log.warning("receipt checks are off: %s", exc.message)
            return None

    def start(self) -> None:
        if self.node.state.get_cursor(RECEIPTS_CURSOR) == 0:
            self.node.state.set_cursor(RECEIPTS_CURSOR, self.node.deployment.block)

    def close(self) -> None:
        self.http.close()

    def tick(self) -> None:
        self.follow()
        self.work_checks()
        self.work_votes()
        self.resolve()

    # --- 1. events ----------------------------------------------------------------------------

    def follow(self) -> None:
        node = self.node
        cursor = node.state.get_cursor(RECEIPTS_CURSOR)
        head = int(node.w3.eth.block_number)
        if cursor > head:
            return
        providers = {address.lower() for address, _ in self._listed()}
        for anchor in node.anchors.events(from_block=cursor, to_block=head):
            if anchor.provider.lower() in providers and anchor.provider.lower() != node.address.lower():
                self._on_anchor(anchor.provider, anchor.sequence, anchor.count, anchor.uri, anchor.block_number)
        for event in self.disputes.events(from_block=cursor, to_block=head):
            self._on_event(event)
        node.state.set_cursor(RECEIPTS_CURSOR, head + 1)

    def _on_anchor(self, provider: str, sequence: int, count: int, uri: str, block: int) -> None:
        node = self.node
        beacon = node._block_hash(block)
        chosen = sampled_leaves(node.key, chain_id=node.deployment.chain_id, anchors=node.anchors.address,
                                provider=provider, anchor_sequence=sequence, count=count, beacon=beacon,
                                fraction_bps=node.settings.receipt_sample_bps)
        for index in chosen:
            key = f"{provider.lower()}:{sequence}:{index}"
            if node.state.receipt_check(key) is None:
                node.state.put_receipt_check(ReceiptCheck(
                    key, provider=provider, anchor_sequence=sequence, leaf_index=index, anchor_block=block,
                    uri=uri, beacon="0x" + beacon.hex()))
        if chosen:
            log.info("anchor %d of %s: %d of %d receipts sampled", sequence, provider, len(chosen), count)

    def _on_event(self, event: ChainLog) -> None:
        state, me = self.node.state, self.node.address.lower()
        if isinstance(event, ReceiptChallenged):
            digest = "0x" + event.digest.hex()
            if me in {str(a).lower() for a in event.committee} and state.receipt_vote(digest) is None:
                state.put_receipt_vote(ReceiptVote(digest, provider=str(event.provider),
                                                   challenger=str(event.challenger),
                                                   evidence_cid=str(event.evidence_cid), vote_end=event.vote_end))
            if str(event.challenger).lower() == me:
                for record in self._checks_of(digest):
                    state.update_receipt_check(record.key, stage=ReceiptStage.CHALLENGED,
                                               challenge_tx=event.transaction_hash)
        elif isinstance(event, ReceiptVoteCast):
            vote = state.receipt_vote("0x" + event.digest.hex())
            if str(event.validator).lower() == me and vote is not None and vote.stage is not VoteStage.RESOLVED:
                state.update_receipt_vote(vote.digest, stage=VoteStage.VOTED, fraud=int(event.fraud),
                                          tx=event.transaction_hash)
        elif isinstance(event, ReceiptDisputeResolved):
            digest = "0x" + event.digest.hex()
            if state.receipt_vote(digest) is not None:
                state.update_receipt_vote(digest, stage=VoteStage.RESOLVED)
            for record in self._checks_of(digest):
                state.update_receipt_check(record.key, final_status=int(event.status))
            log.info("receipt dispute %s…: %s", digest[:12], event.reason.sentence)

    def _checks_of(self, digest: str) -> list[ReceiptCheck]:
        return [r for r in self.node.state.receipt_checks([ReceiptStage.CHALLENGING, ReceiptStage.CHALLENGED])
                if r.digest == digest]

    # --- 2. checks ----------------------------------------------------------------------------

    def work_checks(self) -> None:
        node = self.node
        for record in node.state.receipt_checks([ReceiptStage.CHALLENGING]):
            self._recover(record)
        for record in node.state.receipt_checks([ReceiptStage.QUEUED])[:CHECKS_PER_ROUND]:
            if record.issued_at and node.now() >= record.issued_at + self.window() - self._margin():
                node.state.update_receipt_check(record.key, stage=ReceiptStage.MISSED,
                                                detail="the challenge window closed first")
                continue
            self._check(record)

    def window(self) -> int:
        if self._window == 0:
            self._window = self.disputes.challenge_window()
        return self._window

    def _margin(self) -> int:
        return max(10, self.window() // 10)

    def _endpoint(self, provider: str) -> str:
        for address, url in self.node.provider_listings(provider):
            if address.lower() == provider.lower():
                return url
        raise ReceiptFault(f"provider {provider} lists no HTTP endpoint in the Registry")

    def _listed(self) -> list[tuple[str, str]]:
        return self.node.provider_listings()

    def _check(self, record: ReceiptCheck) -> None:
        node = self.node
        try:
            endpoint = self._endpoint(record.provider)
            root = node.anchors.root(record.provider, record.anchor_sequence)
            if root is None:
                raise ReceiptFault(f"no root is anchored as {record.provider}'s batch {record.anchor_sequence}",
                                   permanent=True)
            cache = (record.provider.lower(), record.anchor_sequence)
            listing = self._listings.get(cache)
            if listing is None:
                found = node.anchors.find(record.provider, record.anchor_sequence, from_block=record.anchor_block)
                count = found.count if found is not None else 0
                listing = fetch_listing(self.http, endpoint, record.uri, root=root, count=count)
                if len(self._listings) > 64:
                    self._listings.clear()
                self._listings[cache] = listing
            anchored = fetch_receipt(self.http, endpoint, self.verifier, provider=record.provider, listing=listing,
                                     index=record.leaf_index, anchor_sequence=record.anchor_sequence, root=root)
            receipt = anchored.receipt
            record = node.state.update_receipt_check(record.key, receipt_sequence=receipt.sequence,
                                                     digest="0x" + receipt.leaf.hex(),
                                                     issued_at=receipt.receipt.issued_at)
            request, response = fetch_exchange(self.http, endpoint, receipt)
        except NotReceiptBatch as exc:
            node.state.update_receipt_check(record.key, stage=ReceiptStage.OTHER, verdict="other",
                                            detail=exc.message[:2000])
            return
        except ReceiptFault as exc:
            self._fault(record, exc)
            return
        verdict = rerun(node.executor, receipt, request, response)
        node.stats.receipt_checks += 1
        node.stats.check_cpu_s += verdict.cpu_s
        stage = {"match": ReceiptStage.CHECKED, "unverifiable": ReceiptStage.UNVERIFIABLE}.get(
            verdict.outcome, ReceiptStage.CHECKED)
        record = node.state.update_receipt_check(record.key, stage=stage, verdict=verdict.outcome,
                                                 method=verdict.method, detail=verdict.detail, cpu_s=verdict.cpu_s)
        if verdict.outcome == "unverifiable":
            log.info("receipt %d of %s is unverifiable: %s", receipt.sequence, record.provider, verdict.detail)
        if verdict.outcome != "mismatch":
            return
        node.stats.receipt_mismatches += 1
        evidence = ReceiptEvidence.build(
            chain_id=node.deployment.chain_id, anchors=node.anchors.address, validator=node.address,
            anchored=anchored, request=request, response=response, verdict=verdict,
            beacon=bytes.fromhex(record.beacon[2:]) if record.beacon else b"")
        self._challenge(record, evidence, verdict)

    def _fault(self, record: ReceiptCheck, exc: ReceiptFault) -> None:
        node = self.node
        name = "ReceiptFault"
        node.stats.errors[name] = node.stats.errors.get(name, 0) + 1
        attempts = record.attempts + 1
        if exc.permanent or attempts >= MAX_ATTEMPTS:
            node.stats.receipt_faults += 1
            node.state.update_receipt_check(record.key, stage=ReceiptStage.FAULT, verdict="fault", attempts=attempts,
                                            detail=exc.message[:2000])
            log.warning("provider %s, anchor %d, leaf %d: %s", record.provider, record.anchor_sequence,
                        record.leaf_index, exc.message)
        else:
            node.state.update_receipt_check(record.key, attempts=attempts, detail=exc.message[:2000])

    def _challenge(self, record: ReceiptCheck, evidence: ReceiptEvidence, verdict: ReceiptVerdict) -> None:
        node = self.node
        evidence_cid = str(node.store.add_bytes(evidence.canonical_bytes()))
        node.state.update_receipt_check(record.key, stage=ReceiptStage.CHALLENGING, evidence_cid=evidence_cid)
        self._send_challenge(record.key, evidence, evidence_cid, verdict.detail)

    def _send_challenge(self, key: str, evidence: ReceiptEvidence, evidence_cid: str, detail: str) -> None:
        node = self.node
        checked = check_receipt_evidence(evidence, self.verifier, chain_id=node.deployment.chain_id,
                                         anchors=node.anchors.address)
        try:
            event = self.disputes.challenge(node.account, checked.receipt, evidence.anchor_sequence,
                                            checked.proof, evidence_cid)
        except ContractRevert as exc:
            node.state.update_receipt_check(key, stage=ReceiptStage.CHECKED, detail=f"challenge refused: {exc.reason}")
            log.info("receipt %d of %s: challenge refused: %s", checked.receipt.sequence, checked.receipt.provider,
                     exc.reason)
            return
        node.stats.receipt_challenges += 1
        node.state.update_receipt_check(key, stage=ReceiptStage.CHALLENGED, challenge_tx=event.transaction_hash)
        log.info("receipt %d of %s challenged in %s: %s", checked.receipt.sequence, checked.receipt.provider,
                 event.transaction_hash, detail[:200])

    def _recover(self, record: ReceiptCheck) -> None:
        """A challenge may or may not have been mined before a crash: the chain says which."""
        node = self.node
        dispute = self.disputes.dispute(bytes.fromhex(record.digest[2:]))
        if dispute.exists:
            mine = dispute.challenger.lower() == node.address.lower()
            node.state.update_receipt_check(record.key, stage=ReceiptStage.CHALLENGED if mine else ReceiptStage.CHECKED)
            return
        try:
            evidence = parse_receipt_evidence(node.store.read_bytes(record.evidence_cid))
        except (DeaiError, ValueError) as exc:
            node.state.update_receipt_check(record.key, stage=ReceiptStage.CHECKED, detail=f"not challenged: {exc}")
            return
        self._send_challenge(record.key, evidence, record.evidence_cid, record.detail)

    # --- 3. votes -----------------------------------------------------------------------------

    def work_votes(self) -> None:
        node = self.node
        for vote in node.state.receipt_votes([VoteStage.PENDING, VoteStage.VOTING]):
            digest = bytes.fromhex(vote.digest[2:])
            dispute = self.disputes.dispute(digest)
            if dispute.status is not ReceiptDisputeStatus.OPEN:
                node.state.update_receipt_vote(vote.digest, stage=VoteStage.RESOLVED)
                continue
            if node.now() >= dispute.vote_end:
                continue
            if vote.stage is VoteStage.VOTING and self.disputes.ballot(digest, node.address) is not Ballot.PENDING:
                node.state.update_receipt_vote(vote.digest, stage=VoteStage.VOTED)
                continue
            judged = self._judge(vote, dispute)
            if judged is None:
                continue
            fraud, detail = judged
            node.state.update_receipt_vote(vote.digest, stage=VoteStage.VOTING, fraud=int(fraud), detail=detail[:2000])
            try:
                event = self.disputes.vote(node.account, digest, fraud)
            except ContractRevert as exc:
                log.info("receipt dispute %s…: vote refused: %s", vote.digest[:12], exc.reason)
                node.state.update_receipt_vote(vote.digest, stage=VoteStage.VOTED, detail=exc.reason)
                continue
            node.stats.votes += 1
            node.state.update_receipt_vote(vote.digest, stage=VoteStage.VOTED, tx=event.transaction_hash)
            log.info("receipt dispute %s…: voted %s (%s)", vote.digest[:12], "fraud" if fraud else "valid", detail[:200])

    def _judge(self, vote: ReceiptVote, dispute: ReceiptDispute) -> tuple[bool, str] | None:
        """(fraud, why) by this validator's own re-run; None to try again next round."""
        node = self.node
        own = [r for r in node.state.receipt_checks() if r.digest == vote.digest and r.verdict in ("match", "mismatch")]
        if own:
            return own[0].verdict == "mismatch", f"our own check: {own[0].detail}"
        try:
            checked, source = self._evidence(vote, dispute)
        except EvidenceError as exc:
            return False, f"the challenger's evidence does not hold: {exc.message}"
        except DeaiError as exc:
            attempts = vote.attempts + 1
            node.state.update_receipt_vote(vote.digest, attempts=attempts, detail=exc.message[:2000])
            if node.now() < dispute.vote_end - max(5, self._margin() // 2) and attempts < 60:
                return None
            return False, f"the challenger's evidence could not be fetched: {exc.message}"
        log.info("receipt dispute %s…: evidence from %s", vote.digest[:12], source)
        verdict = rerun(node.executor, checked.receipt, checked.request, checked.response)
        node.stats.receipt_checks += 1
        node.stats.check_cpu_s += verdict.cpu_s
        if verdict.outcome == "unverifiable":
            return False, f"cannot re-run it here, so the receipt stands: {verdict.detail}"
        return verdict.outcome == "mismatch", f"our re-run of the evidence from {source}: {verdict.detail}"

    def _evidence(self, vote: ReceiptVote, dispute: ReceiptDispute) -> tuple[CheckedEvidence, str]:
        """The disputed receipt and bodies, checked, and where they came from (module docstring).

        ``EvidenceError``: the challenger's evidence was fetched and does not hold (a vote for
        the receipt); any other ``DeaiError``: nothing could be had this round.
        """
        node = self.node
        digest = bytes.fromhex(vote.digest[2:])
        try:
            source = self._fetch_evidence(vote.evidence_cid, vote.challenger)
        except DeaiError as missing:
            try:
                endpoint = self._endpoint(vote.provider)
                root = node.anchors.root(vote.provider, dispute.anchor_sequence) or b"\x00" * 32
                rebuilt = rebuild_receipt_evidence(
                    self.http, endpoint, self.verifier, chain_id=node.deployment.chain_id,
                    anchors=node.anchors.address, challenger=vote.challenger, provider=vote.provider,
                    receipt_sequence=dispute.receipt_sequence, anchor_sequence=dispute.anchor_sequence,
                    digest=digest, root=root)
            except DeaiError as exc:
                # the provider's failure is not the challenger's: both reasons, never EvidenceError
                raise NodeError(f"{missing.message}; rebuilding it from the provider failed too: {exc.message}",
                                hint="publish the challenger's endpoint (deai validator start --public-url)"
                                ) from None
            return rebuilt, f"the provider's API {endpoint} (the evidence itself was out of reach)"
        evidence = parse_receipt_evidence(node.store.read_bytes(vote.evidence_cid))
        root = node.anchors.root(vote.provider, evidence.anchor_sequence) or b"\x00" * 32
        checked = check_receipt_evidence(evidence, self.verifier, chain_id=node.deployment.chain_id,
                                         anchors=node.anchors.address, digest=digest,
                                         provider=vote.provider, root=root)
        return checked, source

    def evidence_sources(self, challenger: str) -> list[tuple[str, str]]:
        """(what, URL) to fetch a challenger's evidence from, in the order they are tried.

        The challenger's published endpoint, the other validators' published endpoints, the
        gateways this validator was told about, the providers' gateways.
        """
        me, who = self.node.address.lower(), challenger.lower()
        validators = self._published()
        found = [("the challenger's published endpoint", url) for a, url in validators if a.lower() == who]
        found += [(f"validator {a}'s published endpoint", url) for a, url in validators if a.lower() not in (who, me)]
        found += [("the gateway", url) for url in self.node.settings.gateways]
        found += [(f"provider {a}'s gateway", url) for a, url in self._listed()]
        unique: dict[str, tuple[str, str]] = {}
        for what, url in found:
            unique.setdefault(url.rstrip("/"), (what, url))  # the first reason to try a URL names it
        return list(unique.values())

    def _published(self) -> list[tuple[str, str]]:
        """(address, URL) of the active validators that published one (read again every 10 s)."""
        fetched_at, listed = self._validators
        if time.monotonic() - fetched_at > 10 or not listed:
            found = list_validators(self.node.registry, from_block=self.node.deployment.block)
            listed = [(str(v.address), v.endpoint) for v in found]
            self._validators = (time.monotonic(), listed)
        return listed

    def _fetch_evidence(self, cid: str, challenger: str) -> str:
        """Put the evidence ``cid`` in the store; returns where it came from."""
        store = self.node.store
        if store.has(cid):
            return "our store"
        failures = []
        for what, url in self.evidence_sources(challenger):
            try:
                with GatewayClient([url], timeout=EVIDENCE_TIMEOUT_S) as client:
                    client.fetch(cid, store)
            except DeaiError as exc:
                failures.append(f"{url}: {exc.message}"[:300])
                continue
            return f"{what} {url}"
        raise NodeError(f"evidence {cid} is not served by any source we know ({'; '.join(failures) or 'none'})",
                        hint="the challenger publishes its endpoint at start; name more with --gateway")

    # --- 4. resolution ------------------------------------------------------------------------

    def resolve(self) -> None:
        node = self.node
        digests = {v.digest for v in node.state.receipt_votes([VoteStage.VOTED])}
        digests |= {r.digest for r in node.state.receipt_checks([ReceiptStage.CHALLENGED]) if not r.final_status}
        for hexdigest in sorted(digests):
            digest = bytes.fromhex(hexdigest[2:])
            dispute = self.disputes.dispute(digest)
            if dispute.status is not ReceiptDisputeStatus.OPEN:
                continue
            if dispute.fraud_votes + dispute.valid_votes == len(dispute.committee) or node.now() > dispute.vote_end:
                try:
                    event = self.disputes.resolve(node.account, digest)
                except ContractRevert as exc:
                    log.info("receipt dispute %s… not resolved yet: %s", hexdigest[:12], exc.reason)
                    continue
                log.info("receipt dispute %s… resolved: %s (slashed %d)", hexdigest[:12], event.reason.sentence,
                         int(event.slashed))
