"""Property test of ReceiptDisputes against a real chain (hypothesis, stateful).

A state machine has providers sign and anchor receipt batches, validators (and others,
who must be refused) challenge receipts with right or wrong proofs and evidence, committee
members and outsiders vote, anyone resolves, and time jumps. After every step:

- tokens are conserved: the token balances of every devnet account and every contract
  sum to the supply, Staking holds exactly the stakes, the JobMarket exactly what it owes;
- ReceiptDisputes holds exactly the bonds of its open disputes;
- a dispute ends once: a closed dispute has exactly one ReceiptDisputeResolved, and a
  fraud verdict's slash is the only Slashed event, made by ReceiptDisputes for the provider;
- a call that fails changes nothing: failing calls are mined with a fixed gas limit (so
  they really run on chain) and the state fingerprint is compared around them.

Each example starts from the same staged state (``evm_snapshot``/``evm_revert``).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import event as note_event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError

from deai.chain.cids import cid_to_bytes
from deai.chain.events import ReceiptDisputeResolved, Slashed
from deai.chain.receipt_disputes import receipt_args
from deai.chain.rpc import send
from deai.chain.types import ReceiptDisputeStatus
from deai.errors import ContractRevert
from deai.testing.market import PROVIDERS, VALIDATORS, Market, cid, rpc
from deai.testing.plugin import Chain
from deai.testing.receipt_disputes import AnchoredBatch, ReceiptKit
from deai.units import tokens

EVERYONE = ("client1", *PROVIDERS, *VALIDATORS)
FAILING_GAS = 1_500_000
OPEN = int(ReceiptDisputeStatus.OPEN)
# what a step does, weighted: mostly moving live disputes along, with enough noise to probe refusals
ACTIONS = ("progress",) * 5 + ("anchor", "challenge", "challenge", "nonsense", "wait")


@pytest.fixture(scope="module")
def prepared(staged_market: Market) -> ReceiptKit:
    kit = ReceiptKit(staged_market)
    for role in EVERYONE:
        staged_market.token.approve(staged_market[role], kit.disputes.address, 2**256 - 1)
    return kit


class DisputeMachine(RuleBasedStateMachine):
    kit: ReceiptKit

    def __init__(self) -> None:
        super().__init__()
        self.m: Market = self.kit.m
        self.snap = rpc(self.m.w3, "evm_snapshot")
        self.batches: list[AnchoredBatch] = []
        self.digests: list[bytes] = []
        self.resolved: dict[bytes, list[ReceiptDisputeResolved]] = {}
        self.bond = int(self.kit.disputes.challenge_bond())

    def teardown(self) -> None:
        rpc(self.m.w3, "evm_revert", self.snap)

    def act(self, role: str, fn: ContractFunction) -> bool:
        """Send ``fn`` from ``role``; a call that would revert is mined anyway with a fixed gas
        limit and must leave the fingerprint as it was. True if it succeeded."""
        account = self.m[role]
        try:
            fn.call({"from": account.address})
        except (ContractLogicError, ContractCustomError):
            note_event(f"{fn.fn_name}: refused")
            before = self.kit.fingerprint(self.digests)
            with pytest.raises(ContractRevert):
                send(self.m.w3, account, fn, gas=FAILING_GAS)
            assert self.kit.fingerprint(self.digests) == before, f"{fn.fn_name} failed but changed state"
            return False
        receipt = send(self.m.w3, account, fn)
        note_event(f"{fn.fn_name}: done")
        slashes = [e for e in self.m.staking.decode(receipt["logs"]) if isinstance(e, Slashed)]
        for event in self.kit.disputes.decode(receipt["logs"]):
            if isinstance(event, ReceiptDisputeResolved):
                self.resolved.setdefault(event.digest, []).append(event)
                expected = 1 if event.status is ReceiptDisputeStatus.REJECTED else 0
                assert len(slashes) == expected
                for s in slashes:
                    assert (s.slasher, s.who, s.amount) == (self.kit.disputes.address, event.provider, event.slashed)
        if not any(isinstance(e, ReceiptDisputeResolved) for e in self.kit.disputes.decode(receipt["logs"])):
            assert slashes == [], "a slash outside a fraud verdict"
        return True

    # --- actions ----------------------------------------------------------------------------

    @rule(data=st.data())
    def step(self, data: st.DataObject) -> None:
        action = data.draw(st.sampled_from(ACTIONS))
        getattr(self, action)(data)

    def anchor(self, data: st.DataObject) -> None:
        role = data.draw(st.sampled_from(("provider1", "provider2")))
        price = data.draw(st.sampled_from([0, tokens("0.01"), tokens(3)]))
        self.batches.append(self.kit.anchored(role, data.draw(st.integers(1, 4)), price=price))

    def open_disputes(self) -> list[tuple[bytes, tuple[str, ...]]]:
        """(digest, committee roles that have not voted) of every open dispute."""
        f = self.kit.disputes.contract.functions
        out = []
        for digest in self.digests:
            dispute = f.getDispute(digest).call()
            if dispute[2] == OPEN:
                pending = tuple(r for r in EVERYONE if self.m.addr(r) in dispute[8]
                                and f.ballotOf(digest, self.m.addr(r)).call() == 1)
                out.append((digest, pending))
        return out

    def progress(self, data: st.DataObject) -> None:
        """Move a live dispute along (a member votes, or it is resolved), else start one."""
        live = self.open_disputes()
        if not live:
            self.challenge(data, good=True)
            return
        digest, pending = data.draw(st.sampled_from(live))
        f = self.kit.disputes.contract.functions
        if pending and data.draw(st.integers(0, 5)) > 0:
            self.act(data.draw(st.sampled_from(pending)), f.vote(digest, data.draw(st.booleans())))
            return
        if pending and data.draw(st.booleans()):
            self.m.advance(301)  # the vote closes with some members silent
        self.act(data.draw(st.sampled_from(EVERYONE)), f.resolve(digest))

    def challenge(self, data: st.DataObject, *, good: bool = False) -> None:
        fresh = [(b, i) for b in self.batches for i, s in enumerate(b.signed) if s.leaf not in self.digests]
        if not fresh or data.draw(st.integers(0, 4)) == 0:
            self.anchor(data)
            return
        batch, index = data.draw(st.sampled_from(fresh))
        signed = batch.signed[index]
        proof: list[bytes] = list(batch.proof(index))
        sequence = batch.anchor_sequence
        evidence = cid_to_bytes(cid("evidence"))
        flaw = "none" if good else data.draw(st.sampled_from(
            ["none", "caller", "proof", "sequence", "signature", "cid", "again"]))
        caller = data.draw(st.sampled_from(EVERYONE if flaw == "caller" else VALIDATORS))
        if flaw == "proof":
            proof = proof[1:] + proof[:1] if len(proof) > 1 else [bytes(32)]
        elif flaw == "sequence":
            sequence += data.draw(st.sampled_from([-1, 1]))
        elif flaw == "signature":
            signed = replace(signed, signature=signed.signature[:64] + bytes((55 - signed.signature[64],)))
        elif flaw == "cid":
            evidence = evidence[:-1]
        elif flaw == "again" and self.digests:
            signed = next(s for b in self.batches for s in b.signed if s.leaf == self.digests[0])
            batch = next(b for b in self.batches if signed in b.signed)
            proof, sequence = list(batch.proof(batch.signed.index(signed))), batch.anchor_sequence
        fn = self.kit.disputes.contract.functions.challenge(
            receipt_args(signed.receipt), signed.signature, sequence, proof, evidence)
        if self.act(caller, fn) and signed.leaf not in self.digests:
            self.digests.append(signed.leaf)

    def nonsense(self, data: st.DataObject) -> None:
        """A vote or resolve by anyone on any digest (known or not): mostly refused."""
        if self.digests and data.draw(st.integers(0, 5)) > 0:
            digest = data.draw(st.sampled_from(self.digests))
        else:
            digest = bytes(data.draw(st.binary(min_size=32, max_size=32)))
        f = self.kit.disputes.contract.functions
        caller = data.draw(st.sampled_from(EVERYONE))
        if data.draw(st.booleans()):
            self.act(caller, f.vote(digest, data.draw(st.booleans())))
        else:
            self.act(caller, f.resolve(digest))

    def wait(self, data: st.DataObject) -> None:
        self.m.advance(data.draw(st.sampled_from([20, 301, 3_601])))

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def tokens_are_conserved(self) -> None:
        ledger = self.m.ledger()
        assert ledger.problems(self.m.market.address, self.m.staking.address) == []
        d = self.kit.disputes
        statuses = [d.contract.functions.getDispute(digest).call()[2] for digest in self.digests]
        open_disputes = sum(1 for s in statuses if s == OPEN)
        assert ledger.balances[d.address] == self.bond * open_disputes
        for digest, status in zip(self.digests, statuses, strict=True):
            assert status != int(ReceiptDisputeStatus.NONE)
            assert len(self.resolved.get(digest, [])) == (0 if status == OPEN else 1), digest.hex()


def test_receipt_dispute_state_machine(prepared: ReceiptKit, chain: Chain) -> None:
    """Run with --hypothesis-show-statistics to see how often each action ran or was refused."""
    DisputeMachine.kit = prepared
    run_state_machine_as_test(
        DisputeMachine,
        settings=settings(max_examples=10, stateful_step_count=20, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]),
    )
