# pragma version ~=0.4.3
"""
@title deai committee draw (a module: JobMarket and ReceiptDisputes import it)
@notice Draws a dispute committee from the active validators of a validator set (the
        Registry): up to `size` distinct members, none of them in `excluded`.
@dev Stateless internal functions only, so importing this module adds no storage and
     needs no `uses`/`initializes`. Random draws (`seed`, which callers derive from
     block.prevrandao, the dispute's id and the caller) come first; if the pool is small, a
     scan from a random start fills the remaining seats, so a committee forms whenever
     eligible validators exist. Bounded loops: at most 2·size random draws and 64 scans.
"""


interface IValidatorSet:
    def isActiveValidator(who: address) -> bool: view
    def validatorCount() -> uint256: view
    def validatorAt(index: uint256) -> address: view


MAX_COMMITTEE: constant(uint256) = 7
MAX_EXCLUDED: constant(uint256) = 3
RANDOM_DRAWS: constant(uint256) = 2 * MAX_COMMITTEE
MAX_SCAN: constant(uint256) = 64


@internal
@view
def _eligible(
    validators: IValidatorSet, candidate: address, excluded: DynArray[address, MAX_EXCLUDED],
    members: DynArray[address, MAX_COMMITTEE],
) -> bool:
    if candidate in excluded or candidate in members:
        return False
    return staticcall validators.isActiveValidator(candidate)


@internal
@view
def draw(
    validators: IValidatorSet, seed: bytes32, size: uint256, excluded: DynArray[address, MAX_EXCLUDED]
) -> DynArray[address, MAX_COMMITTEE]:
    # `size` is at most MAX_COMMITTEE (the callers' constructors check it)
    count: uint256 = staticcall validators.validatorCount()
    members: DynArray[address, MAX_COMMITTEE] = []
    if count == 0:
        return members
    for i: uint256 in range(RANDOM_DRAWS):
        if len(members) == size or i == 2 * size:
            break
        index: uint256 = convert(keccak256(abi_encode(seed, i)), uint256) % count
        candidate: address = staticcall validators.validatorAt(index)
        if self._eligible(validators, candidate, excluded, members):
            members.append(candidate)
    start: uint256 = convert(seed, uint256) % count
    for j: uint256 in range(MAX_SCAN):
        if len(members) == size or j == count:
            break
        candidate: address = staticcall validators.validatorAt((start + j) % count)
        if self._eligible(validators, candidate, excluded, members):
            members.append(candidate)
    return members
