"""The provider's side of on-chain requests (``OnchainRequests``) against a real chain.

A stand-in node carries what the helper reads from a ``ProviderNode`` (chain connection,
deployment, account, store, served models, job records); the full node runs in the e2e
tests. Here: the spec of a posted request lands in the node's store under the posted spec
CID, and due subscription rounds are fired, once each.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from deai.chain.ai_requests import (
    AIParams,
    Policy,
    RequestKind,
    SubscriptionCreated,
    SubscriptionFired,
)
from deai.chain.cids import cid_to_bytes
from deai.chain.events import JobPosted
from deai.chain.types import Verification
from deai.node.onchain import OnchainRequests
from deai.node.state import MemoryNodeState
from deai.runtime.spec import WorkloadSpec
from deai.store import LocalStore

from .conftest import MAX_PRICE, Kit, pixels

pytestmark = pytest.mark.integration


def _node(kit: Kit, tmp_path: Path, role: str = "provider2") -> Any:
    return SimpleNamespace(
        w3=kit.w3, deployment=kit.m.deployment, account=kit.m[role], address=kit.m.addr(role),
        store=LocalStore(tmp_path / "node-store"), models=(kit.models["digits"],), state=MemoryNodeState(),
        market=kit.m.market, config=SimpleNamespace(data_dir=tmp_path),
    )


def test_a_posted_request_leaves_its_spec_and_input_in_the_nodes_store(kit: Kit, tmp_path: Path) -> None:
    node = _node(kit, tmp_path)
    helper = OnchainRequests(node)
    request = kit.ask(pixels(4))
    posted = next(e for e in kit.m.market.job_events(request.request_id, from_block=request.block_number)
                  if isinstance(e, JobPosted))
    helper.on_event(posted)
    spec = WorkloadSpec.parse(node.store.read_bytes(posted.spec_cid))
    assert spec.kind == "classify" and spec.model == kit.models["digits"]
    assert node.store.read_bytes(spec.inputs[0]) == pixels(4)


def test_due_subscription_rounds_are_fired_once_each(kit: Kit, tmp_path: Path) -> None:
    node = _node(kit, tmp_path)
    helper = OnchainRequests(node)
    params = AIParams(RequestKind.CLASSIFY).as_tuple(Verification())
    receipt = kit.call_probe("subscribe", cid_to_bytes(kit.models["digits"]), pixels(2), MAX_PRICE, 0, 200_000,
                             int(Policy.OPTIMISTIC), params, 3, 2, False)
    sub = next(e for e in kit.ai.decode(receipt["logs"]) if isinstance(e, SubscriptionCreated))

    def fired() -> list[SubscriptionFired]:
        return [e for e in kit.ai.events(from_block=sub.block_number)
                if isinstance(e, SubscriptionFired) and e.subscription_id == sub.subscription_id]

    helper.tick()
    assert [e.round for e in fired()] == [1]
    helper.tick()  # not due again for 3 blocks: nothing sent
    assert len(fired()) == 1
    for _ in range(3):
        kit.m.advance(1)
    helper.tick()
    assert [e.round for e in fired()] == [1, 2]
    for _ in range(4):
        kit.m.advance(1)
    helper.tick()
    assert len(fired()) == 2 and kit.ai.subscription(sub.subscription_id).rounds_left == 0
    # a node that does not serve the model leaves subscriptions alone
    other = _node(kit, tmp_path / "other")
    other.models = ()
    OnchainRequests(other).tick()
    assert len(fired()) == 2
