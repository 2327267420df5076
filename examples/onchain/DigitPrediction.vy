# pragma version ~=0.4.3
"""
@title A prediction market settled by deai's digits classifier
@notice The owner opens a round on an image whose CID is committed at opening; players bet
        tokens on which digit the model will see in it; after betting closes anyone calls
        `settle`, which asks AIRequests for the classifier's answer on that image with the
        `final` policy (money moves only on an answer that survived its challenge window).
        Winners share the pot in proportion to their stakes (`claim`); if nobody backed the
        answer, or no answer survives (proven wrong, expired, never delivered), every bet is
        refunded.
"""

from ethereum.ercs import IERC20

import IAIConsumer

implements: IAIConsumer

struct AIParams:
    kind: uint8
    inputIsCid: bool
    outputAsCid: bool
    maxTokens: uint16
    temperature: uint16
    seed: uint64
    verificationParam: uint16

interface IAIRequests:
    def requestAI(modelCid: Bytes[64], input: Bytes[1024], maxPrice: uint256, verificationMode: uint8, callbackGasLimit: uint256, policy: uint8, params: AIParams) -> uint256: nonpayable

event RoundOpened:
    roundId: indexed(uint256)
    imageCid: Bytes[64]
    closesAt: uint256

event BetPlaced:
    roundId: indexed(uint256)
    player: indexed(address)
    digit: uint256
    amount: uint256

event SettlementAsked:
    roundId: indexed(uint256)
    requestId: indexed(uint256)

event RoundSettled:
    roundId: indexed(uint256)
    digit: uint256
    manifestCid: Bytes[64]

event RoundVoided:
    roundId: indexed(uint256)
    requestId: indexed(uint256)

event Claimed:
    roundId: indexed(uint256)
    player: indexed(address)
    amount: uint256

CLASSIFY: constant(uint8) = 0
FINAL: constant(uint8) = 1
CALLBACK_GAS: constant(uint256) = 200000
DIGITS: constant(uint256) = 10
# round states
BETTING: constant(uint8) = 1
SETTLING: constant(uint8) = 2
SETTLED: constant(uint8) = 3
VOID: constant(uint8) = 4

struct Round:
    imageCid: Bytes[64]
    closesAt: uint256
    state: uint8
    digit: uint256
    pot: uint256
    requestId: uint256

coordinator: public(immutable(IAIRequests))
token: public(immutable(IERC20))
model: public(Bytes[64])
owner: public(address)
maxPrice: public(uint256)
verificationMode: public(uint8)
verificationParam: public(uint16)

rounds: public(HashMap[uint256, Round])
roundCount: public(uint256)
roundOf: public(HashMap[uint256, uint256])
stakes: public(HashMap[uint256, HashMap[uint256, HashMap[address, uint256]]])
backing: public(HashMap[uint256, HashMap[uint256, uint256]])
claimed: public(HashMap[uint256, HashMap[address, bool]])


@deploy
def __init__(coordinator_: IAIRequests, token_: IERC20, model_: Bytes[64], maxPrice_: uint256, verificationMode_: uint8, verificationParam_: uint16):
    coordinator = coordinator_
    token = token_
    self.model = model_
    self.owner = msg.sender
    self.maxPrice = maxPrice_
    self.verificationMode = verificationMode_
    self.verificationParam = verificationParam_


@external
def openRound(imageCid: Bytes[64], bettingSeconds: uint256) -> uint256:
    """
    @notice Open a round on the image at `imageCid` (a binary CIDv1): committed now, so it
            cannot change once bets are in.
    """
    assert msg.sender == self.owner, "prediction: only the owner opens rounds"
    assert len(imageCid) == 36, "prediction: give the image's binary CIDv1"
    roundId: uint256 = self.roundCount + 1
    self.roundCount = roundId
    self.rounds[roundId] = Round(imageCid=imageCid, closesAt=block.timestamp + bettingSeconds, state=BETTING, digit=0, pot=0, requestId=0)
    log RoundOpened(roundId=roundId, imageCid=imageCid, closesAt=block.timestamp + bettingSeconds)
    return roundId


@external
def bet(roundId: uint256, digit: uint256, amount: uint256):
    r: Round = self.rounds[roundId]
    assert r.state == BETTING and block.timestamp < r.closesAt, "prediction: betting is closed"
    assert digit < DIGITS, "prediction: a digit is 0..9"
    assert amount > 0, "prediction: zero bet"
    self.stakes[roundId][digit][msg.sender] += amount
    self.backing[roundId][digit] += amount
    self.rounds[roundId].pot = r.pot + amount
    log BetPlaced(roundId=roundId, player=msg.sender, digit=digit, amount=amount)
    assert extcall token.transferFrom(msg.sender, self, amount, default_return_value=True), "prediction: transfer failed"


@external
def settle(roundId: uint256) -> uint256:
    """
    @notice After betting closes, ask the classifier (anyone may; the game pays from its
            AIRequests balance).
    """
    r: Round = self.rounds[roundId]
    assert r.state == BETTING, "prediction: not waiting for settlement"
    assert block.timestamp >= r.closesAt, "prediction: betting still open"
    requestId: uint256 = extcall coordinator.requestAI(
        self.model, r.imageCid, self.maxPrice, self.verificationMode, CALLBACK_GAS, FINAL,
        AIParams(
            kind=CLASSIFY, inputIsCid=True, outputAsCid=False, maxTokens=64, temperature=100,
            seed=0, verificationParam=self.verificationParam,
        ),
    )
    self.rounds[roundId].state = SETTLING
    self.rounds[roundId].requestId = requestId
    self.roundOf[requestId] = roundId
    log SettlementAsked(roundId=roundId, requestId=requestId)
    return requestId


@external
def onAIResult(requestId: uint256, output: Bytes[1024], manifestCid: Bytes[64]):
    assert msg.sender == coordinator.address, "prediction: only AIRequests calls back"
    roundId: uint256 = self.roundOf[requestId]
    assert roundId != 0 and self.rounds[roundId].state == SETTLING, "prediction: not settling"
    assert len(output) == 32, "prediction: a classifier answer is one uint256"
    digit: uint256 = convert(extract32(output, 0), uint256)
    if digit >= DIGITS:
        self.rounds[roundId].state = VOID  # the model answered outside the market's outcomes
        log RoundVoided(roundId=roundId, requestId=requestId)
        return
    self.rounds[roundId].state = SETTLED
    self.rounds[roundId].digit = digit
    log RoundSettled(roundId=roundId, digit=digit, manifestCid=manifestCid)


@external
def onAIDisputed(requestId: uint256):
    # no answer survived: every bet is refunded
    assert msg.sender == coordinator.address, "prediction: only AIRequests calls back"
    roundId: uint256 = self.roundOf[requestId]
    if roundId != 0 and self.rounds[roundId].state == SETTLING:
        self.rounds[roundId].state = VOID
        log RoundVoided(roundId=roundId, requestId=requestId)


@internal
@view
def _payout(roundId: uint256, player: address) -> uint256:
    r: Round = self.rounds[roundId]
    if self.claimed[roundId][player]:
        return 0
    if r.state == SETTLED:
        winners: uint256 = self.backing[roundId][r.digit]
        if winners > 0:
            return r.pot * self.stakes[roundId][r.digit][player] // winners
    if r.state == SETTLED or r.state == VOID:
        total: uint256 = 0
        for d: uint256 in range(DIGITS):
            total += self.stakes[roundId][d][player]
        return total
    return 0


@external
@view
def payout(roundId: uint256, player: address) -> uint256:
    """
    @notice What `player` may claim: its share of the pot if it backed the answer (or its
            stakes back if nobody did, or if the round was voided).
    """
    return self._payout(roundId, player)


@external
def claim(roundId: uint256) -> uint256:
    amount: uint256 = self._payout(roundId, msg.sender)
    assert amount > 0, "prediction: nothing to claim"
    self.claimed[roundId][msg.sender] = True
    log Claimed(roundId=roundId, player=msg.sender, amount=amount)
    assert extcall token.transfer(msg.sender, amount, default_return_value=True), "prediction: transfer failed"
    return amount
