# pragma version ~=0.4.3
"""
@title deai receipt disputes (fast-path receipt challenges)
@notice Validators sample the receipts providers anchor in `Anchors` and re-run them; a
        validator that finds a wrong response challenges on chain with the signed receipt,
        its Merkle proof against the provider's anchored batch and the CID of its evidence
        (receipt, proof, request and response bodies), posting `challengeBond`. A committee
        of other active validators, drawn at random, votes within `voteWindow`. A fraud
        majority slashes the provider `max(minSlash, price / p + 1)` through Staking (the
        challenger gets Staking's beneficiary share) and returns the bond; a majority for
        the receipt splits the bond among the members who voted so (rounding dust to the
        treasury); a tie or no votes returns the bond.
@dev Rules a challenge must meet, each with its revert reason:
       - the receipt is the EIP-712 `DeaiReceipt` of deai.node.fastpath.receipts, domain
         ("deai-receipts", "1", chainId, Anchors address); its digest, recomputed here,
         is the dispute id and the Merkle leaf;
       - the signature is 65 bytes r ‖ s ‖ v, v in {27, 28}, s in the lower half (EIP-2),
         and recovers to `receipt.provider`;
       - `Anchors.verifyInclusion(provider, anchorSequence, digest, proof)` holds;
       - the caller is an active staked validator (Registry) and not the provider;
       - issuedAt <= now < issuedAt + challengeWindow (a receipt "from the future" is
         refused too: its window has not started);
       - one dispute per receipt, ever (whatever its outcome);
       - the evidence CID is a binary CID ending in a sha2-256 multihash.
     Why the slash: a validator re-runs a fraction p = sampleBps / 10000 of the receipts,
     so a provider that fakes a response gains at most its price and loses the slash with
     probability p; cheating does not pay once p * slash > price, i.e. slash > price / p.
     `minSlash` keeps the slash worth a committee's time for cheap receipts.
     Storage, two words a dispute besides the committee and ballots (keyed by digest):
       head = challenger (bits 0-159) | fraud votes (160-167) | valid votes (168-175)
              | status (176-183) | voteEnd (184-223) | challenge block (224-255)
       body = provider (0-159) | slash amount (160-255)
     The receipt fields, proof and evidence CID are in ReceiptChallenged, which the
     challenge block locates; storing them would cost 22,100 gas a slot. The bond is
     `challengeBond` (an immutable), so it is not stored either.
     Funds: token.balanceOf(this) == challengeBond * (open disputes); payouts are pushed
     at `resolve`. Functions that call a mutating function elsewhere take the reentrancy
     lock and follow checks-effects-interactions.
"""

from ethereum.ercs import IERC20

from . import committee


interface IStaking:
    def slash(who: address, amount: uint256, beneficiary: address) -> uint256: nonpayable

interface IRegistry:
    def isActiveValidator(who: address) -> bool: view

interface IAnchors:
    def verifyInclusion(provider: address, sequence: uint256, leaf: bytes32, proof: DynArray[bytes32, MAX_PROOF_LENGTH]) -> bool: view


struct Receipt:
    provider: address
    channelId: bytes32
    sequence: uint256
    requestHash: bytes32
    responseHash: bytes32
    model: String[MAX_MODEL_LENGTH]
    price: uint256
    cumulativeAmount: uint256
    issuedAt: uint256

struct Dispute:
    challenger: address
    provider: address
    status: uint8
    fraudVotes: uint256
    validVotes: uint256
    voteEnd: uint256
    slashAmount: uint256
    challengeBlock: uint256
    committee: DynArray[address, MAX_COMMITTEE]


event ReceiptChallenged:
    digest: indexed(bytes32)
    provider: indexed(address)
    challenger: indexed(address)
    receiptSequence: uint256
    anchorSequence: uint256
    evidenceCid: Bytes[64]
    committee: DynArray[address, MAX_COMMITTEE]
    voteEnd: uint256
    reason: uint8

event ReceiptVoteCast:
    digest: indexed(bytes32)
    validator: indexed(address)
    fraud: bool
    reason: uint8

event ReceiptDisputeResolved:
    digest: indexed(bytes32)
    provider: indexed(address)
    status: uint8
    reason: uint8
    slashed: uint256
    bondReturned: uint256


# --- statuses (deai.chain.types.ReceiptDisputeStatus) ---------------------------------------
OPEN: constant(uint256) = 1
REJECTED: constant(uint256) = 2
UPHELD: constant(uint256) = 3

# --- reason codes (deai.chain.types.ReceiptReason) ------------------------------------------
R_CHALLENGED: constant(uint8) = 1
R_VOTE_CAST: constant(uint8) = 2
R_FRAUD_PROVEN: constant(uint8) = 3
R_RESPONSE_UPHELD: constant(uint8) = 4
R_NO_VERDICT: constant(uint8) = 5

BPS: constant(uint256) = 10000
MAX_COMMITTEE: constant(uint256) = committee.MAX_COMMITTEE
MAX_PROOF_LENGTH: constant(uint256) = 64
MAX_MODEL_LENGTH: constant(uint256) = 256
MAX_WINDOW: constant(uint256) = 30 * 86400

MASK32: constant(uint256) = 2**32 - 1
MASK40: constant(uint256) = 2**40 - 1
MASK96: constant(uint256) = 2**96 - 1
MASK160: constant(uint256) = 2**160 - 1

DOMAIN_TYPEHASH: constant(bytes32) = keccak256(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
RECEIPT_TYPEHASH: constant(bytes32) = keccak256(
    "DeaiReceipt(address provider,bytes32 channelId,uint256 sequence,bytes32 requestHash,bytes32 responseHash,string model,uint256 price,uint256 cumulativeAmount,uint256 issuedAt)"
)
NAME_HASH: constant(bytes32) = keccak256("deai-receipts")
VERSION_HASH: constant(bytes32) = keccak256("1")
# Upper-half s values are the malleable twins of lower-half ones (EIP-2).
SECP256K1N_HALF: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168  # n // 2

token: public(immutable(IERC20))
staking: public(immutable(IStaking))
registry: public(immutable(IRegistry))
anchors: public(immutable(IAnchors))
treasury: public(immutable(address))
challengeWindow: public(immutable(uint256))
voteWindow: public(immutable(uint256))
challengeBond: public(immutable(uint256))
committeeSize: public(immutable(uint256))
minSlash: public(immutable(uint256))
# the fraction p of receipts validators re-run, in basis points
sampleBps: public(immutable(uint256))
# The separator depends on chain.id; after a fork it is recomputed rather than trusted.
CACHED_CHAIN_ID: immutable(uint256)
CACHED_DOMAIN_SEPARATOR: immutable(bytes32)

_head: HashMap[bytes32, uint256]
_body: HashMap[bytes32, uint256]
_committees: HashMap[bytes32, DynArray[address, MAX_COMMITTEE]]
# 1 = committee member who has not voted, 2 = voted fraud, 3 = voted valid
_ballots: HashMap[bytes32, HashMap[address, uint256]]


@deploy
def __init__(
    token_: IERC20,
    staking_: IStaking,
    registry_: IRegistry,
    anchors_: IAnchors,
    treasury_: address,
    challengeWindow_: uint256,
    voteWindow_: uint256,
    challengeBond_: uint256,
    committeeSize_: uint256,
    minSlash_: uint256,
    sampleBps_: uint256,
):
    assert token_.address != empty(address), "receipts: token is the zero address"
    assert staking_.address != empty(address), "receipts: staking is the zero address"
    assert registry_.address != empty(address), "receipts: registry is the zero address"
    assert anchors_.address != empty(address), "receipts: anchors is the zero address"
    assert treasury_ != empty(address), "receipts: treasury is the zero address"
    assert challengeWindow_ > 0 and challengeWindow_ <= MAX_WINDOW, "receipts: bad challenge window"
    assert voteWindow_ > 0 and voteWindow_ <= MAX_WINDOW, "receipts: bad vote window"
    assert challengeBond_ > 0, "receipts: zero challenge bond"
    assert committeeSize_ > 0 and committeeSize_ <= MAX_COMMITTEE, "receipts: bad committee size"
    assert minSlash_ <= MASK96, "receipts: minimum slash too large"
    assert sampleBps_ > 0 and sampleBps_ <= BPS, "receipts: sample rate must be 1..10000 basis points"
    token = token_
    staking = staking_
    registry = registry_
    anchors = anchors_
    treasury = treasury_
    challengeWindow = challengeWindow_
    voteWindow = voteWindow_
    challengeBond = challengeBond_
    committeeSize = committeeSize_
    minSlash = minSlash_
    sampleBps = sampleBps_
    CACHED_CHAIN_ID = chain.id
    CACHED_DOMAIN_SEPARATOR = self._build_domain_separator()


# --- receipts ----------------------------------------------------------------------------


@internal
@view
def _domain_separator() -> bytes32:
    if chain.id == CACHED_CHAIN_ID:
        return CACHED_DOMAIN_SEPARATOR
    return self._build_domain_separator()


@internal
@view
def _build_domain_separator() -> bytes32:
    return keccak256(abi_encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, chain.id, anchors.address))


@internal
@view
def _digest(r: Receipt) -> bytes32:
    structHash: bytes32 = keccak256(abi_encode(
        RECEIPT_TYPEHASH, r.provider, r.channelId, r.sequence, r.requestHash, r.responseHash,
        keccak256(r.model), r.price, r.cumulativeAmount, r.issuedAt,
    ))
    return keccak256(concat(b"\x19\x01", self._domain_separator(), structHash))


@internal
@pure
def _signer(digest: bytes32, signature: Bytes[65]) -> address:
    assert len(signature) == 65, "receipts: signature must be 65 bytes"
    r: uint256 = convert(extract32(signature, 0), uint256)
    s: uint256 = convert(extract32(signature, 32), uint256)
    v: uint256 = convert(slice(signature, 64, 1), uint256)
    assert v == 27 or v == 28, "receipts: bad signature (v)"
    assert s <= SECP256K1N_HALF, "receipts: bad signature (malleable s)"
    signer: address = ecrecover(digest, v, r, s)
    assert signer != empty(address), "receipts: bad signature"
    return signer


@internal
@view
def _slash_for(price: uint256) -> uint256:
    # price / p + 1 (strictly above price / p), at least minSlash; capped at 2**96 - 1,
    # far above any stake, so that it packs into the dispute's body word
    if price >= MASK96:
        return MASK96
    return min(max(minSlash, price * BPS // sampleBps + 1), MASK96)


@internal
@pure
def _check_cid(cid: Bytes[64]):
    # A binary CID ends in a sha2-256 multihash: 0x12 0x20 then the 32-byte digest. CIDv0 is
    # the bare multihash (34 bytes); CIDv1 adds a version (0x01) and a codec varint first.
    n: uint256 = len(cid)
    assert n >= 34, "receipts: malformed evidence CID"
    assert convert(slice(cid, n - 34, 2), bytes2) == 0x1220, "receipts: evidence CID is not sha2-256"
    if n > 34:
        assert convert(slice(cid, 0, 1), bytes1) == 0x01, "receipts: malformed evidence CID"


# --- views -------------------------------------------------------------------------------


@external
@view
def receiptDigest(receipt: Receipt) -> bytes32:
    """
    @notice The receipt's EIP-712 digest: what the provider signed, its Merkle leaf and its
            dispute id.
    """
    return self._digest(receipt)


@external
@view
def domainSeparator() -> bytes32:
    return self._domain_separator()


@external
@view
def receiptSigner(receipt: Receipt, signature: Bytes[65]) -> address:
    """
    @notice The address that signed the receipt; reverts on a malformed signature.
    """
    return self._signer(self._digest(receipt), signature)


@external
@view
def slashFor(price: uint256) -> uint256:
    """
    @notice What a provider loses when a receipt of this price is proven wrong (before
            the cap of its stake): max(minSlash, price * 10000 / sampleBps + 1).
    """
    return self._slash_for(price)


@external
@view
def getDispute(digest: bytes32) -> Dispute:
    head: uint256 = self._head[digest]
    body: uint256 = self._body[digest]
    return Dispute(
        challenger=convert(head & MASK160, address), provider=convert(body & MASK160, address),
        status=convert((head >> 176) & 255, uint8), fraudVotes=(head >> 160) & 255,
        validVotes=(head >> 168) & 255, voteEnd=(head >> 184) & MASK40, slashAmount=body >> 160,
        challengeBlock=head >> 224, committee=self._committees[digest],
    )


@external
@view
def ballotOf(digest: bytes32, validator: address) -> uint256:
    """
    @notice 0 = not on the committee, 1 = not voted yet, 2 = voted fraud, 3 = voted valid.
    """
    return self._ballots[digest][validator]


# --- disputes ----------------------------------------------------------------------------


@external
@nonreentrant
def challenge(
    receipt: Receipt, signature: Bytes[65], anchorSequence: uint256,
    proof: DynArray[bytes32, MAX_PROOF_LENGTH], evidenceCid: Bytes[64],
) -> bytes32:
    """
    @notice Dispute an anchored receipt whose response the caller found wrong, posting
            `challengeBond` (needs an allowance). `proof` leads from the receipt's digest
            to the root `receipt.provider` anchored as `anchorSequence`; `evidenceCid`
            (binary CID) names the evidence the committee checks.
    @return The dispute id: the receipt's digest.
    """
    digest: bytes32 = self._digest(receipt)
    provider: address = receipt.provider
    assert self._signer(digest, signature) == provider, "receipts: receipt not signed by its provider"
    assert block.timestamp >= receipt.issuedAt, "receipts: receipt issued in the future"
    # no overflow: issuedAt <= block.timestamp here
    assert block.timestamp < receipt.issuedAt + challengeWindow, "receipts: challenge window closed"
    assert self._head[digest] == 0, "receipts: receipt already challenged"
    assert staticcall anchors.verifyInclusion(provider, anchorSequence, digest, proof), \
        "receipts: receipt not in the anchored batch"
    assert msg.sender != provider, "receipts: a provider cannot challenge its own receipt"
    assert staticcall registry.isActiveValidator(msg.sender), "receipts: not an active staked validator"
    self._check_cid(evidenceCid)
    members: DynArray[address, MAX_COMMITTEE] = committee.draw(
        committee.IValidatorSet(registry.address),
        keccak256(abi_encode(block.prevrandao, digest, msg.sender)), committeeSize, [msg.sender, provider],
    )
    assert len(members) > 0, "receipts: no validators left to form a committee"

    voteEnd: uint256 = block.timestamp + voteWindow
    self._head[digest] = (
        convert(msg.sender, uint256) | (OPEN << 176) | (voteEnd << 184) | ((block.number & MASK32) << 224)
    )
    self._body[digest] = convert(provider, uint256) | (self._slash_for(receipt.price) << 160)
    self._committees[digest] = members
    for member: address in members:
        self._ballots[digest][member] = 1
    log ReceiptChallenged(
        digest=digest, provider=provider, challenger=msg.sender, receiptSequence=receipt.sequence,
        anchorSequence=anchorSequence, evidenceCid=evidenceCid, committee=members, voteEnd=voteEnd,
        reason=R_CHALLENGED,
    )
    assert extcall token.transferFrom(msg.sender, self, challengeBond, default_return_value=True), \
        "receipts: token transfer failed"
    return digest


@external
def vote(digest: bytes32, fraud: bool):
    """
    @notice A committee member votes: `fraud` = the receipt's response is wrong.
    """
    head: uint256 = self._head[digest]
    assert (head >> 176) & 255 == OPEN, "receipts: no open dispute for this receipt"
    assert block.timestamp < (head >> 184) & MASK40, "receipts: vote closed"
    ballot: uint256 = self._ballots[digest][msg.sender]
    assert ballot != 0, "receipts: not on this dispute's committee"
    assert ballot == 1, "receipts: already voted"
    if fraud:
        self._ballots[digest][msg.sender] = 2
        self._head[digest] = head + (1 << 160)
    else:
        self._ballots[digest][msg.sender] = 3
        self._head[digest] = head + (1 << 168)
    log ReceiptVoteCast(digest=digest, validator=msg.sender, fraud=fraud, reason=R_VOTE_CAST)


@internal
def _send(to: address, amount: uint256):
    if amount > 0:
        assert extcall token.transfer(to, amount, default_return_value=True), "receipts: token transfer failed"


@external
@nonreentrant
def resolve(digest: bytes32):
    """
    @notice End a dispute once every member voted or the vote closed (anyone may). A
            fraud majority slashes the provider and returns the bond; a majority for the
            receipt splits the bond among those who voted so; a tie or no votes returns it.
    """
    head: uint256 = self._head[digest]
    assert (head >> 176) & 255 == OPEN, "receipts: no open dispute for this receipt"
    challenger: address = convert(head & MASK160, address)
    fraudVotes: uint256 = (head >> 160) & 255
    validVotes: uint256 = (head >> 168) & 255
    members: DynArray[address, MAX_COMMITTEE] = self._committees[digest]
    assert fraudVotes + validVotes == len(members) or block.timestamp >= (head >> 184) & MASK40, \
        "receipts: vote still open"
    body: uint256 = self._body[digest]
    provider: address = convert(body & MASK160, address)
    cleared: uint256 = head & ~(255 << 176)
    if fraudVotes > validVotes:
        self._head[digest] = cleared | (REJECTED << 176)
        slashed: uint256 = extcall staking.slash(provider, body >> 160, challenger)
        self._send(challenger, challengeBond)
        log ReceiptDisputeResolved(
            digest=digest, provider=provider, status=convert(REJECTED, uint8), reason=R_FRAUD_PROVEN,
            slashed=slashed, bondReturned=challengeBond,
        )
        return
    self._head[digest] = cleared | (UPHELD << 176)
    if validVotes > fraudVotes:
        share: uint256 = challengeBond // validVotes
        for member: address in members:
            if self._ballots[digest][member] == 3:
                self._send(member, share)
        self._send(treasury, challengeBond - share * validVotes)
        log ReceiptDisputeResolved(
            digest=digest, provider=provider, status=convert(UPHELD, uint8), reason=R_RESPONSE_UPHELD,
            slashed=0, bondReturned=0,
        )
        return
    self._send(challenger, challengeBond)
    log ReceiptDisputeResolved(
        digest=digest, provider=provider, status=convert(UPHELD, uint8), reason=R_NO_VERDICT,
        slashed=0, bondReturned=challengeBond,
    )
