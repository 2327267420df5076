# pragma version ~=0.4.3
"""
@title deai staking
@notice Providers and validators stake the token here. Stake leaves in two steps:
        `requestWithdraw` moves free stake into an unbonding balance, and `withdraw`
        pays it out once the unbonding delay has passed. Unbonding stake can still be
        slashed, so a provider cannot run from a fraud proof by asking to leave.
@dev Only contracts the owner named as slashers (the job market, later channels) may
     slash; a slashed amount goes partly (`beneficiaryBps`) to the party that proved the
     fault and the rest to the treasury. Lockers (the job market) hold stake backing
     in-flight work in their own storage, which keeps the job path cheap; this contract
     asks them with `lockedStakeOf` before letting stake unbond.
     Funds: token.balanceOf(this) == sum over accounts of (staked + unbonding).
"""

from ethereum.ercs import IERC20


interface IStakeLocker:
    def lockedStakeOf(who: address) -> uint256: view


struct StakeAccount:
    staked: uint256
    unbonding: uint256
    # when the unbonding balance may be withdrawn (restarts on every request)
    unlockAt: uint256


event Staked:
    who: indexed(address)
    amount: uint256
    staked: uint256

event WithdrawRequested:
    who: indexed(address)
    amount: uint256
    unlockAt: uint256

event Withdrawn:
    who: indexed(address)
    amount: uint256

event Slashed:
    who: indexed(address)
    slasher: indexed(address)
    beneficiary: indexed(address)
    amount: uint256
    toBeneficiary: uint256
    toTreasury: uint256

event SlasherAdded:
    slasher: indexed(address)

event LockerAdded:
    locker: indexed(address)


MAX_LOCKERS: constant(uint256) = 8
MAX_UNBONDING_DELAY: constant(uint256) = 365 * 86400
BPS: constant(uint256) = 10000

token: public(immutable(IERC20))
treasury: public(immutable(address))
unbondingDelay: public(immutable(uint256))
beneficiaryBps: public(immutable(uint256))
owner: public(immutable(address))

accounts: public(HashMap[address, StakeAccount])
isSlasher: public(HashMap[address, bool])
lockers: public(DynArray[address, MAX_LOCKERS])
totalStaked: public(uint256)


@deploy
def __init__(token_: IERC20, treasury_: address, unbondingDelay_: uint256, beneficiaryBps_: uint256):
    assert token_.address != empty(address), "staking: token is the zero address"
    assert treasury_ != empty(address), "staking: treasury is the zero address"
    assert unbondingDelay_ <= MAX_UNBONDING_DELAY, "staking: unbonding delay too long"
    assert beneficiaryBps_ <= BPS, "staking: beneficiary share above 100%"
    token = token_
    treasury = treasury_
    unbondingDelay = unbondingDelay_
    beneficiaryBps = beneficiaryBps_
    owner = msg.sender


# --- views -------------------------------------------------------------------------------


@external
@view
def stakeOf(who: address) -> uint256:
    """
    @notice Active stake (excluding stake that is unbonding).
    """
    return self.accounts[who].staked


@external
@view
def lockedOf(who: address) -> uint256:
    """
    @notice Stake the lockers hold for in-flight work.
    """
    return self._locked(who)


@external
@view
def freeStakeOf(who: address) -> uint256:
    """
    @notice Active stake not locked by in-flight work: what `requestWithdraw` may take.
    """
    return self._free(who)


@internal
@view
def _locked(who: address) -> uint256:
    total: uint256 = 0
    for locker: address in self.lockers:
        total += staticcall IStakeLocker(locker).lockedStakeOf(who)
    return total


@internal
@view
def _free(who: address) -> uint256:
    staked: uint256 = self.accounts[who].staked
    locked: uint256 = self._locked(who)
    if locked >= staked:
        return 0
    return staked - locked


# --- stakers -----------------------------------------------------------------------------


@external
@nonreentrant
def deposit(amount: uint256):
    """
    @notice Stake `amount` tokens (needs an allowance for this contract).
    """
    assert amount > 0, "staking: zero amount"
    staked: uint256 = self.accounts[msg.sender].staked + amount
    self.accounts[msg.sender].staked = staked
    self.totalStaked += amount
    log Staked(who=msg.sender, amount=amount, staked=staked)
    assert extcall token.transferFrom(msg.sender, self, amount, default_return_value=True), \
        "staking: token transfer failed"


@external
@nonreentrant
def requestWithdraw(amount: uint256) -> uint256:
    """
    @notice Start unbonding `amount` of free stake; returns when it can be withdrawn.
    @dev A new request restarts the delay for the whole unbonding balance, so stake can
         never leave sooner than `unbondingDelay` after it stopped backing anything.
    """
    assert amount > 0, "staking: zero amount"
    assert amount <= self._free(msg.sender), "staking: amount exceeds free stake"
    acct: StakeAccount = self.accounts[msg.sender]
    acct.staked -= amount
    acct.unbonding += amount
    acct.unlockAt = block.timestamp + unbondingDelay
    self.accounts[msg.sender] = acct
    self.totalStaked -= amount
    log WithdrawRequested(who=msg.sender, amount=amount, unlockAt=acct.unlockAt)
    return acct.unlockAt


@external
@nonreentrant
def withdraw() -> uint256:
    """
    @notice Pay out the whole unbonding balance once the delay has passed.
    """
    acct: StakeAccount = self.accounts[msg.sender]
    assert acct.unbonding > 0, "staking: nothing is unbonding"
    assert block.timestamp >= acct.unlockAt, "staking: still unbonding"
    amount: uint256 = acct.unbonding
    self.accounts[msg.sender].unbonding = 0
    self.accounts[msg.sender].unlockAt = 0
    log Withdrawn(who=msg.sender, amount=amount)
    assert extcall token.transfer(msg.sender, amount, default_return_value=True), \
        "staking: token transfer failed"
    return amount


# --- market contracts --------------------------------------------------------------------


@external
@nonreentrant
def slash(who: address, amount: uint256, beneficiary: address) -> uint256:
    """
    @notice Take up to `amount` of `who`'s stake (active first, then unbonding); send
            `beneficiaryBps` of it to `beneficiary` and the rest to the treasury.
    @return The amount actually slashed (less than `amount` if the stake ran short).
    """
    assert self.isSlasher[msg.sender], "staking: caller is not a slasher"
    assert amount > 0, "staking: zero amount"
    acct: StakeAccount = self.accounts[who]
    fromStaked: uint256 = min(amount, acct.staked)
    fromUnbonding: uint256 = min(amount - fromStaked, acct.unbonding)
    taken: uint256 = fromStaked + fromUnbonding
    acct.staked -= fromStaked
    acct.unbonding -= fromUnbonding
    self.accounts[who] = acct
    self.totalStaked -= fromStaked
    toBeneficiary: uint256 = 0
    if beneficiary != empty(address):
        toBeneficiary = taken * beneficiaryBps // BPS
    toTreasury: uint256 = taken - toBeneficiary
    log Slashed(
        who=who, slasher=msg.sender, beneficiary=beneficiary, amount=taken,
        toBeneficiary=toBeneficiary, toTreasury=toTreasury,
    )
    if toBeneficiary > 0:
        assert extcall token.transfer(beneficiary, toBeneficiary, default_return_value=True), \
            "staking: token transfer failed"
    if toTreasury > 0:
        assert extcall token.transfer(treasury, toTreasury, default_return_value=True), \
            "staking: token transfer failed"
    return taken


# --- owner (wiring) ----------------------------------------------------------------------


@external
def addSlasher(slasher: address):
    """
    @notice Allow `slasher` (a market contract) to slash. Owner only; cannot be undone,
            so a slasher's promises to its users stay valid.
    """
    assert msg.sender == owner, "staking: only the owner"
    assert slasher != empty(address), "staking: zero address"
    assert not self.isSlasher[slasher], "staking: already a slasher"
    self.isSlasher[slasher] = True
    log SlasherAdded(slasher=slasher)


@external
def addLocker(locker: address):
    """
    @notice Ask `locker` (a market contract) for locked stake before letting stake unbond.
    """
    assert msg.sender == owner, "staking: only the owner"
    assert locker != empty(address), "staking: zero address"
    assert locker not in self.lockers, "staking: already a locker"
    self.lockers.append(locker)
    log LockerAdded(locker=locker)
