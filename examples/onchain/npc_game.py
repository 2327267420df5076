"""Play one round of the on-chain NPC game: a player talks, the NPC answers through deai.

    .venv/bin/python examples/onchain/npc_game.py --local      # its own devnet and provider
    .venv/bin/python examples/onchain/npc_game.py              # the devnet you run

The game contract (NpcGame.vy) asks AIRequests for the guard's next line from the demo
``textgen`` model; a provider wins the job, runs it, commits it on the JobMarket and
delivers the line, and the game's ``onAIResult`` stores it. The script then re-runs the
request's spec locally and checks the line is the model's.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass

from harness import Stage, open_stage, wait_for

from deai.chain.ai_requests import AIRequested, CallbackState, RequestKind
from deai.chain.cids import cid_to_bytes
from deai.chain.types import Verification
from deai.node.onchain import decode_output, onchain_output, spec_for_request
from deai.runtime.execute import Executor
from deai.units import tokens

MAX_PRICE = tokens(3)


@dataclass(frozen=True)
class NpcRound:
    game: str
    request_id: int
    prompt: str
    line: str
    manifest_cid: str
    provider: str

    def __str__(self) -> str:
        return (f"player: {self.prompt}\nguard (request {self.request_id}, provider {self.provider}):"
                f" {self.line!r}\nprovenance manifest: {self.manifest_cid}")


def play_round(
    stage: Stage,
    *,
    prompt: str = "Halt! Who goes there?",
    owner: str = "client1",
    player: str = "client2",
    verification: Verification | None = None,
    max_tokens: int = 24,
    timeout: float = 180.0,
) -> tuple[NpcRound, AIRequested]:
    """Deploy the game, prepay it, let ``player`` talk, and wait for the NPC's line."""
    v = verification or Verification.rescore(1_000)
    model = stage.model("textgen")
    game = stage.deploy("NpcGame", owner, stage.ai.address, cid_to_bytes(model), MAX_PRICE, max_tokens,
                        int(v.mode), v.param)
    stage.fund(owner, game.address, tokens(30))
    receipt = stage.send(player, game.functions.talk(prompt))
    request = next(e for e in stage.ai.decode(receipt["logs"]) if isinstance(e, AIRequested))
    print(f"request {request.request_id} posted; waiting for a provider's answer…")
    wait_for(lambda: stage.ai.request(request.request_id).callback is not CallbackState.NOT_CALLED,
             "the NPC's line", timeout)
    delivered = stage.ai.delivery_or_fail(request.request_id, from_block=request.block_number)
    line = str(game.functions.lastLine(stage.account(player).address).call())
    return NpcRound(game.address, request.request_id, prompt, line, str(delivered.manifest_cid),
                    str(delivered.provider)), request


def local_line(stage: Stage, request: AIRequested, executor: Executor | None = None) -> str:
    """The line the model gives for the request's spec, run here (what validators do)."""
    spec = spec_for_request(request)
    stage.store.add_bytes(request.input)
    result = (executor or stage.executor()).execute(spec)
    output = onchain_output(result, output_as_cid=False)
    return str(decode_output(output, RequestKind.GENERATE, output_as_cid=False))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--local", action="store_true", help="start a devnet and a provider for the round")
    parser.add_argument("--prompt", default="Halt! Who goes there?")
    parser.add_argument("--json", action="store_true", help="print the round as one JSON object")
    args = parser.parse_args()
    with open_stage(local=args.local, models=("textgen",)) as stage:
        played, request = play_round(stage, prompt=args.prompt)
        expected = local_line(stage, request)
    print(json.dumps(asdict(played)) if args.json else played)
    print("checked: the line is what the model says for this spec" if expected == played.line
          else f"MISMATCH: a local run says {expected!r}")
    return 0 if expected == played.line else 1


if __name__ == "__main__":
    sys.exit(main())
