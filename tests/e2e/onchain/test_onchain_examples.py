"""Smart contracts that ask for AI, answered by provider processes and checked by validator processes.

One network for the module: a devnet, two provider processes (provider1 cheaper, so it
wins while both are honest) and two validator processes, over loopback HTTP. Both example
consumers from ``examples/onchain`` play a round and get the model's own answer (each
checked against a local run of the request's spec); then provider2 restarts as a lazy
cheater that undercuts provider1, answers the NPC game optimistically with noise, is
challenged by the validators and slashed, and the game is told and takes the line back.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from deai.chain.ai_requests import (
    AIRequestFailed,
    AIRequests,
    CallbackCalled,
    FailureReason,
    RequestStatus,
    compile_consumer,
)
from deai.chain.devnet import demo_account
from deai.chain.events import JobSettled, Slashed
from deai.chain.jobmarket import JobMarket
from deai.chain.rpc import connect
from deai.chain.staking import Staking
from deai.chain.types import JobStatus, Verification
from deai.node.onchain import verify_delivery
from deai.provenance.manifest import Manifest, recover_manifest_signer
from deai.runtime.demo_models import demo_model_dirs
from deai.runtime.execute import WorkloadResult
from deai.store import GatewayClient, LocalStore
from deai.testing.network import LocalNetwork, ProviderSpec, ValidatorSpec
from deai.testing.waiting import wait_for

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "onchain"
sys.path.insert(0, str(EXAMPLES))

import digit_prediction  # noqa: E402
import npc_game  # noqa: E402
from harness import Stage  # noqa: E402

pytestmark = pytest.mark.e2e

# A validator must fetch, re-run (or rescore) and challenge inside the window, less a third it
# keeps in hand; 12 s leaves room for a loaded 2-core machine (8 s was once too short).
WINDOW_S = 12
RETRACTED = "(the NPC takes back what it said)"


def _models() -> tuple[Path, ...]:
    d = demo_model_dirs()
    return (d["digits"], d["textgen"])


def _provider(role: str, prices: tuple[str, ...], cheat: str | None = None) -> ProviderSpec:
    return ProviderSpec(role, prices, _models(), max_jobs=2, cheat=cheat)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    net = LocalNetwork(
        tmp_path_factory.mktemp("onchain-net"),
        providers=[
            _provider("provider1", ("generate=1", "classify=1")),
            _provider("provider2", ("generate=2", "classify=2")),
        ],
        validators=[ValidatorSpec("validator1", _models()), ValidatorSpec("validator2", _models())],
        challenge_window_s=WINDOW_S,
    )
    with net:
        yield net


@pytest.fixture(scope="module")
def stage(network: LocalNetwork, tmp_path_factory: pytest.TempPathFactory) -> Stage:
    deployment = network.deployment_or_fail()
    w3 = connect(deployment.rpc_url)
    return Stage(w3, deployment, AIRequests(w3, deployment), LocalStore(tmp_path_factory.mktemp("players")))


def _manifest(network: LocalNetwork, stage: Stage, manifest_cid: str) -> Manifest:
    with GatewayClient([p.url for p in network.running], timeout=10.0) as gateway:
        gateway.fetch(manifest_cid, stage.store)
    return Manifest.from_json(stage.store.read_bytes(manifest_cid))


def test_the_npc_speaks_the_generators_line_delivered_by_a_provider_process(
    network: LocalNetwork, stage: Stage
) -> None:
    played, request = npc_game.play_round(stage, prompt="Halt! Who goes there?",
                                          verification=Verification.rescore(10_000))
    assert played.provider == demo_account("provider1").address
    assert played.line and played.line == npc_game.local_line(stage, request, stage.executor())
    # the line carries its provenance: a manifest the provider signed for this very job
    manifest = _manifest(network, stage, played.manifest_cid)
    assert recover_manifest_signer(manifest) == played.provider
    assert manifest.job_id == request.request_id and manifest.model_cid == request.model_cid
    # validators re-checked the job (p = 100 %) and let it stand: the provider is paid
    jobs = JobMarket(stage.w3, stage.ai.market_address())
    wait_for(lambda: jobs.job(request.request_id).status is JobStatus.FINALIZED, "the job to finalize", timeout=90)
    assert stage.ai.request(request.request_id).status is RequestStatus.DELIVERED
    # and the delivered line is the committed result's, under the provider's signed manifest
    checks = verify_delivery(stage.ai, jobs, request.request_id, stage.store, [p.url for p in network.running],
                             from_block=request.block_number)
    assert all(c.ok for c in checks), checks


def test_the_prediction_market_settles_on_the_classifiers_answer_after_the_window(
    network: LocalNetwork, stage: Stage
) -> None:
    played, request = digit_prediction.play_round(stage, row=3, verification=Verification.sampled(10_000))
    assert played.digit == played.label == digit_prediction.local_digit(stage, request, stage.executor())
    assert played.payouts == {"client1": 5 * 10**18}  # the backer of the answer takes the pot
    # `final`: the callback came only once the job was finalized, after its challenge window
    events = stage.ai.request_events(request.request_id, from_block=request.block_number)
    called = next(e for e in events if isinstance(e, CallbackCalled))
    jobs = JobMarket(stage.w3, stage.ai.market_address())
    settled = next(e for e in jobs.job_events(request.request_id, from_block=request.block_number)
                   if isinstance(e, JobSettled))
    assert settled.status is JobStatus.FINALIZED and called.block_number >= settled.block_number
    result_doc = jobs.result(request.request_id, from_block=request.block_number)
    assert result_doc is not None
    with GatewayClient([p.url for p in network.running], timeout=10.0) as gateway:
        gateway.fetch(str(result_doc.output_cid), stage.store)
    committed = WorkloadResult.model_validate_json(stage.store.read_bytes(str(result_doc.output_cid)))
    assert committed.result["index"] == played.digit  # the delivered answer is the committed one


def test_a_cheaters_optimistic_answer_is_disputed_slashed_and_the_consumer_told(
    network: LocalNetwork, stage: Stage
) -> None:
    network.restart(1, spec=_provider("provider2", ("generate=0.5", "classify=0.5"), cheat="lazy"))
    cheater = demo_account("provider2").address
    staking = Staking(stage.w3, stage.deployment)
    stake = staking.stake_of(cheater)
    played, request = npc_game.play_round(stage, prompt="Open the gate!",
                                          verification=Verification.rescore(10_000))
    assert played.provider == cheater and played.line == "lorem ipsum"  # noise, delivered at once
    balance = stage.ai.balance_of(played.game)
    wait_for(lambda: stage.ai.request(request.request_id).status is RequestStatus.FAILED,
             "the validators to prove the line wrong and a provider node to settle the request", timeout=120)
    failed = next(e for e in stage.ai.request_events(request.request_id, from_block=request.block_number)
                  if isinstance(e, AIRequestFailed))
    assert failed.reason is FailureReason.FRAUD_PROVEN
    assert stage.ai.balance_of(played.game) == balance + failed.refunded  # every unit back
    assert staking.stake_of(cheater) < stake
    slashes = [e for e in staking.events(from_block=request.block_number) if isinstance(e, Slashed)]
    assert any(e.who == cheater for e in slashes)
    game = stage.w3.eth.contract(address=played.game, abi=compile_consumer(EXAMPLES / "NpcGame.vy").abi)
    assert game.functions.lastLine(demo_account("client2").address).call() == RETRACTED  # taken back
