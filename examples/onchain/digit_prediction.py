"""Play one round of the prediction market that the digits classifier settles.

    .venv/bin/python examples/onchain/digit_prediction.py --local   # its own devnet and provider
    .venv/bin/python examples/onchain/digit_prediction.py           # the devnet you run

The owner opens a round on a handwritten digit (a PNG from scikit-learn's test split, put
on the providers' gateways; its CID is committed in the contract), two players bet on
what the model will see, and after betting closes the contract asks AIRequests for the
classifier's answer with the ``final`` policy: the answer reaches ``onAIResult`` only after
its challenge window, and the winner claims the pot. The script re-runs the spec locally.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
from harness import Stage, open_stage, wait_for

from deai.chain.ai_requests import AIRequested, Policy, RequestKind
from deai.chain.cids import cid_to_bytes
from deai.chain.types import Verification
from deai.node.onchain import decode_output, onchain_output, spec_for_request
from deai.runtime.datasets import digits_split
from deai.runtime.execute import Executor
from deai.runtime.png import encode_png
from deai.units import TokenAmount, tokens

MAX_PRICE = tokens(3)
BETTING_S = 6
SETTLED, VOID = 3, 4


@dataclass(frozen=True)
class PredictionRound:
    market: str
    round_id: int
    image_cid: str
    label: int
    """What the image really shows (scikit-learn's label)."""
    digit: int
    """What the classifier said, on chain."""
    request_id: int
    manifest_cid: str
    provider: str
    payouts: dict[str, int]

    def __str__(self) -> str:
        paid = ", ".join(f"{who} {amount / 10**18:g} DEAI" for who, amount in self.payouts.items())
        return (f"round {self.round_id} on image {self.image_cid} (a {self.label})\n"
                f"the classifier said {self.digit} (request {self.request_id}, provider {self.provider}, "
                f"manifest {self.manifest_cid})\npaid out: {paid or 'nothing'}")


def digit_png(row: int) -> tuple[bytes, int]:
    """A test-split digit as an 8x8 grayscale PNG (ink bright on dark), and its label."""
    _, _, x_test, y_test = digits_split()
    pixels = np.clip(np.asarray(x_test[row], dtype=np.float64) * 255.0 / 16.0, 0, 255).astype(np.uint8)
    return encode_png(pixels.reshape(8, 8)), int(y_test[row])


def play_round(
    stage: Stage,
    *,
    row: int = 0,
    owner: str = "client1",
    players: tuple[str, str] = ("client1", "client2"),
    stakes: tuple[TokenAmount, TokenAmount] = (tokens(3), tokens(2)),
    verification: Verification | None = None,
    timeout: float = 240.0,
) -> tuple[PredictionRound, AIRequested]:
    """Deploy the market, open a round on digit ``row``, take two bets, settle, claim."""
    v = verification or Verification.sampled(1_000)
    model = stage.model("digits")
    token = stage.ai.token()
    market = stage.deploy("DigitPrediction", owner, stage.ai.address, token.address, cid_to_bytes(model),
                          MAX_PRICE, int(v.mode), v.param)
    stage.fund(owner, market.address, tokens(10))
    png, label = digit_png(row)
    image = str(stage.store.add_bytes(png))
    if stage.publish([image], owner) == 0:
        raise RuntimeError("no provider took the image; is one running?")
    stage.send(owner, market.functions.openRound(cid_to_bytes(image), BETTING_S))
    round_id = int(market.functions.roundCount().call())
    closes = int(market.functions.rounds(round_id).call()[1])
    # the first player backs the true digit, the second another one
    for player, digit, amount in ((players[0], label, stakes[0]), (players[1], (label + 1) % 10, stakes[1])):
        token.approve(stage.account(player), market.address, amount)
        stage.send(player, market.functions.bet(round_id, digit, amount))
    time.sleep(max(0.0, closes - stage.now() + 1))
    receipt = stage.send(players[1], market.functions.settle(round_id))  # anyone may
    request = next(e for e in stage.ai.decode(receipt["logs"]) if isinstance(e, AIRequested))
    assert request.policy is Policy.FINAL
    print(f"request {request.request_id} posted; the answer counts after its challenge window…")
    wait_for(lambda: int(market.functions.rounds(round_id).call()[2]) in (SETTLED, VOID),
             "the classifier's answer", timeout)
    state = market.functions.rounds(round_id).call()
    payouts: dict[str, int] = {}
    for player in players:
        address = stage.account(player).address
        if int(market.functions.payout(round_id, address).call()) > 0:
            before = token.balance_of(address)
            stage.send(player, market.functions.claim(round_id))
            payouts[player] = int(token.balance_of(address)) - int(before)
    delivered = stage.ai.delivery_or_fail(request.request_id, from_block=request.block_number)
    return PredictionRound(
        market.address, round_id, image, label, int(state[3]), request.request_id,
        str(delivered.manifest_cid), str(delivered.provider), payouts,
    ), request


def local_digit(stage: Stage, request: AIRequested, executor: Executor | None = None) -> int:
    """The classifier's answer for the request's spec, run here (what validators do)."""
    result = (executor or stage.executor()).execute(spec_for_request(request))
    answer = decode_output(onchain_output(result, output_as_cid=False), RequestKind.CLASSIFY, output_as_cid=False)
    assert isinstance(answer, int)
    return answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--local", action="store_true", help="start a devnet and a provider for the round")
    parser.add_argument("--row", type=int, default=0, help="which test-split digit to bet on")
    parser.add_argument("--json", action="store_true", help="print the round as one JSON object")
    args = parser.parse_args()
    with open_stage(local=args.local, models=("digits",)) as stage:
        played, request = play_round(stage, row=args.row)
        expected = local_digit(stage, request)
    print(json.dumps(asdict(played)) if args.json else played)
    print("checked: the answer is what the model says for this spec" if expected == played.digit
          else f"MISMATCH: a local run says {expected}")
    return 0 if expected == played.digit else 1


if __name__ == "__main__":
    sys.exit(main())
