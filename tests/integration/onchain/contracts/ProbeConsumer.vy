# pragma version ~=0.4.3
"""
@title A consumer for tests: records its callbacks, or misbehaves on demand
@notice behaviour 0 records, 1 reverts, 2 needs about 450k gas (fresh storage writes),
        3 tries to re-enter AIRequests (settle) from inside the callback.
"""

import IAIConsumer
import IAIInputSource

implements: IAIConsumer
implements: IAIInputSource

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
    def createSubscription(modelCid: Bytes[64], input: Bytes[1024], maxPrice: uint256, verificationMode: uint8, callbackGasLimit: uint256, policy: uint8, params: AIParams, period: uint256, rounds: uint256, dynamicInput: bool) -> uint256: nonpayable
    def cancelSubscription(subscriptionId: uint256): nonpayable
    def settle(requestId: uint256): nonpayable
    def withdraw(amount: uint256): nonpayable

event Answered:
    requestId: indexed(uint256)
    output: Bytes[1024]
    manifestCid: Bytes[64]

event Disputed:
    requestId: indexed(uint256)

coordinator: public(immutable(IAIRequests))
behaviour: public(uint256)
answers: public(HashMap[uint256, Bytes[1024]])
manifests: public(HashMap[uint256, Bytes[64]])
disputed: public(HashMap[uint256, bool])
answerCount: public(uint256)
disputeCount: public(uint256)
nextInput: public(Bytes[1024])
_filler: HashMap[uint256, uint256]


@deploy
def __init__(coordinator_: IAIRequests):
    coordinator = coordinator_


@external
def setBehaviour(behaviour_: uint256):
    self.behaviour = behaviour_


@external
def setNextInput(data: Bytes[1024]):
    self.nextInput = data


@external
def ask(modelCid: Bytes[64], data: Bytes[1024], maxPrice: uint256, mode: uint8, gasLimit: uint256, policy: uint8, params: AIParams) -> uint256:
    return extcall coordinator.requestAI(modelCid, data, maxPrice, mode, gasLimit, policy, params)


@external
def subscribe(modelCid: Bytes[64], data: Bytes[1024], maxPrice: uint256, mode: uint8, gasLimit: uint256, policy: uint8, params: AIParams, period: uint256, rounds: uint256, dynamicInput: bool) -> uint256:
    return extcall coordinator.createSubscription(modelCid, data, maxPrice, mode, gasLimit, policy, params, period, rounds, dynamicInput)


@external
def unsubscribe(subscriptionId: uint256):
    extcall coordinator.cancelSubscription(subscriptionId)


@external
def withdrawFromCoordinator(amount: uint256):
    extcall coordinator.withdraw(amount)


@internal
def _misbehave(requestId: uint256):
    if self.behaviour == 1:
        raise "probe: not now"
    if self.behaviour == 2:
        for i: uint256 in range(20):
            self._filler[requestId * 100 + i] = i + 1
    if self.behaviour == 3:
        extcall coordinator.settle(requestId)


@external
def onAIResult(requestId: uint256, output: Bytes[1024], manifestCid: Bytes[64]):
    assert msg.sender == coordinator.address, "probe: only the coordinator"
    self._misbehave(requestId)
    self.answers[requestId] = output
    self.manifests[requestId] = manifestCid
    self.answerCount += 1
    log Answered(requestId=requestId, output=output, manifestCid=manifestCid)


@external
def onAIDisputed(requestId: uint256):
    assert msg.sender == coordinator.address, "probe: only the coordinator"
    self._misbehave(requestId)
    self.disputed[requestId] = True
    self.disputeCount += 1
    log Disputed(requestId=requestId)


@external
@view
def aiInput(subscriptionId: uint256, round: uint256) -> Bytes[1024]:
    return self.nextInput
