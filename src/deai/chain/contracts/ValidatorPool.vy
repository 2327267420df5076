# pragma version ~=0.4.3
"""
@title deai validator pool
@notice The JobMarket's fee recipient: the validator fee of every finalized job is paid
        out here, per epoch, to the validators who reported their reputation scores for
        that epoch, in proportion to their stake (Bittensor-style dividends).
        An epoch is `epochLength` seconds of chain time: epoch e = [e·L, (e+1)·L), the
        definition of `deai.verify.reputation.epoch_of`, so scores and fees share epochs.
          - `report(e, root, uri)`: during epoch e + 1 only, an active validator (Registry)
            posts its scores for e, once; its weight is its stake in Staking at that moment,
            added to the epoch's total weight.
          - `sync(pids)`: anyone; collects the fees parked under the given provider ids in
            the JobMarket (`collectFees`), withdraws the pool's whole market balance and adds
            it to the pot of the epoch in progress.
          - `claim(e)`: from epoch e + 2 on (the reporting period is closed, so the total
            weight is final), a validator that reported for e takes pot(e) · weight /
            totalWeight(e), once (a pull payment).
          - `sweep(e)`: from epoch e + 2 on, anyone sends to the treasury the pot of an epoch
            nobody reported for, or, once every reporter has claimed, the rounding dust.
@dev Why sweep to the treasury rather than roll an unreported pot into a later epoch: the
     pot's fees were paid for checking done in that epoch; rolling them forward would pay
     validators of a later epoch for work they did not do, and would make the pot's owner
     depend on when somebody calls sweep. The treasury already receives slashed stake and
     lost bonds, so it is where the protocol's unowned money goes.
     What this does not prove: a report is paid for being posted on time by a staked,
     active validator, not for being right or for checks really being made. A validator
     that reports without checking still earns its share; checking is made worthwhile by
     the slash share (Staking's beneficiary share) it earns when it catches fraud, and a
     score vector far from the others is clipped by the consensus. The weight is a
     snapshot of the stake at report time: stake added after reporting earns nothing for
     that epoch, and stake withdrawn after reporting (once unbonded) still earns.
     Funds: token.balanceOf(this) == owed == sum over epochs of (pot - paidOut); tokens
     sent here any other way are not counted and stay put.
     Only `sync`, `claim` and `sweep` call another contract's mutating function; they take
     the reentrancy lock. `claim` and `sweep` follow checks-effects-interactions; `sync`
     must call first to learn the amount, and books it only after the tokens arrived.
     Every event carries a reason code (deai.chain.types.PoolReason has the sentences).
"""

from ethereum.ercs import IERC20


interface IStaking:
    def stakeOf(who: address) -> uint256: view

interface IRegistry:
    def isActiveValidator(who: address) -> bool: view

interface IJobMarket:
    def collectFees(pids: DynArray[uint256, MAX_PIDS]) -> uint256: nonpayable
    def withdraw(amount: uint256): nonpayable
    def balanceOf(who: address) -> uint256: view
    def feeRecipient() -> address: view
    def token() -> address: view


event ScoresReported:
    validator: indexed(address)
    epoch: indexed(uint256)
    root: bytes32
    weight: uint256
    uri: String[MAX_URI_LENGTH]
    reason: uint8

event FeesSynced:
    epoch: indexed(uint256)
    amount: uint256
    pot: uint256
    reason: uint8

event ShareClaimed:
    validator: indexed(address)
    epoch: indexed(uint256)
    amount: uint256
    reason: uint8

event PotSwept:
    epoch: indexed(uint256)
    recipient: indexed(address)
    amount: uint256
    reason: uint8

event MarketSet:
    market: indexed(address)
    reason: uint8


# --- reason codes (deai.chain.types.PoolReason) --------------------------------------------
R_REPORTED: constant(uint8) = 1
R_FEES_SYNCED: constant(uint8) = 2
R_SHARE_CLAIMED: constant(uint8) = 3
R_NO_REPORTS: constant(uint8) = 4
R_ROUNDING_DUST: constant(uint8) = 5
R_MARKET_SET: constant(uint8) = 6

# --- report states ------------------------------------------------------------------------
NOT_REPORTED: constant(uint8) = 0
REPORTED: constant(uint8) = 1
CLAIMED: constant(uint8) = 2

MAX_URI_LENGTH: constant(uint256) = 256
MAX_PIDS: constant(uint256) = 256
MAX_EPOCH_LENGTH: constant(uint256) = 365 * 86400

token: public(immutable(IERC20))
staking: public(immutable(IStaking))
registry: public(immutable(IRegistry))
treasury: public(immutable(address))
owner: public(immutable(address))
epochLength: public(immutable(uint256))

market: public(IJobMarket)
# tokens this pool owes: pots not yet claimed or swept (== its token balance)
owed: public(uint256)
# epoch -> fees synced while it was in progress
potOf: public(HashMap[uint256, uint256])
# epoch -> paid out of its pot (claims, then the sweep)
paidOf: public(HashMap[uint256, uint256])
# epoch -> sum of the reporters' weights
totalWeightOf: public(HashMap[uint256, uint256])
# epoch -> number of reports, and of claims made
reportCountOf: public(HashMap[uint256, uint256])
claimCountOf: public(HashMap[uint256, uint256])
# epoch -> validator -> stake at report time, and NOT_REPORTED/REPORTED/CLAIMED
weightOf: public(HashMap[uint256, HashMap[address, uint256]])
stateOf: public(HashMap[uint256, HashMap[address, uint8]])


@deploy
def __init__(
    token_: IERC20, staking_: IStaking, registry_: IRegistry, treasury_: address, epochLength_: uint256
):
    assert token_.address != empty(address), "pool: token is the zero address"
    assert staking_.address != empty(address), "pool: staking is the zero address"
    assert registry_.address != empty(address), "pool: registry is the zero address"
    assert treasury_ != empty(address), "pool: treasury is the zero address"
    assert epochLength_ > 0 and epochLength_ <= MAX_EPOCH_LENGTH, "pool: bad epoch length"
    token = token_
    staking = staking_
    registry = registry_
    treasury = treasury_
    owner = msg.sender
    epochLength = epochLength_


@external
def setMarket(market_: IJobMarket):
    """
    @notice Name the JobMarket whose fees this pool receives (once, the deployer only): the
            market is deployed after the pool, since it takes the pool's address.
    """
    assert msg.sender == owner, "pool: only the owner sets the market"
    assert self.market.address == empty(address), "pool: market already set"
    assert market_.address != empty(address), "pool: market is the zero address"
    assert staticcall market_.feeRecipient() == self, "pool: that market pays its fees elsewhere"
    assert staticcall market_.token() == token.address, "pool: that market uses another token"
    self.market = market_
    log MarketSet(market=market_.address, reason=R_MARKET_SET)


@internal
@view
def _epoch() -> uint256:
    return block.timestamp // epochLength


@external
@view
def currentEpoch() -> uint256:
    return self._epoch()


@external
def report(epoch: uint256, root: bytes32, uri: String[MAX_URI_LENGTH]):
    """
    @notice Post your reputation scores for the finished `epoch` (during the next epoch only);
            your stake now is your weight in the epoch's fees.
    @param root keccak256 of the score vector's encoding (deai-scores/v1: in `uri`).
    """
    assert staticcall registry.isActiveValidator(msg.sender), "pool: not an active validator"
    now: uint256 = self._epoch()
    assert epoch < now, "pool: epoch not finished"
    assert epoch + 1 == now, "pool: reporting for that epoch is closed"
    assert self.stateOf[epoch][msg.sender] == NOT_REPORTED, "pool: already reported for that epoch"
    assert root != empty(bytes32), "pool: empty root"
    weight: uint256 = staticcall staking.stakeOf(msg.sender)
    assert weight > 0, "pool: no stake"
    self.stateOf[epoch][msg.sender] = REPORTED
    self.weightOf[epoch][msg.sender] = weight
    self.totalWeightOf[epoch] += weight
    self.reportCountOf[epoch] += 1
    log ScoresReported(validator=msg.sender, epoch=epoch, root=root, weight=weight, uri=uri, reason=R_REPORTED)


@external
@nonreentrant
def sync(pids: DynArray[uint256, MAX_PIDS]) -> uint256:
    """
    @notice Collect the fees parked under `pids` in the JobMarket and move the pool's market
            balance here, into the pot of the epoch in progress. Anyone may call it; returns
            the amount added.
    """
    market: IJobMarket = self.market
    assert market.address != empty(address), "pool: market not set"
    extcall market.collectFees(pids)
    # the whole balance, not only what this call collected: anyone may call collectFees
    amount: uint256 = staticcall market.balanceOf(self)
    assert amount > 0, "pool: no fees to collect"
    before: uint256 = staticcall token.balanceOf(self)
    extcall market.withdraw(amount)
    assert staticcall token.balanceOf(self) == before + amount, "pool: the market paid a wrong amount"
    epoch: uint256 = self._epoch()
    pot: uint256 = self.potOf[epoch] + amount
    self.potOf[epoch] = pot
    self.owed += amount
    log FeesSynced(epoch=epoch, amount=amount, pot=pot, reason=R_FEES_SYNCED)
    return amount


@internal
@view
def _share(epoch: uint256, who: address) -> uint256:
    total: uint256 = self.totalWeightOf[epoch]
    if total == 0:
        return 0
    return self.potOf[epoch] * self.weightOf[epoch][who] // total


@external
@view
def claimable(epoch: uint256, who: address) -> uint256:
    """
    @notice What `who` can claim for `epoch` now (0: nothing, not yet, or already claimed).
    """
    if self._epoch() < epoch + 2 or self.stateOf[epoch][who] != REPORTED:
        return 0
    return self._share(epoch, who)


@external
@nonreentrant
def claim(epoch: uint256) -> uint256:
    """
    @notice Take your share of `epoch`'s fees: pot × your weight ÷ the epoch's total weight.
            Open once the epoch's reporting period has ended; returns the amount paid.
    """
    assert self._epoch() >= epoch + 2, "pool: reporting for that epoch is still open"
    status: uint8 = self.stateOf[epoch][msg.sender]
    assert status != NOT_REPORTED, "pool: you did not report for that epoch"
    assert status == REPORTED, "pool: already claimed"
    amount: uint256 = self._share(epoch, msg.sender)
    self.stateOf[epoch][msg.sender] = CLAIMED
    self.paidOf[epoch] += amount
    self.claimCountOf[epoch] += 1
    self.owed -= amount
    log ShareClaimed(validator=msg.sender, epoch=epoch, amount=amount, reason=R_SHARE_CLAIMED)
    if amount > 0:
        assert extcall token.transfer(msg.sender, amount, default_return_value=True), \
            "pool: token transfer failed"
    return amount


@external
@nonreentrant
def sweep(epoch: uint256) -> uint256:
    """
    @notice Send to the treasury what nobody can claim from `epoch`: the whole pot when no
            validator reported, else the rounding dust once every reporter has claimed.
            Anyone may call it; returns the amount sent.
    """
    assert self._epoch() >= epoch + 2, "pool: reporting for that epoch is still open"
    reports: uint256 = self.reportCountOf[epoch]
    assert self.claimCountOf[epoch] == reports, "pool: shares of that epoch are unclaimed"
    amount: uint256 = self.potOf[epoch] - self.paidOf[epoch]
    assert amount > 0, "pool: nothing to sweep"
    self.paidOf[epoch] += amount
    self.owed -= amount
    reason: uint8 = R_ROUNDING_DUST
    if reports == 0:
        reason = R_NO_REPORTS
    log PotSwept(epoch=epoch, recipient=treasury, amount=amount, reason=reason)
    assert extcall token.transfer(treasury, amount, default_return_value=True), "pool: token transfer failed"
    return amount
