# pragma version ~=0.4.3
"""
@title deai payment channels
@notice Unidirectional client -> provider channels in one ERC-20 token. The client opens a
        channel with a deposit and pays per request off chain with EIP-712 vouchers for
        the new cumulative amount; the provider redeems the latest voucher whenever it
        likes (the channel stays open) or closes the channel with it (the rest goes back
        to the client). A client who wants out starts a close; during the challenge
        period the provider may still redeem or close with a newer voucher; after it,
        anyone may settle and the client gets the unpaid deposit back.
@dev Voucher: EIP-712 `Voucher(bytes32 channelId,uint256 cumulativeAmount)` under the domain
     (name "deai-channels", version "1", chainId, verifyingContract = this contract), so a
     voucher for another chain or another deployment never verifies here. A voucher is
     never paid twice: the contract keeps the cumulative amount paid so far and pays only
     the difference to a strictly higher voucher. Storage is deleted when a channel ends;
     a channel id is never reused (it commits to a counter), so an old voucher then meets
     "unknown channel". Checks, then effects, then the token transfers (CEI), and every
     state-changing entry point is non-reentrant.
     Funds: token.balanceOf(this) == sum over live channels of (deposit - paid).
"""

from ethereum.ercs import IERC20

struct Channel:
    client: address
    provider: address
    # total ever deposited (open + top-ups)
    deposit: uint256
    # cumulative amount already paid to the provider
    paid: uint256
    # 0 while open; once the client starts a close, the time from which `settle` works
    closesAt: uint256

event ChannelOpened:
    channelId: indexed(bytes32)
    client: indexed(address)
    provider: indexed(address)
    deposit: uint256
    challengePeriod: uint256

event ChannelToppedUp:
    channelId: indexed(bytes32)
    client: indexed(address)
    amount: uint256
    deposit: uint256

event VoucherRedeemed:
    channelId: indexed(bytes32)
    provider: indexed(address)
    cumulativeAmount: uint256
    payout: uint256

event CloseStarted:
    channelId: indexed(bytes32)
    client: indexed(address)
    provider: indexed(address)
    closesAt: uint256

event ChannelClosed:
    channelId: indexed(bytes32)
    client: indexed(address)
    provider: indexed(address)
    cumulativeAmount: uint256
    payout: uint256
    refund: uint256

event ChannelSettled:
    channelId: indexed(bytes32)
    client: indexed(address)
    provider: indexed(address)
    paid: uint256
    refund: uint256

DOMAIN_TYPEHASH: constant(bytes32) = keccak256(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
VOUCHER_TYPEHASH: constant(bytes32) = keccak256("Voucher(bytes32 channelId,uint256 cumulativeAmount)")
NAME_HASH: constant(bytes32) = keccak256("deai-channels")
VERSION_HASH: constant(bytes32) = keccak256("1")
# Signatures with s in the upper half of the curve order are the malleable twins of
# lower-half ones (EIP-2); accepting only one form keeps a signature's bytes unique.
SECP256K1N_HALF: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168  # n // 2
MAX_CHALLENGE_PERIOD: constant(uint256) = 30 * 86400

token: public(immutable(IERC20))
challengePeriod: public(immutable(uint256))
# The separator depends on chain.id; after a fork it is recomputed rather than trusted.
CACHED_CHAIN_ID: immutable(uint256)
CACHED_DOMAIN_SEPARATOR: immutable(bytes32)

channels: public(HashMap[bytes32, Channel])
# Counts every channel ever opened; committed into the channel id so ids never repeat.
channelCount: public(uint256)


@deploy
def __init__(token_: IERC20, challengePeriod_: uint256):
    assert token_.address != empty(address), "channels: token is the zero address"
    assert challengePeriod_ > 0, "channels: zero challenge period"
    assert challengePeriod_ <= MAX_CHALLENGE_PERIOD, "channels: challenge period too long"
    token = token_
    challengePeriod = challengePeriod_
    CACHED_CHAIN_ID = chain.id
    CACHED_DOMAIN_SEPARATOR = self._build_domain_separator()


# --- views -------------------------------------------------------------------------------


@external
@view
def domainSeparator() -> bytes32:
    return self._domain_separator()


@external
@view
def voucherDigest(channelId: bytes32, cumulativeAmount: uint256) -> bytes32:
    """
    @notice The EIP-712 digest a client signs for a voucher (what eth_signTypedData_v4 signs).
    """
    return self._voucher_digest(channelId, cumulativeAmount)


@external
@view
def voucherSigner(channelId: bytes32, cumulativeAmount: uint256, signature: Bytes[65]) -> address:
    """
    @notice The address that signed the voucher; reverts on a malformed signature.
    """
    return self._signer(self._voucher_digest(channelId, cumulativeAmount), signature)


@external
@view
def available(channelId: bytes32) -> uint256:
    """
    @notice Deposit not yet paid to the provider: the most a new voucher can add.
    """
    c: Channel = self.channels[channelId]
    return c.deposit - c.paid


# --- client ------------------------------------------------------------------------------


@external
@nonreentrant
def open(provider: address, deposit: uint256) -> bytes32:
    """
    @notice Open a channel to `provider` funded with `deposit` tokens (needs an allowance).
    @return The channel id, also in the ChannelOpened event.
    """
    assert provider != empty(address), "channels: provider is the zero address"
    assert provider != msg.sender, "channels: client and provider are the same"
    assert deposit > 0, "channels: zero deposit"
    nonce: uint256 = self.channelCount
    channelId: bytes32 = keccak256(abi_encode(chain.id, self, msg.sender, provider, nonce))
    self.channelCount = nonce + 1
    self.channels[channelId] = Channel(
        client=msg.sender, provider=provider, deposit=deposit, paid=0, closesAt=0
    )
    log ChannelOpened(
        channelId=channelId, client=msg.sender, provider=provider, deposit=deposit,
        challengePeriod=challengePeriod,
    )
    assert extcall token.transferFrom(msg.sender, self, deposit, default_return_value=True), \
        "channels: token transfer failed"
    return channelId


@external
@nonreentrant
def topUp(channelId: bytes32, amount: uint256):
    """
    @notice Add `amount` tokens to an open channel (client only; not while closing).
    """
    assert amount > 0, "channels: zero amount"
    c: Channel = self.channels[channelId]
    assert c.client != empty(address), "channels: unknown channel"
    assert msg.sender == c.client, "channels: only the client tops up"
    assert c.closesAt == 0, "channels: channel is closing"
    newDeposit: uint256 = c.deposit + amount
    self.channels[channelId].deposit = newDeposit
    log ChannelToppedUp(channelId=channelId, client=msg.sender, amount=amount, deposit=newDeposit)
    assert extcall token.transferFrom(msg.sender, self, amount, default_return_value=True), \
        "channels: token transfer failed"


@external
@nonreentrant
def startClose(channelId: bytes32) -> uint256:
    """
    @notice Client asks to close; the provider has `challengePeriod` seconds to redeem or
            close with its latest voucher, then anyone may `settle`.
    @return The time from which `settle` works.
    """
    c: Channel = self.channels[channelId]
    assert c.client != empty(address), "channels: unknown channel"
    assert msg.sender == c.client, "channels: only the client starts a close"
    assert c.closesAt == 0, "channels: close already started"
    closesAt: uint256 = block.timestamp + challengePeriod
    self.channels[channelId].closesAt = closesAt
    log CloseStarted(channelId=channelId, client=c.client, provider=c.provider, closesAt=closesAt)
    return closesAt


@external
@nonreentrant
def settle(channelId: bytes32) -> uint256:
    """
    @notice After the challenge period, end the channel and refund the unpaid deposit to the
            client. Anyone may call it: the money can only go to the client.
    @return The refund.
    """
    c: Channel = self.channels[channelId]
    assert c.client != empty(address), "channels: unknown channel"
    assert c.closesAt != 0, "channels: no close was started"
    assert block.timestamp >= c.closesAt, "channels: challenge period not over"
    refund: uint256 = c.deposit - c.paid
    self.channels[channelId] = empty(Channel)
    log ChannelSettled(
        channelId=channelId, client=c.client, provider=c.provider, paid=c.paid, refund=refund
    )
    if refund > 0:
        assert extcall token.transfer(c.client, refund, default_return_value=True), \
            "channels: token transfer failed"
    return refund


# --- provider ----------------------------------------------------------------------------


@external
@nonreentrant
def redeem(channelId: bytes32, cumulativeAmount: uint256, signature: Bytes[65]) -> uint256:
    """
    @notice Provider claims `cumulativeAmount - paid` with the client's voucher; the channel
            stays open. Works until a started close's challenge period is over.
    @return The amount paid by this call.
    """
    c: Channel = self.channels[channelId]
    self._check_provider_call(c)
    assert cumulativeAmount > c.paid, "channels: stale voucher"
    assert cumulativeAmount <= c.deposit, "channels: voucher exceeds the deposit"
    self._check_voucher(c.client, channelId, cumulativeAmount, signature)
    payout: uint256 = cumulativeAmount - c.paid
    self.channels[channelId].paid = cumulativeAmount
    log VoucherRedeemed(
        channelId=channelId, provider=c.provider, cumulativeAmount=cumulativeAmount, payout=payout
    )
    assert extcall token.transfer(c.provider, payout, default_return_value=True), \
        "channels: token transfer failed"
    return payout


@external
@nonreentrant
def close(channelId: bytes32, cumulativeAmount: uint256, signature: Bytes[65]) -> uint256:
    """
    @notice Provider ends the channel with its latest voucher: it gets `cumulativeAmount - paid`,
            the client gets `deposit - cumulativeAmount`. With `cumulativeAmount == paid` no
            voucher is needed (the provider only gives the rest back) and `signature` may be empty.
    @return The amount paid to the provider by this call.
    """
    c: Channel = self.channels[channelId]
    self._check_provider_call(c)
    assert cumulativeAmount >= c.paid, "channels: stale voucher"
    assert cumulativeAmount <= c.deposit, "channels: voucher exceeds the deposit"
    payout: uint256 = cumulativeAmount - c.paid
    if payout > 0:
        self._check_voucher(c.client, channelId, cumulativeAmount, signature)
    refund: uint256 = c.deposit - cumulativeAmount
    self.channels[channelId] = empty(Channel)
    log ChannelClosed(
        channelId=channelId, client=c.client, provider=c.provider,
        cumulativeAmount=cumulativeAmount, payout=payout, refund=refund,
    )
    if payout > 0:
        assert extcall token.transfer(c.provider, payout, default_return_value=True), \
            "channels: token transfer failed"
    if refund > 0:
        assert extcall token.transfer(c.client, refund, default_return_value=True), \
            "channels: token transfer failed"
    return payout


# --- internals ---------------------------------------------------------------------------


@internal
@view
def _check_provider_call(c: Channel):
    assert c.client != empty(address), "channels: unknown channel"
    assert msg.sender == c.provider, "channels: only the provider redeems or closes"
    # Once the period is over the client's refund is due; a late voucher would race `settle`.
    assert c.closesAt == 0 or block.timestamp < c.closesAt, "channels: challenge period is over"


@internal
@view
def _check_voucher(client: address, channelId: bytes32, cumulativeAmount: uint256, signature: Bytes[65]):
    signer: address = self._signer(self._voucher_digest(channelId, cumulativeAmount), signature)
    assert signer == client, "channels: voucher not signed by the client"


@internal
@view
def _voucher_digest(channelId: bytes32, cumulativeAmount: uint256) -> bytes32:
    structHash: bytes32 = keccak256(abi_encode(VOUCHER_TYPEHASH, channelId, cumulativeAmount))
    return keccak256(concat(b"\x19\x01", self._domain_separator(), structHash))


@internal
@view
def _domain_separator() -> bytes32:
    if chain.id == CACHED_CHAIN_ID:
        return CACHED_DOMAIN_SEPARATOR
    return self._build_domain_separator()


@internal
@view
def _build_domain_separator() -> bytes32:
    return keccak256(abi_encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, chain.id, self))


@internal
@pure
def _signer(digest: bytes32, signature: Bytes[65]) -> address:
    assert len(signature) == 65, "channels: signature must be 65 bytes"
    r: uint256 = convert(extract32(signature, 0), uint256)
    s: uint256 = convert(extract32(signature, 32), uint256)
    v: uint256 = convert(slice(signature, 64, 1), uint256)
    assert v == 27 or v == 28, "channels: bad signature (v)"
    assert s <= SECP256K1N_HALF, "channels: bad signature (malleable s)"
    signer: address = ecrecover(digest, v, r, s)
    assert signer != empty(address), "channels: bad signature"
    return signer
