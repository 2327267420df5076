# pragma version ~=0.4.3
"""
@title An on-chain game NPC whose next line comes from deai's text generator
@notice A player `talk`s to the NPC; the game asks AIRequests for the next line (the demo
        `textgen` model, greedy decoding, checked by rescoring) with the optimistic policy,
        so the line arrives as soon as the provider delivers it. If validators later prove
        the line was not the model's, the game is told (`onAIDisputed`) and retracts it.
        The game pays for requests from its prepaid AIRequests balance, funded by anyone
        with AIRequests.deposit(game, amount).
"""

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
    def withdraw(amount: uint256): nonpayable

event PlayerSpoke:
    player: indexed(address)
    requestId: indexed(uint256)
    words: String[200]

event NpcSpoke:
    player: indexed(address)
    requestId: indexed(uint256)
    line: String[1024]
    manifestCid: Bytes[64]

event NpcRetracted:
    player: indexed(address)
    requestId: indexed(uint256)

GENERATE: constant(uint8) = 2
OPTIMISTIC: constant(uint8) = 0
CALLBACK_GAS: constant(uint256) = 300000
RETRACTED: constant(String[1024]) = "(the NPC takes back what it said)"

coordinator: public(immutable(IAIRequests))
model: public(Bytes[64])
owner: public(address)
maxPrice: public(uint256)
maxTokens: public(uint16)
verificationMode: public(uint8)
verificationParam: public(uint16)

# what the NPC last said to each player, and which request each player waits on
lastLine: public(HashMap[address, String[1024]])
lineRequest: public(HashMap[address, uint256])
playerOf: public(HashMap[uint256, address])
linesSpoken: public(uint256)


@deploy
def __init__(coordinator_: IAIRequests, model_: Bytes[64], maxPrice_: uint256, maxTokens_: uint16, verificationMode_: uint8, verificationParam_: uint16):
    coordinator = coordinator_
    self.model = model_
    self.owner = msg.sender
    self.maxPrice = maxPrice_
    self.maxTokens = maxTokens_
    self.verificationMode = verificationMode_
    self.verificationParam = verificationParam_


@external
def talk(words: String[200]) -> uint256:
    """
    @notice Say something to the NPC; its answer arrives in `lastLine` (and NpcSpoke).
    """
    prompt: String[240] = concat("Traveller: ", words, "\nGuard:")
    requestId: uint256 = extcall coordinator.requestAI(
        self.model, convert(prompt, Bytes[1024]), self.maxPrice, self.verificationMode, CALLBACK_GAS,
        OPTIMISTIC,
        AIParams(
            kind=GENERATE, inputIsCid=False, outputAsCid=False, maxTokens=self.maxTokens,
            temperature=0, seed=0, verificationParam=self.verificationParam,
        ),
    )
    self.playerOf[requestId] = msg.sender
    self.lineRequest[msg.sender] = requestId
    log PlayerSpoke(player=msg.sender, requestId=requestId, words=words)
    return requestId


@external
def onAIResult(requestId: uint256, output: Bytes[1024], manifestCid: Bytes[64]):
    assert msg.sender == coordinator.address, "npc: only AIRequests calls back"
    player: address = self.playerOf[requestId]
    assert player != empty(address), "npc: not our request"
    line: String[1024] = convert(output, String[1024])
    self.lastLine[player] = line
    self.linesSpoken += 1
    log NpcSpoke(player=player, requestId=requestId, line=line, manifestCid=manifestCid)


@external
def onAIDisputed(requestId: uint256):
    # the line was proven not to be the model's (or never came): take it back
    assert msg.sender == coordinator.address, "npc: only AIRequests calls back"
    player: address = self.playerOf[requestId]
    if self.lineRequest[player] == requestId:
        self.lastLine[player] = RETRACTED
    log NpcRetracted(player=player, requestId=requestId)


@external
def withdrawRefunds(amount: uint256):
    """
    @notice The owner takes unused prepaid funds and refunds back out of AIRequests.
    """
    assert msg.sender == self.owner, "npc: only the owner"
    extcall coordinator.withdraw(amount)
