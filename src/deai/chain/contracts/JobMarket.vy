# pragma version ~=0.4.3
"""
@title deai job market
@notice One job a transaction: a client posts a job with its maximum price in escrow,
        staked providers bid during the bid window (a reverse auction), the client
        accepts a bid or anyone assigns the best one after the window, the provider
        commits its result, a challenge window follows, and `finalize` pays the provider
        the locked price, the validator fee, and refunds the rest. A staked validator may
        challenge with a bond; a committee of staked validators drawn at random
        (block.prevrandao) votes; the loser is slashed (provider) or loses the bond
        (challenger). A job nobody finishes by its deadline expires: the client gets the
        escrow back in full and an assigned provider is slashed.
@dev Every job event carries a reason code (deai.chain.types.JobReason has the sentences).
     Money moves between accounts kept here (pull payments): a client may pre-fund its
     account with `deposit`; escrow and bonds come from the account when it covers them,
     else from the wallet by transferFrom; payouts and refunds are credited to accounts;
     `withdraw` pays out.
     That leaves at most one token call on the job path, in `postJob`.
     Funds: token.balanceOf(this) == account balances + escrow of unsettled jobs + bonds
     of open disputes. The price is locked at assignment, and the escrow above price +
     fee goes back to the client then; what is left ends as exactly one of: paid (price
     to the provider, fee to the fee recipient) or refunded (expiry, fraud).

     Gas decides the storage layout (job path target: 250,000 gas for post + bid +
     accept + commit + finalize, of which 105,000 is five transaction fees and each fresh
     storage slot costs 22,100). Vyper gives every struct member its own slot, so a job
     is two hand-packed words and nothing else:
       core   = client (bits 0-159) | maxPrice (160-255)
       state  = pid (0-31) | price (32-127) | status (128-135) | mode (136-143)
                | param (144-159) | windowEnd (160-191) | deadline (192-223)
                | bestRep (224-239)
     No CID is stored for a job: the spec CID is in JobPosted and the result (output CID
     and result hash) in ResultCommitted. Logs are part of consensus and cannot change,
     so a committee or a client reads them from there; a stored digest would cost
     another 22,100 gas a job. (The Registry stores digests: it is off the job path.)
     `windowEnd` is the bid window's end while the job is open, the challenge window's
     end once a result is committed, and the vote's end during a dispute. While the job is
     open, pid/price/bestRep describe the best bid so far; other bids live in `_bids`.
     Providers get a 32-bit id on their first bid so a job word can name one.
     An account word = balance (0-103) | locked stake (104-207) | reputation (208-223)
     | pid (224-255). Amounts in a job are below 2**96, timestamps below 2**32.
     Only functions that call another contract's mutating function take the reentrancy
     lock; the others make only static calls and follow checks-effects-interactions.
     The committee draw is the `committee` module's (committee.vy), shared with
     ReceiptDisputes.
"""

from ethereum.ercs import IERC20

from . import committee


interface IStaking:
    def stakeOf(who: address) -> uint256: view
    def slash(who: address, amount: uint256, beneficiary: address) -> uint256: nonpayable

interface IRegistry:
    def providerStateOf(who: address) -> uint8: view
    def isActiveValidator(who: address) -> bool: view


struct Job:
    client: address
    provider: address
    maxPrice: uint256
    price: uint256
    status: uint8
    mode: uint8
    param: uint16
    windowEnd: uint256
    deadline: uint256

struct Account:
    balance: uint256
    locked: uint256
    reputation: uint256
    pid: uint256

struct Dispute:
    challenger: address
    bond: uint256
    fraudVotes: uint256
    validVotes: uint256
    committee: DynArray[address, MAX_COMMITTEE]


event JobPosted:
    jobId: indexed(uint256)
    client: indexed(address)
    specCid: Bytes[64]
    maxPrice: uint256
    bidWindowEnd: uint256
    deadline: uint256
    mode: uint8
    param: uint16
    reason: uint8

event BidPlaced:
    jobId: indexed(uint256)
    provider: indexed(address)
    price: uint256
    best: bool
    reason: uint8

event JobAssigned:
    jobId: indexed(uint256)
    provider: indexed(address)
    price: uint256
    collateral: uint256
    refunded: uint256
    reason: uint8

event ResultCommitted:
    jobId: indexed(uint256)
    provider: indexed(address)
    outputCid: Bytes[64]
    resultHash: bytes32
    challengeEnd: uint256
    reason: uint8

event JobChallenged:
    jobId: indexed(uint256)
    challenger: indexed(address)
    bond: uint256
    committee: DynArray[address, MAX_COMMITTEE]
    voteEnd: uint256
    reason: uint8

event VoteCast:
    jobId: indexed(uint256)
    validator: indexed(address)
    fraud: bool
    reason: uint8

event JobSettled:
    jobId: indexed(uint256)
    status: uint8
    reason: uint8
    paid: uint256
    fee: uint256
    refunded: uint256
    slashed: uint256

event Deposited:
    account: indexed(address)
    amount: uint256

event Withdrawn:
    account: indexed(address)
    amount: uint256

event FeesCollected:
    recipient: indexed(address)
    amount: uint256

event ReputationSet:
    provider: indexed(address)
    score: uint256

event ReputationOracleSet:
    oracle: indexed(address)


# --- statuses (deai.chain.types.JobStatus) ------------------------------------------------
OPEN: constant(uint256) = 1
ASSIGNED: constant(uint256) = 2
COMMITTED: constant(uint256) = 3
DISPUTED: constant(uint256) = 4
FINALIZED: constant(uint256) = 5
EXPIRED: constant(uint256) = 6
REJECTED: constant(uint256) = 7

# --- reason codes (deai.chain.types.JobReason) ---------------------------------------------
R_POSTED: constant(uint8) = 1
R_BID_PLACED: constant(uint8) = 2
R_BID_ACCEPTED: constant(uint8) = 3
R_BEST_BID_ASSIGNED: constant(uint8) = 4
R_RESULT_COMMITTED: constant(uint8) = 5
R_CHALLENGED: constant(uint8) = 6
R_VOTE_CAST: constant(uint8) = 7
R_CHALLENGE_WINDOW_PASSED: constant(uint8) = 8
R_EXPIRED_NO_BIDS: constant(uint8) = 9
R_EXPIRED_UNASSIGNED: constant(uint8) = 10
R_EXPIRED_NO_RESULT: constant(uint8) = 11
R_FRAUD_PROVEN: constant(uint8) = 12
R_RESULT_UPHELD: constant(uint8) = 13
R_NO_VERDICT: constant(uint8) = 14

# --- verification modes (deai.chain.types.VerificationMode) --------------------------------
MODE_SAMPLED: constant(uint256) = 0
MODE_REDUNDANT: constant(uint256) = 1
MODE_RESCORE: constant(uint256) = 2
MODE_ZK: constant(uint256) = 3
MODE_NONE: constant(uint256) = 4

BPS: constant(uint256) = 10000
NEUTRAL_REPUTATION: constant(uint256) = 10000
MAX_REDUNDANCY: constant(uint256) = 16
MAX_COMMITTEE: constant(uint256) = committee.MAX_COMMITTEE
MAX_WINDOW: constant(uint256) = 30 * 86400
MAX_JOB_DURATION: constant(uint256) = 365 * 86400
PROVIDER_ACTIVE: constant(uint8) = 1

MASK32: constant(uint256) = 2**32 - 1
MASK96: constant(uint256) = 2**96 - 1
MASK104: constant(uint256) = 2**104 - 1
MASK160: constant(uint256) = 2**160 - 1

token: public(immutable(IERC20))
staking: public(immutable(IStaking))
registry: public(immutable(IRegistry))
treasury: public(immutable(address))
feeRecipient: public(immutable(address))
owner: public(immutable(address))
# validator fee, in basis points of the price, paid on top of the price out of the escrow
feeBps: public(immutable(uint256))
# stake locked per job, in basis points of the price (sampled jobs may need more, see _collateral)
collateralBps: public(immutable(uint256))
challengeWindow: public(immutable(uint256))
voteWindow: public(immutable(uint256))
challengeBond: public(immutable(uint256))
committeeSize: public(immutable(uint256))

jobCount: public(uint256)
reputationOracle: public(address)
providerCount: public(uint256)
# pid -> provider address (bits 0-159) | validator fees its jobs paid, not yet collected (160-255)
_providers: HashMap[uint256, uint256]

_core: HashMap[uint256, uint256]
_state: HashMap[uint256, uint256]
_accounts: HashMap[address, uint256]
# bids that are not (or no longer) the best one; the best lives in the job's state word
_bids: HashMap[uint256, HashMap[address, uint256]]
# a dispute: challenger (bits 0-159) | fraud votes (160-167) | valid votes (168-175); the
# bond is `challengeBond`, so it is not stored
_disputeHead: HashMap[uint256, uint256]
_committees: HashMap[uint256, DynArray[address, MAX_COMMITTEE]]
# 1 = committee member who has not voted, 2 = voted fraud, 3 = voted valid
_ballots: HashMap[uint256, HashMap[address, uint256]]


@deploy
def __init__(
    token_: IERC20,
    staking_: IStaking,
    registry_: IRegistry,
    treasury_: address,
    feeRecipient_: address,
    feeBps_: uint256,
    collateralBps_: uint256,
    challengeWindow_: uint256,
    voteWindow_: uint256,
    challengeBond_: uint256,
    committeeSize_: uint256,
):
    assert token_.address != empty(address), "market: token is the zero address"
    assert staking_.address != empty(address), "market: staking is the zero address"
    assert registry_.address != empty(address), "market: registry is the zero address"
    assert treasury_ != empty(address), "market: treasury is the zero address"
    assert feeRecipient_ != empty(address), "market: fee recipient is the zero address"
    assert feeBps_ <= BPS, "market: fee above 100%"
    assert challengeWindow_ > 0 and challengeWindow_ <= MAX_WINDOW, "market: bad challenge window"
    assert voteWindow_ > 0 and voteWindow_ <= MAX_WINDOW, "market: bad vote window"
    assert challengeBond_ > 0, "market: zero challenge bond"
    assert committeeSize_ > 0 and committeeSize_ <= MAX_COMMITTEE, "market: bad committee size"
    token = token_
    staking = staking_
    registry = registry_
    treasury = treasury_
    feeRecipient = feeRecipient_
    owner = msg.sender
    feeBps = feeBps_
    collateralBps = collateralBps_
    challengeWindow = challengeWindow_
    voteWindow = voteWindow_
    challengeBond = challengeBond_
    committeeSize = committeeSize_


# --- packing -----------------------------------------------------------------------------


@internal
@pure
def _status(state: uint256) -> uint256:
    return (state >> 128) & 255


@internal
@pure
def _with_status(state: uint256, status: uint256) -> uint256:
    return (state & ~(255 << 128)) | (status << 128)


@internal
@pure
def _with_window(state: uint256, windowEnd: uint256) -> uint256:
    return (state & ~(MASK32 << 160)) | (windowEnd << 160)


@internal
@pure
def _rep(acct: uint256) -> uint256:
    rep: uint256 = (acct >> 208) & 65535
    if rep == 0:
        return NEUTRAL_REPUTATION
    return rep


@internal
@view
def _provider_at(pid: uint256) -> address:
    return convert(self._providers[pid] & MASK160, address)


@internal
@pure
def _check_cid(cid: Bytes[64]):
    # A binary CID ends in a sha2-256 multihash: 0x12 0x20 then the 32-byte digest. CIDv0 is
    # the bare multihash (34 bytes); CIDv1 adds a version (0x01) and a codec varint first.
    n: uint256 = len(cid)
    assert n >= 34, "market: malformed CID"
    assert convert(slice(cid, n - 34, 2), bytes2) == 0x1220, "market: CID is not sha2-256"
    if n > 34:
        assert convert(slice(cid, 0, 1), bytes1) == 0x01, "market: malformed CID"


@internal
@view
def _collateral(price: uint256, mode: uint256, param: uint256) -> uint256:
    # Stake that backs a job. Sampling checks a fraction p of jobs, so cheating pays
    # unless p * stake > price: sampled jobs lock at least price / p (+1 for strictness).
    if mode == MODE_NONE:
        return 0
    collateral: uint256 = price * collateralBps // BPS
    if mode == MODE_SAMPLED:
        collateral = max(collateral, price * BPS // param + 1)
    return collateral


# --- accounts ----------------------------------------------------------------------------


@internal
def _credit(who: address, amount: uint256):
    if amount == 0:
        return
    acct: uint256 = self._accounts[who]
    assert (acct & MASK104) + amount <= MASK104, "market: balance overflow"
    self._accounts[who] = acct + amount


@internal
def _debit(who: address, amount: uint256) -> uint256:
    # Take `amount` from the account if it covers it (returns 0); otherwise leave the
    # account alone and return `amount` for the caller to pull with transferFrom once its
    # own effects are done. Not draining a short account matters for gas: refunds land in
    # the account, and a balance that drops to zero and back costs 20,000 gas each time.
    acct: uint256 = self._accounts[who]
    if acct & MASK104 >= amount:
        self._accounts[who] = acct - amount
        return 0
    return amount


@internal
def _pull(who: address, amount: uint256):
    if amount > 0:
        assert extcall token.transferFrom(who, self, amount, default_return_value=True), \
            "market: token transfer failed"


@internal
def _unlock(who: address, amount: uint256):
    if amount == 0:
        return
    acct: uint256 = self._accounts[who]
    self._accounts[who] = acct - (min(amount, (acct >> 104) & MASK104) << 104)


@external
@nonreentrant
def deposit(amount: uint256):
    """
    @notice Move `amount` tokens into your market account (needs an allowance); jobs and
            bonds are then paid from it without a token call.
    """
    assert amount > 0, "market: zero amount"
    self._credit(msg.sender, amount)
    log Deposited(account=msg.sender, amount=amount)
    self._pull(msg.sender, amount)


@external
@nonreentrant
def withdraw(amount: uint256):
    """
    @notice Pay `amount` out of your market account (earnings, refunds, deposits).
    """
    assert amount > 0, "market: zero amount"
    acct: uint256 = self._accounts[msg.sender]
    assert acct & MASK104 >= amount, "market: amount exceeds balance"
    self._accounts[msg.sender] = acct - amount
    log Withdrawn(account=msg.sender, amount=amount)
    assert extcall token.transfer(msg.sender, amount, default_return_value=True), \
        "market: token transfer failed"


# --- views -------------------------------------------------------------------------------


@external
@view
def getJob(jobId: uint256) -> Job:
    core: uint256 = self._core[jobId]
    state: uint256 = self._state[jobId]
    pid: uint256 = state & MASK32
    return Job(
        client=convert(core & MASK160, address),
        provider=self._provider_at(pid),
        maxPrice=core >> 160,
        price=(state >> 32) & MASK96,
        status=convert(self._status(state), uint8),
        mode=convert((state >> 136) & 255, uint8),
        param=convert((state >> 144) & 65535, uint16),
        windowEnd=(state >> 160) & MASK32,
        deadline=(state >> 192) & MASK32,
    )


@external
@view
def getAccount(who: address) -> Account:
    acct: uint256 = self._accounts[who]
    return Account(
        balance=acct & MASK104,
        locked=(acct >> 104) & MASK104,
        reputation=self._rep(acct),
        pid=acct >> 224,
    )


@external
@view
def balanceOf(who: address) -> uint256:
    """
    @notice Tokens held for `who` in the market (withdrawable).
    """
    return self._accounts[who] & MASK104


@external
@view
def lockedStakeOf(who: address) -> uint256:
    """
    @notice Stake backing `who`'s in-flight jobs (Staking asks before letting stake unbond).
    """
    return (self._accounts[who] >> 104) & MASK104


@external
@view
def providerAt(pid: uint256) -> address:
    return self._provider_at(pid)


@external
@view
def feesOwedAt(pid: uint256) -> uint256:
    """
    @notice Validator fees paid by provider `pid`'s jobs and not yet collected.
    """
    return self._providers[pid] >> 160


@external
@view
def bidOf(jobId: uint256, provider: address) -> uint256:
    """
    @notice `provider`'s current bid on an open job (0 = none).
    """
    state: uint256 = self._state[jobId]
    pid: uint256 = state & MASK32
    if pid != 0 and self._provider_at(pid) == provider:
        return (state >> 32) & MASK96
    return self._bids[jobId][provider]


@external
@view
def collateralFor(price: uint256, mode: uint8, param: uint16) -> uint256:
    """
    @notice Stake a provider must have free to take a job at `price` in this mode.
    """
    return self._collateral(price, convert(mode, uint256), convert(param, uint256))


@external
@view
def feeFor(price: uint256) -> uint256:
    return price * feeBps // BPS


@external
@view
def getDispute(jobId: uint256) -> Dispute:
    head: uint256 = self._disputeHead[jobId]
    bond: uint256 = 0
    if head != 0:
        bond = challengeBond
    return Dispute(
        challenger=convert(head & MASK160, address), bond=bond, fraudVotes=(head >> 160) & 255,
        validVotes=(head >> 168) & 255, committee=self._committees[jobId],
    )


@external
@view
def ballotOf(jobId: uint256, validator: address) -> uint256:
    """
    @notice 0 = not on the committee, 1 = not voted yet, 2 = voted fraud, 3 = voted valid.
    """
    return self._ballots[jobId][validator]


# --- client ------------------------------------------------------------------------------


@external
@nonreentrant
def postJob(specCid: Bytes[64], maxPrice: uint256, bidWindow: uint256, deadline: uint256, mode: uint8, param: uint16) -> uint256:
    """
    @notice Post a job whose spec is at `specCid` (binary CID), escrowing `maxPrice`.
            Providers bid for `bidWindow` seconds; the result is due by `deadline` (unix
            time). `mode` is the verification mode and `param` its parameter (sampled and
            rescore: a fraction in basis points; redundant: k; zk and none: 0).
    @return The job id.
    """
    assert maxPrice > 0, "market: zero max price"
    assert maxPrice <= MASK96, "market: max price too large"
    assert bidWindow > 0 and bidWindow <= MAX_WINDOW, "market: bad bid window"
    assert deadline > block.timestamp + bidWindow, "market: deadline before the bid window ends"
    assert deadline <= block.timestamp + MAX_JOB_DURATION, "market: deadline too far away"
    m: uint256 = convert(mode, uint256)
    p: uint256 = convert(param, uint256)
    assert m <= MODE_NONE, "market: unknown verification mode"
    if m == MODE_SAMPLED or m == MODE_RESCORE:
        assert p > 0 and p <= BPS, "market: fraction must be 1..10000 basis points"
    elif m == MODE_REDUNDANT:
        assert p >= 2 and p <= MAX_REDUNDANCY, "market: redundancy must be 2..16"
    else:
        assert p == 0, "market: this mode takes no parameter"
    self._check_cid(specCid)

    jobId: uint256 = self.jobCount + 1
    self.jobCount = jobId
    bidEnd: uint256 = block.timestamp + bidWindow
    self._core[jobId] = convert(msg.sender, uint256) | (maxPrice << 160)
    self._state[jobId] = (OPEN << 128) | (m << 136) | (p << 144) | (bidEnd << 160) | (deadline << 192)
    pulled: uint256 = self._debit(msg.sender, maxPrice)
    log JobPosted(
        jobId=jobId, client=msg.sender, specCid=specCid, maxPrice=maxPrice, bidWindowEnd=bidEnd,
        deadline=deadline, mode=mode, param=param, reason=R_POSTED,
    )
    self._pull(msg.sender, pulled)
    return jobId


@external
def acceptBid(jobId: uint256, provider: address):
    """
    @notice The client takes `provider`'s bid (not necessarily the best) at its price.
    """
    core: uint256 = self._core[jobId]
    assert core != 0, "market: unknown job"
    assert convert(core & MASK160, address) == msg.sender, "market: only the client accepts a bid"
    state: uint256 = self._state[jobId]
    assert self._status(state) == OPEN, "market: job is not open"
    assert block.timestamp < (state >> 192) & MASK32, "market: deadline passed"
    acct: uint256 = self._accounts[provider]
    pid: uint256 = acct >> 224
    price: uint256 = 0
    if pid != 0 and pid == state & MASK32:
        price = (state >> 32) & MASK96
    else:
        price = self._bids[jobId][provider]
    assert price > 0, "market: no bid from that provider"
    self._assign(jobId, core, state, provider, acct, pid, price, R_BID_ACCEPTED)


@external
def assign(jobId: uint256):
    """
    @notice After the bid window, give the job to the best bid (lowest price weighted by
            reputation). Anyone may call it.
    """
    state: uint256 = self._state[jobId]
    assert state != 0, "market: unknown job"
    assert self._status(state) == OPEN, "market: job is not open"
    assert block.timestamp >= (state >> 160) & MASK32, "market: bid window still open"
    assert block.timestamp < (state >> 192) & MASK32, "market: deadline passed"
    pid: uint256 = state & MASK32
    assert pid != 0, "market: no bids to assign"
    provider: address = self._provider_at(pid)
    self._assign(
        jobId, self._core[jobId], state, provider, self._accounts[provider], pid, (state >> 32) & MASK96,
        R_BEST_BID_ASSIGNED,
    )


@internal
def _assign(jobId: uint256, core: uint256, state: uint256, provider: address, acct: uint256, pid: uint256, price: uint256, reason: uint8):
    # Lock the provider's collateral, lock the price, and give the client back the escrow
    # above price + fee now rather than at settlement.
    collateral: uint256 = self._collateral(price, (state >> 136) & 255, (state >> 144) & 65535)
    locked: uint256 = (acct >> 104) & MASK104
    if collateral > 0:
        assert staticcall staking.stakeOf(provider) >= locked + collateral, \
            "market: provider stake too low to back this job"
        self._accounts[provider] = acct + (collateral << 104)
    # keep mode, param, deadline; set the winner, its price and the new status
    s: uint256 = state & ~(MASK32 | (MASK96 << 32) | (255 << 128) | (65535 << 224))
    self._state[jobId] = s | pid | (price << 32) | (ASSIGNED << 128)
    refund: uint256 = (core >> 160) - price - price * feeBps // BPS
    self._credit(convert(core & MASK160, address), refund)
    log JobAssigned(jobId=jobId, provider=provider, price=price, collateral=collateral, refunded=refund, reason=reason)


@external
@nonreentrant
def expire(jobId: uint256):
    """
    @notice After the deadline, end a job that has no result: the client gets the escrow
            back in full; an assigned provider that delivered nothing is slashed the job's
            price (capped by its collateral), half of it going to the client by default.
    """
    core: uint256 = self._core[jobId]
    assert core != 0, "market: unknown job"
    state: uint256 = self._state[jobId]
    status: uint256 = self._status(state)
    assert status == OPEN or status == ASSIGNED, "market: job cannot expire now"
    assert block.timestamp >= (state >> 192) & MASK32, "market: deadline not reached"
    client: address = convert(core & MASK160, address)
    # what is still escrowed: all of it while open, price + fee once assigned
    escrow: uint256 = core >> 160
    pid: uint256 = state & MASK32
    reason: uint8 = R_EXPIRED_NO_BIDS
    penalty: uint256 = 0
    provider: address = empty(address)
    if status == ASSIGNED:
        reason = R_EXPIRED_NO_RESULT
        provider = self._provider_at(pid)
        price: uint256 = (state >> 32) & MASK96
        escrow = price + price * feeBps // BPS
        collateral: uint256 = self._collateral(price, (state >> 136) & 255, (state >> 144) & 65535)
        self._unlock(provider, collateral)
        penalty = min(price, collateral)
    elif pid != 0:
        reason = R_EXPIRED_UNASSIGNED
    self._state[jobId] = self._with_status(state, EXPIRED)
    self._credit(client, escrow)
    slashed: uint256 = 0
    if penalty > 0:
        slashed = extcall staking.slash(provider, penalty, client)
    log JobSettled(jobId=jobId, status=convert(EXPIRED, uint8), reason=reason, paid=0, fee=0, refunded=escrow, slashed=slashed)


# --- provider ----------------------------------------------------------------------------


@external
def bid(jobId: uint256, price: uint256):
    """
    @notice Offer to run an open job for `price` (plus the validator fee it must leave
            room for under the max price). A provider may lower its own bid.
    """
    core: uint256 = self._core[jobId]
    assert core != 0, "market: unknown job"
    state: uint256 = self._state[jobId]
    assert self._status(state) == OPEN, "market: job is not open"
    assert block.timestamp < (state >> 160) & MASK32, "market: bid window closed"
    assert price > 0, "market: zero price"
    maxPrice: uint256 = core >> 160
    assert price <= maxPrice and price + price * feeBps // BPS <= maxPrice, "market: bid above the max price"
    assert convert(core & MASK160, address) != msg.sender, "market: the client cannot bid"
    # Registration needs the minimum stake and the registry locks it while the provider is
    # active, so the state alone says "staked provider"; assignment checks the collateral.
    assert staticcall registry.providerStateOf(msg.sender) == PROVIDER_ACTIVE, "market: not an active registered provider"

    acct: uint256 = self._accounts[msg.sender]
    pid: uint256 = acct >> 224
    if pid == 0:
        pid = self.providerCount + 1
        assert pid <= MASK32, "market: too many providers"
        self.providerCount = pid
        self._providers[pid] = convert(msg.sender, uint256)
        acct = acct | (pid << 224)
        self._accounts[msg.sender] = acct
    rep: uint256 = self._rep(acct)

    bestPid: uint256 = state & MASK32
    best: bool = False
    if bestPid == pid:
        assert price < (state >> 32) & MASK96, "market: a new bid must be lower than your last"
        best = True
    else:
        if bestPid == 0:
            # the first bid on the job: nobody has a previous bid to compare with
            best = True
        else:
            previous: uint256 = self._bids[jobId][msg.sender]
            assert previous == 0 or price < previous, "market: a new bid must be lower than your last"
            # lower price per unit of reputation wins; a tie keeps the earlier bid
            bestPrice: uint256 = (state >> 32) & MASK96
            best = price * ((state >> 224) & 65535) < bestPrice * rep
            if best:
                self._bids[jobId][self._provider_at(bestPid)] = bestPrice
        if not best:
            self._bids[jobId][msg.sender] = price
    if best:
        s: uint256 = state & ~(MASK32 | (MASK96 << 32) | (65535 << 224))
        self._state[jobId] = s | pid | (price << 32) | (rep << 224)
    log BidPlaced(jobId=jobId, provider=msg.sender, price=price, best=best, reason=R_BID_PLACED)


@external
def commitResult(jobId: uint256, outputCid: Bytes[64], resultHash: bytes32):
    """
    @notice The assigned provider commits its output (binary CID) and result hash before
            the deadline; the challenge window starts.
    """
    state: uint256 = self._state[jobId]
    assert state != 0, "market: unknown job"
    assert self._status(state) == ASSIGNED, "market: job is not assigned"
    pid: uint256 = state & MASK32
    assert self._accounts[msg.sender] >> 224 == pid, "market: only the assigned provider commits"
    assert block.timestamp < (state >> 192) & MASK32, "market: deadline passed"
    assert resultHash != empty(bytes32), "market: empty result hash"
    self._check_cid(outputCid)
    challengeEnd: uint256 = block.timestamp + challengeWindow
    self._state[jobId] = self._with_window(self._with_status(state, COMMITTED), challengeEnd)
    log ResultCommitted(
        jobId=jobId, provider=msg.sender, outputCid=outputCid, resultHash=resultHash,
        challengeEnd=challengeEnd, reason=R_RESULT_COMMITTED,
    )


# --- settlement --------------------------------------------------------------------------


@internal
def _pay(jobId: uint256, state: uint256, reason: uint8):
    # Settle a job whose result stands: price to the provider (and its collateral freed),
    # the fee to the fee recipient. The client got the rest back at assignment.
    price: uint256 = (state >> 32) & MASK96
    fee: uint256 = price * feeBps // BPS
    pid: uint256 = state & MASK32
    # The fee is parked in the provider's id word, which this function reads anyway, and
    # swept to the fee recipient by `collectFees`: a write to a third account here would
    # cost another 5,000 gas a job.
    word: uint256 = self._providers[pid]
    assert (word >> 160) + fee <= MASK96, "market: fee overflow"
    self._providers[pid] = word + (fee << 160)
    provider: address = convert(word & MASK160, address)
    collateral: uint256 = self._collateral(price, (state >> 136) & 255, (state >> 144) & 65535)
    self._state[jobId] = self._with_status(state, FINALIZED)
    acct: uint256 = self._accounts[provider]
    assert (acct & MASK104) + price <= MASK104, "market: balance overflow"
    self._accounts[provider] = acct + price - (min(collateral, (acct >> 104) & MASK104) << 104)
    log JobSettled(
        jobId=jobId, status=convert(FINALIZED, uint8), reason=reason, paid=price, fee=fee,
        refunded=0, slashed=0,
    )


@external
def finalize(jobId: uint256):
    """
    @notice After an unchallenged challenge window, pay the job out. Anyone may call it.
    """
    state: uint256 = self._state[jobId]
    assert state != 0, "market: unknown job"
    assert self._status(state) == COMMITTED, "market: job has no unchallenged result"
    assert block.timestamp >= (state >> 160) & MASK32, "market: challenge window still open"
    self._pay(jobId, state, R_CHALLENGE_WINDOW_PASSED)


@external
def collectFees(pids: DynArray[uint256, 256]) -> uint256:
    """
    @notice Sweep the fees parked under the given provider ids to the fee recipient's
            account. Anyone may call it; returns the amount moved.
    """
    total: uint256 = 0
    for pid: uint256 in pids:
        word: uint256 = self._providers[pid]
        owed: uint256 = word >> 160
        if owed > 0:
            self._providers[pid] = word & MASK160
            total += owed
    self._credit(feeRecipient, total)
    log FeesCollected(recipient=feeRecipient, amount=total)
    return total


# --- disputes ----------------------------------------------------------------------------


@external
@nonreentrant
def challenge(jobId: uint256):
    """
    @notice A staked validator disputes a committed result during the challenge window,
            posting `challengeBond`; a committee is drawn to vote within `voteWindow`.
    """
    core: uint256 = self._core[jobId]
    assert core != 0, "market: unknown job"
    state: uint256 = self._state[jobId]
    assert self._status(state) == COMMITTED, "market: job has no result to challenge"
    assert block.timestamp < (state >> 160) & MASK32, "market: challenge window closed"
    assert (state >> 136) & 255 != MODE_NONE, "market: job has no verification"
    provider: address = self._provider_at(state & MASK32)
    client: address = convert(core & MASK160, address)
    assert msg.sender != provider, "market: a provider cannot challenge itself"
    assert staticcall registry.isActiveValidator(msg.sender), "market: not an active staked validator"
    members: DynArray[address, MAX_COMMITTEE] = committee.draw(
        committee.IValidatorSet(registry.address), keccak256(abi_encode(block.prevrandao, jobId, msg.sender)),
        committeeSize, [msg.sender, provider, client],
    )
    assert len(members) > 0, "market: no validators left to form a committee"

    voteEnd: uint256 = block.timestamp + voteWindow
    self._state[jobId] = self._with_window(self._with_status(state, DISPUTED), voteEnd)
    self._disputeHead[jobId] = convert(msg.sender, uint256)
    self._committees[jobId] = members
    for member: address in members:
        self._ballots[jobId][member] = 1
    pulled: uint256 = self._debit(msg.sender, challengeBond)
    log JobChallenged(
        jobId=jobId, challenger=msg.sender, bond=challengeBond, committee=members,
        voteEnd=voteEnd, reason=R_CHALLENGED,
    )
    self._pull(msg.sender, pulled)


@external
def vote(jobId: uint256, fraud: bool):
    """
    @notice A committee member votes: `fraud` = the committed result is wrong.
    """
    state: uint256 = self._state[jobId]
    assert self._status(state) == DISPUTED, "market: job is not disputed"
    assert block.timestamp < (state >> 160) & MASK32, "market: vote closed"
    ballot: uint256 = self._ballots[jobId][msg.sender]
    assert ballot != 0, "market: not on this job's committee"
    assert ballot == 1, "market: already voted"
    if fraud:
        self._ballots[jobId][msg.sender] = 2
        self._disputeHead[jobId] += 1 << 160
    else:
        self._ballots[jobId][msg.sender] = 3
        self._disputeHead[jobId] += 1 << 168
    log VoteCast(jobId=jobId, validator=msg.sender, fraud=fraud, reason=R_VOTE_CAST)


@external
@nonreentrant
def resolve(jobId: uint256):
    """
    @notice End a dispute once every member voted or the vote closed. A majority for
            fraud slashes the provider's collateral (the challenger gets the beneficiary
            share and its bond back) and refunds the client in full. A majority for the
            result pays the job out and splits the bond among the members who voted so.
            A tie or no votes pays the job out and returns the bond.
    """
    state: uint256 = self._state[jobId]
    assert self._status(state) == DISPUTED, "market: job is not disputed"
    head: uint256 = self._disputeHead[jobId]
    challenger: address = convert(head & MASK160, address)
    fraudVotes: uint256 = (head >> 160) & 255
    validVotes: uint256 = (head >> 168) & 255
    members: DynArray[address, MAX_COMMITTEE] = self._committees[jobId]
    assert fraudVotes + validVotes == len(members) or block.timestamp >= (state >> 160) & MASK32, \
        "market: vote still open"
    if fraudVotes > validVotes:
        core: uint256 = self._core[jobId]
        provider: address = self._provider_at(state & MASK32)
        price: uint256 = (state >> 32) & MASK96
        collateral: uint256 = self._collateral(price, (state >> 136) & 255, (state >> 144) & 65535)
        escrow: uint256 = price + price * feeBps // BPS
        self._state[jobId] = self._with_status(state, REJECTED)
        self._unlock(provider, collateral)
        self._credit(convert(core & MASK160, address), escrow)
        self._credit(challenger, challengeBond)
        slashed: uint256 = 0
        if collateral > 0:
            slashed = extcall staking.slash(provider, collateral, challenger)
        log JobSettled(
            jobId=jobId, status=convert(REJECTED, uint8), reason=R_FRAUD_PROVEN, paid=0, fee=0,
            refunded=escrow, slashed=slashed,
        )
        return
    if validVotes > fraudVotes:
        share: uint256 = challengeBond // validVotes
        for member: address in members:
            if self._ballots[jobId][member] == 3:
                self._credit(member, share)
        self._credit(treasury, challengeBond - share * validVotes)
        self._pay(jobId, state, R_RESULT_UPHELD)
        return
    self._credit(challenger, challengeBond)
    self._pay(jobId, state, R_NO_VERDICT)


# --- reputation --------------------------------------------------------------------------


@external
def setReputationOracle(oracle: address):
    """
    @notice Name the address that may set reputation (the verification layer will).
    """
    assert msg.sender == owner, "market: only the owner"
    self.reputationOracle = oracle
    log ReputationOracleSet(oracle=oracle)


@external
def setReputation(provider: address, score: uint256):
    """
    @notice Set `provider`'s reputation in basis points (10000 = neutral, the default;
            higher wins ties against cheaper bids). Owner or reputation oracle only.
    """
    assert msg.sender == owner or msg.sender == self.reputationOracle, "market: only the owner or the reputation oracle"
    assert score > 0 and score <= 65535, "market: reputation must be 1..65535"
    assert provider != empty(address), "market: zero address"
    acct: uint256 = self._accounts[provider]
    self._accounts[provider] = (acct & ~(65535 << 208)) | (score << 208)
    log ReputationSet(provider=provider, score=score)
