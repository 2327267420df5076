# pragma version ~=0.4.3
"""
@title deai on-chain AI requests
@notice A contract asks for AI and gets the answer by callback, covered by the same market,
        stake and verification as every other deai job.
        `requestAI` turns a request into a JobMarket job whose client is this contract; the
        provider that wins the job runs it like any job, commits its result on the
        JobMarket, then `deliver`s (requestId, output, manifest CID) here, and the consumer's
        `onAIResult(requestId, output, manifestCid)` is called with the gas limit it asked for.
        Policy `optimistic`: called back at delivery; if a challenge later proves the result
        wrong, the provider is slashed by the JobMarket, `settle` refunds the consumer and
        calls `onAIDisputed(requestId)`. Policy `final`: called back (`release`) only once the
        job is finalized, after its challenge window. A request that ends without a standing
        answer (fraud proven, expired, never delivered) is refunded and `onAIDisputed` called.
        A callback that reverts or runs out of gas changes nothing else: the provider is
        paid by the JobMarket as usual, the result stays provable (its hash is kept) and
        anyone may `retryCallback` with the output from the `AIDelivered` event.
        Subscriptions (recurring requests, as Ritual's): `createSubscription` prepays M
        rounds, one at most every N blocks, each fired by anyone with `fireSubscription`
        (deai provider nodes do), with a fixed input or one read from the consumer's
        `aiInput(subscriptionId, round)` view.
@dev The job spec is built here, byte for byte the canonical JSON of a deai WorkloadSpec
     (deai.runtime.spec: sorted keys, no spaces, unset fields left out, every default
     written), and posted as a raw-leaf CIDv1 of sha256(spec), the CID `ipfs add
     --cid-version 1` gives a file that small. Nobody has to upload it: a provider rebuilds
     the spec from the AIRequested event, checks it against the spec CID of JobPosted,
     and stores it (and an inline input, whose CID is likewise the raw-leaf CIDv1 of
     sha256(input)) for validators to fetch from its gateway. Layout of a spec:
       {"inputs":["<input CID>"],"kind":"<kind>","model":"<model CID>","params":{
        "batch_size":32,"checkpoint_every":50,"count":1,"epochs":1,"learning_rate":0.001,
        "max_tokens":T,"seed":S,"temperature":X},"resources":{"cpus":1,"gpus":0,
        "max_seconds":600,"memory_mb":1024},"spec_version":1,"verification":{"mode":"<m>"
        [,"sample_rate":P | ,"replicas":K]}}
     (T, S, X are 64, 0, 1.0 unless the kind is generate). The request id is the job id.

     Funds. Consumers pay from a balance kept here (`deposit`, refunds) when it covers the
     escrow, else by transferFrom. Everything this contract holds (token balance, its
     JobMarket account, escrow in its jobs) equals consumer balances + subscription reserves
     + what unfinished requests may still get back. The JobMarket returns the escrow above
     price + fee at assignment: `deliver` credits that change to the consumer; `settle`
     credits the refund of a failed request (and, when it expires the job itself, the
     share of the slashed stake the JobMarket sends to the client).

     Storage: a request is one word, consumer (bits 0-159) | status (160-167) | policy
     (168-175) | callback state (176-183) | output-as-CID (184) | callback gas (192-223),
     plus the result hash only when it is needed later (final policy, failed callback).

     Safety: the token and the JobMarket are the protocol's own contracts (immutable
     addresses). The consumer is the only untrusted callee; it is called last, with a gas
     limit, its failure caught and its return data ignored, and every mutating function
     holds the reentrancy lock, so a consumer cannot re-enter (views stay readable).
"""

from ethereum.ercs import IERC20


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

struct Asset:
    owner: address
    kind: uint8
    licenceDigest: bytes32
    registeredAt: uint256

struct AIParams:
    # 0 classify, 1 embed, 2 generate (deai.runtime.spec kinds)
    kind: uint8
    # `input` is a binary CIDv1 (sha2-256) instead of the input bytes themselves
    inputIsCid: bool
    # deliver the binary CID of the primary output file instead of the inline answer
    outputAsCid: bool
    # generate only (ignored otherwise): tokens 1..4096, temperature in hundredths
    # (0 = greedy, 100 = 1.0, at most 1000), sampling seed below 2**63
    maxTokens: uint16
    temperature: uint16
    seed: uint64
    # sampled / rescore: the checked fraction in basis points; redundant: k; zk / none: 0
    verificationParam: uint16

struct Request:
    consumer: address
    status: uint8
    policy: uint8
    callback: uint8
    outputAsCid: bool
    callbackGasLimit: uint256
    subscriptionId: uint256
    resultHash: bytes32

struct Subscription:
    consumer: address
    modelCid: Bytes[MAX_CID]
    # keccak256 of the fixed input; empty when the input is read from the consumer
    inputHash: bytes32
    # AIParams, mode, policy, callback gas, dynamic-input flag (see _pack_config)
    config: uint256
    maxPrice: uint256
    # next block (0-63) | period (64-127) | rounds left (128-191) | rounds fired (192-255)
    schedule: uint256

interface IJobMarket:
    def postJob(specCid: Bytes[64], maxPrice: uint256, bidWindow: uint256, deadline: uint256, mode: uint8, param: uint16) -> uint256: nonpayable
    def getJob(jobId: uint256) -> Job: view
    def expire(jobId: uint256): nonpayable
    def withdraw(amount: uint256): nonpayable
    def balanceOf(who: address) -> uint256: view
    def feeBps() -> uint256: view
    def token() -> address: view
    def registry() -> address: view

interface IRegistry:
    def assets(digest: bytes32) -> Asset: view

interface IAIInputSource:
    def aiInput(subscriptionId: uint256, round: uint256) -> Bytes[MAX_INPUT]: view


event AIRequested:
    requestId: indexed(uint256)
    consumer: indexed(address)
    subscriptionId: indexed(uint256)
    modelCid: Bytes[MAX_CID]
    input: Bytes[MAX_INPUT_ARG]
    # AIParams, verification mode, policy and callback gas, packed as in _pack_config
    config: uint256
    maxPrice: uint256

event AIDelivered:
    requestId: indexed(uint256)
    provider: indexed(address)
    output: Bytes[MAX_OUTPUT]
    manifestCid: Bytes[MAX_CID]
    refunded: uint256

event CallbackCalled:
    requestId: indexed(uint256)
    consumer: indexed(address)
    disputed: bool
    success: bool
    gasLimit: uint256

event AIRequestFailed:
    requestId: indexed(uint256)
    consumer: indexed(address)
    reason: uint8
    refunded: uint256
    compensation: uint256

event Deposited:
    account: indexed(address)
    payer: indexed(address)
    amount: uint256

event Withdrawn:
    account: indexed(address)
    amount: uint256

event SubscriptionCreated:
    subscriptionId: indexed(uint256)
    consumer: indexed(address)
    modelCid: Bytes[MAX_CID]
    input: Bytes[MAX_INPUT_ARG]
    config: uint256
    maxPrice: uint256
    period: uint256
    rounds: uint256

event SubscriptionFired:
    subscriptionId: indexed(uint256)
    requestId: indexed(uint256)
    round: uint256

event SubscriptionCancelled:
    subscriptionId: indexed(uint256)
    refunded: uint256


MAX_INPUT: constant(uint256) = 1024
# the argument is declared larger than the limit so that an oversized input is refused
# with a reason rather than by the ABI decoder's bare revert
MAX_INPUT_ARG: constant(uint256) = 4096
MAX_OUTPUT: constant(uint256) = 1024
MAX_CID: constant(uint256) = 64
MAX_SPEC: constant(uint256) = 1024
MAX_ROUNDS: constant(uint256) = 100000
MAX_PERIOD: constant(uint256) = 2**32
# hard ceiling on a callback's gas limit (the deployment may set a lower cap)
MAX_CALLBACK_GAS: constant(uint256) = 15000000
# gas kept back for the bookkeeping after a callback returns (state word, result hash, event)
CALLBACK_RESERVE: constant(uint256) = 50000
BPS: constant(uint256) = 10000

KIND_CLASSIFY: constant(uint8) = 0
KIND_EMBED: constant(uint8) = 1
KIND_GENERATE: constant(uint8) = 2

OPTIMISTIC: constant(uint8) = 0
FINAL: constant(uint8) = 1

# request status (deai.chain.ai_requests.RequestStatus)
PENDING: constant(uint256) = 1
DELIVERED: constant(uint256) = 2
FAILED: constant(uint256) = 3

# callback state (deai.chain.ai_requests.CallbackState)
CB_NONE: constant(uint256) = 0
CB_OK: constant(uint256) = 1
CB_FAILED: constant(uint256) = 2

# why a request failed (deai.chain.ai_requests.FailureReason)
R_FRAUD_PROVEN: constant(uint8) = 1
R_EXPIRED: constant(uint8) = 2
R_NOT_DELIVERED: constant(uint8) = 3

# JobMarket statuses and verification modes
JOB_OPEN: constant(uint8) = 1
JOB_ASSIGNED: constant(uint8) = 2
JOB_COMMITTED: constant(uint8) = 3
JOB_DISPUTED: constant(uint8) = 4
JOB_FINALIZED: constant(uint8) = 5
JOB_EXPIRED: constant(uint8) = 6
JOB_REJECTED: constant(uint8) = 7
MODE_SAMPLED: constant(uint8) = 0
MODE_REDUNDANT: constant(uint8) = 1
MODE_RESCORE: constant(uint8) = 2
MODE_ZK: constant(uint8) = 3

ASSET_MODEL: constant(uint8) = 1
MASK32: constant(uint256) = 2**32 - 1
MASK64: constant(uint256) = 2**64 - 1
MASK160: constant(uint256) = 2**160 - 1
ZEROS: constant(Bytes[4]) = b"0000"
# 0x0606..06, 0x0101..01, 0x6161..61 (8 bytes each): per-byte constants for _letters
SIXES: constant(uint256) = 434041037028460038
ONES: constant(uint256) = 72340172838076673
LOWER_A: constant(uint256) = 7016996765293437281

SPEC_HEAD: constant(Bytes[12]) = b'{"inputs":["'
SPEC_PARAMS: constant(Bytes[110]) = b'","params":{"batch_size":32,"checkpoint_every":50,"count":1,"epochs":1,"learning_rate":0.001,"max_tokens":'
SPEC_DEFAULT_RUN: constant(Bytes[30]) = b'64,"seed":0,"temperature":1.0'
SPEC_TAIL: constant(Bytes[106]) = b'},"resources":{"cpus":1,"gpus":0,"max_seconds":600,"memory_mb":1024},"spec_version":1,"verification":'

market: public(immutable(IJobMarket))
token: public(immutable(IERC20))
registry: public(immutable(IRegistry))
feeBps: public(immutable(uint256))
# seconds providers may bid on a request's job, and seconds until its result is due
bidWindow: public(immutable(uint256))
jobTimeout: public(immutable(uint256))
maxCallbackGas: public(immutable(uint256))

balanceOf: public(HashMap[address, uint256])
subscriptionCount: public(uint256)
subscriptionOf: public(HashMap[uint256, uint256])
_requests: HashMap[uint256, uint256]
_results: HashMap[uint256, bytes32]
_subscriptions: HashMap[uint256, Subscription]


@deploy
def __init__(market_: IJobMarket, bidWindow_: uint256, jobTimeout_: uint256, maxCallbackGas_: uint256):
    assert market_.address != empty(address), "ai: market is the zero address"
    assert bidWindow_ > 0 and jobTimeout_ > bidWindow_, "ai: the job timeout must outlast the bid window"
    assert maxCallbackGas_ > 0 and maxCallbackGas_ <= MAX_CALLBACK_GAS, "ai: bad callback gas cap"
    market = market_
    token = IERC20(staticcall market_.token())
    registry = IRegistry(staticcall market_.registry())
    feeBps = staticcall market_.feeBps()
    bidWindow = bidWindow_
    jobTimeout = jobTimeout_
    maxCallbackGas = maxCallbackGas_
    # the JobMarket pulls escrow it cannot take from this contract's market account
    assert extcall token.approve(market_.address, max_value(uint256), default_return_value=True), \
        "ai: approve failed"


# --- words ---------------------------------------------------------------------------------


@internal
@pure
def _status(word: uint256) -> uint256:
    return (word >> 160) & 255


@internal
@pure
def _with(word: uint256, at: uint256, field: uint256) -> uint256:
    return (word & ~(255 << at)) | (field << at)


@internal
@pure
def _pack_config(p: AIParams, mode: uint8, policy: uint8, gasLimit: uint256, dynamicInput: bool) -> uint256:
    word: uint256 = convert(p.kind, uint256)
    if p.inputIsCid:
        word |= 1 << 8
    if p.outputAsCid:
        word |= 1 << 9
    if dynamicInput:
        word |= 1 << 10
    word |= convert(p.maxTokens, uint256) << 16
    word |= convert(p.temperature, uint256) << 32
    word |= convert(p.seed, uint256) << 48
    word |= convert(p.verificationParam, uint256) << 112
    word |= convert(mode, uint256) << 128
    word |= convert(policy, uint256) << 136
    return word | (gasLimit << 144)


@internal
@pure
def _unpack_params(word: uint256) -> AIParams:
    return AIParams(
        kind=convert(word & 255, uint8),
        inputIsCid=(word >> 8) & 1 == 1,
        outputAsCid=(word >> 9) & 1 == 1,
        maxTokens=convert((word >> 16) & 65535, uint16),
        temperature=convert((word >> 32) & 65535, uint16),
        seed=convert((word >> 48) & MASK64, uint64),
        verificationParam=convert((word >> 112) & 65535, uint16),
    )


# --- CIDs and the spec ------------------------------------------------------------------------


@internal
@pure
def _cid_ok(cid: Bytes[MAX_OUTPUT]) -> bool:
    # A binary CID ends in a sha2-256 multihash (0x12 0x20, 32 bytes). CIDv0 is the bare
    # multihash; CIDv1 starts with version 0x01 and a codec varint.
    n: uint256 = len(cid)
    if n < 34 or convert(slice(cid, n - 34, 2), bytes2) != 0x1220:
        return False
    return n <= MAX_CID and (n == 34 or convert(slice(cid, 0, 1), bytes1) == 0x01)


@internal
@pure
def _cid_v1_ok(cid: Bytes[MAX_INPUT_ARG]) -> bool:
    # what the spec can name: CIDv1, a one-byte codec (raw, dag-pb, ...), sha2-256
    if len(cid) != 36:
        return False
    head: uint256 = convert(convert(slice(cid, 0, 4), bytes4), uint256)
    return head >> 24 == 1 and (head >> 16) & 255 < 128 and head & 65535 == 4640  # 0x1220


@internal
@pure
def _letters(x: uint256) -> uint256:
    # The eight 5-bit groups of a 40-bit x as eight base32 letters, one per byte: "a".."z"
    # for 0..25 and "2".."7" for 26..31, i.e. 97 + v less 73 where v >= 26 (which is where
    # v + 6 has bit 5 set). Whole words at a time: a per-character loop cost 30,000 gas a CID.
    s: uint256 = (((x >> 35) & 31) << 56) | (((x >> 30) & 31) << 48) | (((x >> 25) & 31) << 40) \
        | (((x >> 20) & 31) << 32) | (((x >> 15) & 31) << 24) | (((x >> 10) & 31) << 16) \
        | (((x >> 5) & 31) << 8) | (x & 31)
    high: uint256 = ((s + SIXES) >> 5) & ONES
    return s + LOWER_A - high * 73


@internal
@pure
def _base32(cid: Bytes[MAX_CID]) -> Bytes[59]:
    # Multibase base32 ("b" + lowercase RFC 4648, no padding) of a 36-byte CIDv1: 288 bits,
    # 40 at a time (8 letters), the first 40 from the 4-byte head and the digest's top byte,
    # the last 8 bits giving the 57th and 58th letters.
    head: uint256 = convert(convert(slice(cid, 0, 4), bytes4), uint256)
    d: uint256 = convert(extract32(cid, 4), uint256)
    mask: uint256 = 2**40 - 1
    w0: uint256 = (self._letters((head << 8) | (d >> 248)) << 192) | (self._letters((d >> 208) & mask) << 128) \
        | (self._letters((d >> 168) & mask) << 64) | self._letters((d >> 128) & mask)
    last: uint256 = d & 255
    tail: uint256 = self._letters(((last >> 3) << 35) | ((last & 7) << 32)) >> 48
    w1: uint256 = (self._letters((d >> 88) & mask) << 192) | (self._letters((d >> 48) & mask) << 128) \
        | (self._letters((d >> 8) & mask) << 64) | (tail << 48)
    return concat(b"b", convert(w0, bytes32), slice(convert(w1, bytes32), 0, 26))


@internal
@pure
def _dec(x: uint256) -> Bytes[20]:
    return convert(uint2str(x), Bytes[20])


@internal
@pure
def _decimal(amount: uint256, scale: uint256, digits: uint256) -> Bytes[45]:
    # amount / scale as Python's repr of that float writes it: the shortest decimal, at
    # least one digit after the point ("1.0", "0.07", "0.0001")
    whole: uint256 = amount // scale
    frac: uint256 = amount % scale
    if frac == 0:
        return concat(self._dec(whole), b".0")
    n: uint256 = digits
    for i: uint256 in range(4):
        if frac % 10 != 0:
            break
        frac //= 10
        n -= 1
    text: Bytes[20] = self._dec(frac)
    zeros: Bytes[4] = ZEROS
    return concat(self._dec(whole), b".", slice(zeros, 0, n - len(text)), text)


@internal
@pure
def _verification(mode: uint8, param: uint16) -> Bytes[78]:
    p: uint256 = convert(param, uint256)
    if mode == MODE_SAMPLED:
        return concat(b'{"mode":"sampled","sample_rate":', self._decimal(p, BPS, 4), b"}")
    if mode == MODE_RESCORE:
        return concat(b'{"mode":"rescore","sample_rate":', self._decimal(p, BPS, 4), b"}")
    if mode == MODE_REDUNDANT:
        return concat(b'{"mode":"redundant","replicas":', self._dec(p), b"}")
    if mode == MODE_ZK:
        return b'{"mode":"zk"}'
    return b'{"mode":"none"}'


@internal
@pure
def _input_cid(input: Bytes[MAX_INPUT_ARG], inputIsCid: bool) -> Bytes[MAX_CID]:
    if inputIsCid:
        return slice(input, 0, 36)
    return concat(x"01551220", sha256(input))


@internal
@pure
def _spec(modelCid: Bytes[MAX_CID], input: Bytes[MAX_INPUT_ARG], mode: uint8, p: AIParams) -> Bytes[MAX_SPEC]:
    kind: Bytes[8] = b"classify"
    run: Bytes[108] = SPEC_DEFAULT_RUN
    if p.kind == KIND_EMBED:
        kind = b"embed"
    elif p.kind == KIND_GENERATE:
        kind = b"generate"
        run = concat(
            self._dec(convert(p.maxTokens, uint256)), b',"seed":', self._dec(convert(p.seed, uint256)),
            b',"temperature":', self._decimal(convert(p.temperature, uint256), 100, 2),
        )
    return concat(
        SPEC_HEAD, self._base32(self._input_cid(input, p.inputIsCid)), b'"],"kind":"', kind,
        b'","model":"', self._base32(modelCid), SPEC_PARAMS, run, SPEC_TAIL,
        self._verification(mode, p.verificationParam), b"}",
    )


@internal
@pure
def _spec_cid(spec: Bytes[MAX_SPEC]) -> Bytes[36]:
    return concat(x"01551220", sha256(spec))


# --- checks ----------------------------------------------------------------------------------


@internal
@view
def _check(modelCid: Bytes[MAX_CID], input: Bytes[MAX_INPUT_ARG], maxPrice: uint256, mode: uint8, gasLimit: uint256, policy: uint8, p: AIParams):
    assert maxPrice > 0, "ai: zero escrow"
    assert maxPrice < 2**96, "ai: max price too large"
    assert gasLimit <= maxCallbackGas, "ai: callback gas limit above the cap"
    assert policy <= FINAL, "ai: unknown policy (0 optimistic, 1 final)"
    assert p.kind <= KIND_GENERATE, "ai: unknown kind (0 classify, 1 embed, 2 generate)"
    assert len(input) <= MAX_INPUT, "ai: inline input over 1024 bytes; put it behind a CID"
    if p.inputIsCid:
        assert self._cid_v1_ok(input), "ai: input CID must be a binary CIDv1 with a sha2-256 digest"
    else:
        assert len(input) > 0, "ai: empty input"
    assert self._cid_v1_ok(modelCid), "ai: model CID must be a binary CIDv1 with a sha2-256 digest"
    asset: Asset = staticcall registry.assets(extract32(modelCid, 4))
    assert asset.owner != empty(address) and asset.kind == ASSET_MODEL, "ai: unknown model (not registered in the Registry)"
    if p.kind == KIND_GENERATE:
        assert p.maxTokens > 0 and p.maxTokens <= 4096, "ai: max tokens must be 1..4096"
        assert p.temperature <= 1000, "ai: temperature above 10.0"
        assert p.seed < 2**63, "ai: seed must be below 2**63"
    else:
        assert mode != MODE_RESCORE, "ai: rescore verifies generate requests only"
    if p.kind == KIND_EMBED:
        assert p.outputAsCid, "ai: an embedding is delivered as a CID (set outputAsCid)"


# --- money ---------------------------------------------------------------------------------


@internal
def _credit(who: address, amount: uint256):
    if amount > 0:
        self.balanceOf[who] += amount


@internal
def _collect(payer: address, amount: uint256):
    # from the payer's balance here when it covers the amount, else from its wallet
    balance: uint256 = self.balanceOf[payer]
    if balance >= amount:
        self.balanceOf[payer] = balance - amount
        return
    assert extcall token.transferFrom(payer, self, amount, default_return_value=True), \
        "ai: token transfer failed (approve this contract, or deposit first)"


@internal
def _cash(amount: uint256):
    # Make `amount` payable from this contract: the JobMarket takes escrow from this
    # contract's market account when it covers it, else from the wallet; refunds pile up
    # in the account, so when neither covers it alone, move the account into the wallet.
    inMarket: uint256 = staticcall market.balanceOf(self)
    if inMarket >= amount or staticcall token.balanceOf(self) >= amount:
        return
    if inMarket > 0:
        extcall market.withdraw(inMarket)


@external
@nonreentrant
def deposit(account: address, amount: uint256):
    """
    @notice Prepay `amount` tokens into `account`'s balance (anyone may fund a consumer);
            requests and subscriptions are paid from it before any wallet.
    """
    assert amount > 0, "ai: zero amount"
    assert account != empty(address), "ai: zero address"
    self._credit(account, amount)
    log Deposited(account=account, payer=msg.sender, amount=amount)
    assert extcall token.transferFrom(msg.sender, self, amount, default_return_value=True), \
        "ai: token transfer failed (approve this contract first)"


@external
@nonreentrant
def withdraw(amount: uint256):
    """
    @notice Pay `amount` out of your balance (deposits and refunds).
    """
    assert amount > 0, "ai: zero amount"
    balance: uint256 = self.balanceOf[msg.sender]
    assert balance >= amount, "ai: amount exceeds balance"
    self.balanceOf[msg.sender] = balance - amount
    log Withdrawn(account=msg.sender, amount=amount)
    if staticcall token.balanceOf(self) < amount:
        # refunds pile up in this contract's JobMarket account: bring them into the wallet
        inMarket: uint256 = staticcall market.balanceOf(self)
        if inMarket > 0:
            extcall market.withdraw(inMarket)
    assert extcall token.transfer(msg.sender, amount, default_return_value=True), "ai: token transfer failed"


# --- requests ------------------------------------------------------------------------------


@internal
def _post(consumer: address, subscriptionId: uint256, modelCid: Bytes[MAX_CID], input: Bytes[MAX_INPUT_ARG], maxPrice: uint256, mode: uint8, gasLimit: uint256, policy: uint8, p: AIParams) -> uint256:
    # Post the job (escrow already collected here) and record the request.
    spec: Bytes[MAX_SPEC] = self._spec(modelCid, input, mode, p)
    self._cash(maxPrice)
    requestId: uint256 = extcall market.postJob(
        self._spec_cid(spec), maxPrice, bidWindow, block.timestamp + jobTimeout, mode, p.verificationParam
    )
    word: uint256 = convert(consumer, uint256) | (PENDING << 160) | (convert(policy, uint256) << 168) | (gasLimit << 192)
    if p.outputAsCid:
        word |= 1 << 184
    self._requests[requestId] = word
    if subscriptionId != 0:
        self.subscriptionOf[requestId] = subscriptionId
    log AIRequested(
        requestId=requestId, consumer=consumer, subscriptionId=subscriptionId, modelCid=modelCid,
        input=input, config=self._pack_config(p, mode, policy, gasLimit, False), maxPrice=maxPrice,
    )
    return requestId


@external
@nonreentrant
def requestAI(modelCid: Bytes[MAX_CID], input: Bytes[MAX_INPUT_ARG], maxPrice: uint256, verificationMode: uint8, callbackGasLimit: uint256, policy: uint8, params: AIParams) -> uint256:
    """
    @notice Ask model `modelCid` (registered in the Registry) for an answer on `input`
            (inline bytes, at most 1024, or a binary CID with params.inputIsCid), escrowing
            `maxPrice` from your balance here or your wallet (approve this contract). The
            answer comes to your `onAIResult` with at most `callbackGasLimit` gas, per
            `policy` (0 optimistic: at delivery; 1 final: after the challenge window).
            `verificationMode` is the JobMarket's (0 sampled, 1 redundant, 2 rescore, 3 zk,
            4 none) with params.verificationParam.
    @return The request id (the JobMarket job id).
    """
    self._check(modelCid, input, maxPrice, verificationMode, callbackGasLimit, policy, params)
    self._collect(msg.sender, maxPrice)
    return self._post(
        msg.sender, 0, modelCid, input, maxPrice, verificationMode,
        callbackGasLimit, policy, params,
    )


@internal
def _call_consumer(consumer: address, data: Bytes[1300], gasLimit: uint256) -> bool:
    if not consumer.is_contract:
        return True  # an account without code has nothing to call; the events carry the answer
    # EIP-150 passes at most 63/64 of the gas left to a call: make sure the consumer can get
    # its whole limit, so that nobody makes a good callback fail by sending too little gas.
    assert msg.gas >= gasLimit + gasLimit // 63 + CALLBACK_RESERVE, "ai: not enough gas to run the callback with its limit"
    return raw_call(consumer, data, gas=gasLimit, max_outsize=0, revert_on_failure=False)


@internal
def _result_callback(requestId: uint256, word: uint256, output: Bytes[MAX_OUTPUT], manifestCid: Bytes[MAX_CID], gasLimit: uint256):
    consumer: address = convert(word & MASK160, address)
    ok: bool = self._call_consumer(
        consumer,
        abi_encode(requestId, output, manifestCid, method_id=method_id("onAIResult(uint256,bytes,bytes)")),
        gasLimit,
    )
    if ok:
        self._requests[requestId] = self._with(word, 176, CB_OK)
    else:
        self._requests[requestId] = self._with(word, 176, CB_FAILED)
        if self._results[requestId] == empty(bytes32):
            self._results[requestId] = keccak256(abi_encode(output, manifestCid))
    log CallbackCalled(requestId=requestId, consumer=consumer, disputed=False, success=ok, gasLimit=gasLimit)


@internal
def _dispute_callback(requestId: uint256, word: uint256, gasLimit: uint256):
    consumer: address = convert(word & MASK160, address)
    ok: bool = self._call_consumer(
        consumer, abi_encode(requestId, method_id=method_id("onAIDisputed(uint256)")), gasLimit
    )
    if ok:
        self._requests[requestId] = self._with(word, 176, CB_OK)
    else:
        self._requests[requestId] = self._with(word, 176, CB_FAILED)
    log CallbackCalled(requestId=requestId, consumer=consumer, disputed=True, success=ok, gasLimit=gasLimit)


@internal
@view
def _check_result(requestId: uint256, output: Bytes[MAX_OUTPUT], manifestCid: Bytes[MAX_CID]):
    assert self._results[requestId] == keccak256(abi_encode(output, manifestCid)), \
        "ai: output or manifest differ from the delivered ones (see the AIDelivered event)"


@external
@nonreentrant
def deliver(requestId: uint256, output: Bytes[MAX_OUTPUT], manifestCid: Bytes[MAX_CID]):
    """
    @notice The job's assigned provider, once its result is committed on the JobMarket,
            delivers the answer: `output` (the inline answer, or the binary CID of the
            primary output file when the request asked for a CID) and the binary CID of the
            output's signed provenance manifest. Optimistic requests are called back now.
    """
    word: uint256 = self._requests[requestId]
    assert word != 0, "ai: unknown request"
    assert self._status(word) == PENDING, "ai: request already answered or closed"
    job: Job = staticcall market.getJob(requestId)
    assert job.provider == msg.sender, "ai: only the job's assigned provider delivers"
    assert job.status == JOB_COMMITTED or job.status == JOB_DISPUTED or job.status == JOB_FINALIZED, \
        "ai: commit the result on the JobMarket first"
    if (word >> 184) & 1 == 1:
        assert self._cid_ok(output), "ai: the request asked for the output's binary CID"
    assert self._cid_ok(manifestCid), "ai: malformed manifest CID"
    # the JobMarket gave back everything above price + fee when it assigned the job
    change: uint256 = job.maxPrice - job.price - job.price * feeBps // BPS
    self._credit(convert(word & MASK160, address), change)
    word = self._with(word, 160, DELIVERED)
    self._requests[requestId] = word
    log AIDelivered(requestId=requestId, provider=msg.sender, output=output, manifestCid=manifestCid, refunded=change)
    if (word >> 168) & 255 == convert(FINAL, uint256):
        self._results[requestId] = keccak256(abi_encode(output, manifestCid))
        return
    self._result_callback(requestId, word, output, manifestCid, (word >> 192) & MASK32)


@external
@nonreentrant
def release(requestId: uint256, output: Bytes[MAX_OUTPUT], manifestCid: Bytes[MAX_CID]):
    """
    @notice Call a `final` request's consumer back once its job is finalized (anyone may;
            the output and manifest are those of the AIDelivered event).
    """
    word: uint256 = self._requests[requestId]
    assert word != 0, "ai: unknown request"
    assert self._status(word) == DELIVERED, "ai: no delivered result to release"
    assert (word >> 168) & 255 == convert(FINAL, uint256), "ai: optimistic requests are called back at delivery"
    assert (word >> 176) & 255 == CB_NONE, "ai: already released (retry a failed callback with retryCallback)"
    job: Job = staticcall market.getJob(requestId)
    assert job.status == JOB_FINALIZED, "ai: the job is not finalized yet (challenge window or dispute)"
    self._check_result(requestId, output, manifestCid)
    self._result_callback(requestId, word, output, manifestCid, (word >> 192) & MASK32)


@external
@nonreentrant
def retryCallback(requestId: uint256, output: Bytes[MAX_OUTPUT], manifestCid: Bytes[MAX_CID], gasLimit: uint256):
    """
    @notice Call the consumer's `onAIResult` again after it failed (anyone may), with the
            output and manifest of the AIDelivered event and at least the request's gas
            limit (a higher one, up to the cap, if the consumer needs it).
    """
    word: uint256 = self._requests[requestId]
    assert word != 0, "ai: unknown request"
    assert self._status(word) == DELIVERED and (word >> 176) & 255 == CB_FAILED, \
        "ai: no failed result callback to retry"
    self._check_result(requestId, output, manifestCid)
    job: Job = staticcall market.getJob(requestId)
    assert job.status != JOB_REJECTED, "ai: the result was overturned; call settle"
    gas: uint256 = max(gasLimit, (word >> 192) & MASK32)
    assert gas <= maxCallbackGas, "ai: callback gas limit above the cap"
    self._result_callback(requestId, word, output, manifestCid, gas)


@external
@nonreentrant
def settle(requestId: uint256):
    """
    @notice Close a request whose job ended without a standing answer (anyone may): fraud
            proven, expired (the job is expired here when its deadline passed), or paid
            out without ever being delivered. The consumer's balance gets the refund and
            `onAIDisputed(requestId)` is called.
    """
    word: uint256 = self._requests[requestId]
    assert word != 0, "ai: unknown request"
    status: uint256 = self._status(word)
    assert status == PENDING or status == DELIVERED, "ai: request already closed"
    job: Job = staticcall market.getJob(requestId)
    compensation: uint256 = 0
    if (job.status == JOB_OPEN or job.status == JOB_ASSIGNED) and block.timestamp >= job.deadline:
        # An assigned provider that delivered nothing is slashed and part of it is sent to
        # the client, this contract: measure it to pass it on.
        before: uint256 = staticcall token.balanceOf(self)
        extcall market.expire(requestId)
        compensation = staticcall token.balanceOf(self) - before
        job.status = JOB_EXPIRED
    cost: uint256 = job.price + job.price * feeBps // BPS
    refund: uint256 = 0
    reason: uint8 = 0
    if job.status == JOB_REJECTED:
        reason = R_FRAUD_PROVEN
        refund = job.maxPrice
        if status == DELIVERED:
            refund = cost  # the change was credited at delivery
    elif job.status == JOB_EXPIRED:
        reason = R_EXPIRED
        refund = job.maxPrice
    elif job.status == JOB_FINALIZED and status == PENDING:
        reason = R_NOT_DELIVERED
        refund = job.maxPrice - cost
    else:
        raise "ai: nothing to settle: the job is still running or its result stands"
    consumer: address = convert(word & MASK160, address)
    self._credit(consumer, refund + compensation)
    word = self._with(self._with(word, 160, FAILED), 176, CB_NONE)
    self._requests[requestId] = word
    log AIRequestFailed(requestId=requestId, consumer=consumer, reason=reason, refunded=refund, compensation=compensation)
    self._dispute_callback(requestId, word, (word >> 192) & MASK32)


@external
@nonreentrant
def retryDisputeCallback(requestId: uint256, gasLimit: uint256):
    """
    @notice Call the consumer's `onAIDisputed` again after it failed (anyone may).
    """
    word: uint256 = self._requests[requestId]
    assert word != 0, "ai: unknown request"
    assert self._status(word) == FAILED and (word >> 176) & 255 == CB_FAILED, \
        "ai: no failed dispute callback to retry"
    gas: uint256 = max(gasLimit, (word >> 192) & MASK32)
    assert gas <= maxCallbackGas, "ai: callback gas limit above the cap"
    self._dispute_callback(requestId, word, gas)


# --- subscriptions ---------------------------------------------------------------------------


@external
@nonreentrant
def createSubscription(modelCid: Bytes[MAX_CID], input: Bytes[MAX_INPUT_ARG], maxPrice: uint256, verificationMode: uint8, callbackGasLimit: uint256, policy: uint8, params: AIParams, period: uint256, rounds: uint256, dynamicInput: bool) -> uint256:
    """
    @notice Prepay `rounds` requests of `maxPrice` each, one at most every `period` blocks
            (the first is due at once), all with these parameters. With `dynamicInput`,
            `input` is empty and each round's input is read from your
            `aiInput(subscriptionId, round)` view when the round is fired.
    @return The subscription id.
    """
    assert period > 0 and period < MAX_PERIOD, "ai: period must be 1..2**32-1 blocks"
    assert rounds > 0 and rounds <= MAX_ROUNDS, "ai: rounds must be 1..100000"
    inputHash: bytes32 = empty(bytes32)
    if dynamicInput:
        assert len(input) == 0, "ai: a dynamic-input subscription takes no fixed input"
        # the input is checked when each round is fired; check the rest now with a stand-in
        stand: Bytes[MAX_INPUT_ARG] = b"x"
        if params.inputIsCid:
            stand = concat(x"01551220", keccak256(b""))
        self._check(modelCid, stand, maxPrice, verificationMode, callbackGasLimit, policy, params)
    else:
        self._check(modelCid, input, maxPrice, verificationMode, callbackGasLimit, policy, params)
        inputHash = keccak256(input)
    subscriptionId: uint256 = self.subscriptionCount + 1
    self.subscriptionCount = subscriptionId
    config: uint256 = self._pack_config(params, verificationMode, policy, callbackGasLimit, dynamicInput)
    self._subscriptions[subscriptionId] = Subscription(
        consumer=msg.sender, modelCid=modelCid, inputHash=inputHash, config=config,
        maxPrice=maxPrice, schedule=block.number | (period << 64) | (rounds << 128),
    )
    log SubscriptionCreated(
        subscriptionId=subscriptionId, consumer=msg.sender, modelCid=modelCid, input=input,
        config=config, maxPrice=maxPrice, period=period, rounds=rounds,
    )
    self._collect(msg.sender, maxPrice * rounds)
    return subscriptionId


@external
@nonreentrant
def fireSubscription(subscriptionId: uint256, input: Bytes[MAX_INPUT_ARG]) -> uint256:
    """
    @notice Fire a subscription's next round once it is due (anyone may): a request paid
            from the subscription's prepaid rounds. `input` must be the subscription's
            fixed input; for a dynamic-input subscription pass empty bytes.
    @return The round's request id.
    """
    sub: Subscription = self._subscriptions[subscriptionId]
    assert sub.consumer != empty(address), "ai: unknown subscription"
    schedule: uint256 = sub.schedule
    left: uint256 = (schedule >> 128) & MASK64
    fired: uint256 = schedule >> 192
    assert left > 0, "ai: the subscription has no rounds left"
    assert block.number >= schedule & MASK64, "ai: the next round is not due yet"
    config: uint256 = sub.config
    p: AIParams = self._unpack_params(config)
    mode: uint8 = convert((config >> 128) & 255, uint8)
    policy: uint8 = convert((config >> 136) & 255, uint8)
    gasLimit: uint256 = (config >> 144) & MASK32
    roundInput: Bytes[MAX_INPUT_ARG] = input
    if (config >> 10) & 1 == 1:
        roundInput = staticcall IAIInputSource(sub.consumer).aiInput(subscriptionId, fired + 1, gas=500000)
    else:
        assert keccak256(input) == sub.inputHash, "ai: input differs from the subscription's"
    self._check(sub.modelCid, roundInput, sub.maxPrice, mode, gasLimit, policy, p)
    period: uint256 = (schedule >> 64) & MASK64
    self._subscriptions[subscriptionId].schedule = (block.number + period) | (period << 64) | ((left - 1) << 128) | ((fired + 1) << 192)
    requestId: uint256 = self._post(
        sub.consumer, subscriptionId, sub.modelCid, roundInput, sub.maxPrice,
        mode, gasLimit, policy, p,
    )
    log SubscriptionFired(subscriptionId=subscriptionId, requestId=requestId, round=fired + 1)
    return requestId


@external
@nonreentrant
def cancelSubscription(subscriptionId: uint256):
    """
    @notice End your subscription: the rounds not fired are refunded to your balance.
    """
    sub: Subscription = self._subscriptions[subscriptionId]
    assert sub.consumer != empty(address), "ai: unknown subscription"
    assert sub.consumer == msg.sender, "ai: only the subscriber cancels"
    left: uint256 = (sub.schedule >> 128) & MASK64
    assert left > 0, "ai: the subscription has no rounds left"
    self._subscriptions[subscriptionId].schedule = sub.schedule & ~(MASK64 << 128)
    refund: uint256 = sub.maxPrice * left
    self._credit(msg.sender, refund)
    log SubscriptionCancelled(subscriptionId=subscriptionId, refunded=refund)


# --- views -----------------------------------------------------------------------------------


@external
@view
def getRequest(requestId: uint256) -> Request:
    """
    @notice A request's state (status 0 = unknown, 1 pending, 2 delivered, 3 failed;
            callback 0 not called, 1 succeeded, 2 failed).
    """
    word: uint256 = self._requests[requestId]
    return Request(
        consumer=convert(word & MASK160, address),
        status=convert(self._status(word), uint8),
        policy=convert((word >> 168) & 255, uint8),
        callback=convert((word >> 176) & 255, uint8),
        outputAsCid=(word >> 184) & 1 == 1,
        callbackGasLimit=(word >> 192) & MASK32,
        subscriptionId=self.subscriptionOf[requestId],
        resultHash=self._results[requestId],
    )


@external
@view
def getSubscription(subscriptionId: uint256) -> Subscription:
    """
    @notice A subscription as stored: `config` packs AIParams, the verification mode, the
            policy, the callback gas and the dynamic-input flag (bits in `_pack_config`);
            `schedule` packs the next block, the period, rounds left and rounds fired.
    """
    return self._subscriptions[subscriptionId]


@external
@pure
def specFor(modelCid: Bytes[MAX_CID], input: Bytes[MAX_INPUT_ARG], verificationMode: uint8, params: AIParams) -> (Bytes[MAX_SPEC], Bytes[36]):
    """
    @notice The workload spec a request with these parameters posts, and its CID (no checks).
    """
    spec: Bytes[MAX_SPEC] = self._spec(modelCid, input, verificationMode, params)
    return spec, self._spec_cid(spec)
