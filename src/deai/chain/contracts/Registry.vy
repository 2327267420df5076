# pragma version ~=0.4.3
"""
@title deai registry
@notice Who provides compute and at what price, who validates, and which models and
        datasets exist (CID, owner, licence, lineage). An address's did:pkh is
        did:pkh:eip155:<chain id>:<address>, so it needs no storage here.
@dev Providers and validators must hold at least a minimum stake in Staking to register.
     The registry is a locker of Staking: while a provider (validator) is active, its
     minimum stake cannot unbond, so pausing comes first. That makes the active state
     alone mean "registered and staked" for the job market's bid check (`providerStateOf`,
     one storage read); only slashing can take an active provider below the minimum,
     which `isActiveProvider`/`isActiveValidator` also check, and the market checks the
     collateral a job needs when it assigns the job.
     CIDs arrive as binary CIDs (`Bytes[64]`: version, codec, multihash); storage keeps
     their 32-byte sha2-256 digest and events carry the full CID.
"""

from ethereum.ercs import IERC20


interface IStaking:
    def stakeOf(who: address) -> uint256: view


struct Provider:
    # first, and one word, so the job market's eligibility check costs one storage read
    state: uint8
    capabilityDigest: bytes32
    endpoint: String[256]

struct Asset:
    owner: address
    # 1 = model, 2 = dataset
    kind: uint8
    licenceDigest: bytes32
    registeredAt: uint256


event ProviderRegistered:
    provider: indexed(address)
    endpoint: String[256]
    capabilityCid: Bytes[64]
    prices: DynArray[uint256, MAX_KINDS]

event ProviderUpdated:
    provider: indexed(address)
    endpoint: String[256]
    capabilityCid: Bytes[64]
    prices: DynArray[uint256, MAX_KINDS]

event ProviderActiveSet:
    provider: indexed(address)
    active: bool

event ValidatorRegistered:
    validator: indexed(address)
    index: uint256

event ValidatorActiveSet:
    validator: indexed(address)
    active: bool

event ValidatorEndpointSet:
    validator: indexed(address)
    endpoint: String[256]

event AssetRegistered:
    digest: indexed(bytes32)
    owner: indexed(address)
    kind: uint8
    cid: Bytes[64]
    licenceCid: Bytes[64]
    parentCids: DynArray[Bytes[64], MAX_PARENTS]

event AssetTransferred:
    digest: indexed(bytes32)
    previousOwner: indexed(address)
    owner: indexed(address)


MAX_KINDS: constant(uint256) = 16
# Provider.state
UNREGISTERED: constant(uint8) = 0
ACTIVE: constant(uint8) = 1
PAUSED: constant(uint8) = 2
MAX_PARENTS: constant(uint256) = 8
KIND_MODEL: constant(uint8) = 1
KIND_DATASET: constant(uint8) = 2

token: public(immutable(IERC20))
staking: public(immutable(IStaking))
minProviderStake: public(immutable(uint256))
minValidatorStake: public(immutable(uint256))

providers: public(HashMap[address, Provider])
# price per unit of work, by workload kind (deai.chain.types.WorkloadKind); 0 = not offered
prices: public(HashMap[address, HashMap[uint256, uint256]])
providerCount: public(uint256)

validatorAt: public(HashMap[uint256, address])
validatorCount: public(uint256)
# 1 + index into validatorAt, 0 = never registered
validatorSlot: HashMap[address, uint256]
validatorActive: public(HashMap[address, bool])

assets: public(HashMap[bytes32, Asset])
parents: HashMap[bytes32, DynArray[bytes32, MAX_PARENTS]]


@deploy
def __init__(token_: IERC20, staking_: IStaking, minProviderStake_: uint256, minValidatorStake_: uint256):
    assert token_.address != empty(address), "registry: token is the zero address"
    assert staking_.address != empty(address), "registry: staking is the zero address"
    token = token_
    staking = staking_
    minProviderStake = minProviderStake_
    minValidatorStake = minValidatorStake_


@internal
@pure
def _digest(cid: Bytes[64]) -> bytes32:
    # A binary CID ends in a sha2-256 multihash: 0x12 0x20 then the 32-byte digest. CIDv0 is
    # the bare multihash (34 bytes); CIDv1 adds a version (0x01) and a codec varint first.
    n: uint256 = len(cid)
    assert n >= 34, "registry: malformed CID"
    assert convert(slice(cid, n - 34, 2), bytes2) == 0x1220, "registry: CID is not sha2-256"
    if n > 34:
        assert convert(slice(cid, 0, 1), bytes1) == 0x01, "registry: malformed CID"
    return extract32(cid, n - 32)


# --- views -------------------------------------------------------------------------------


@external
@view
def isActiveProvider(who: address) -> bool:
    """
    @notice Registered, active, and staked at least `minProviderStake` right now.
    """
    return self.providers[who].state == ACTIVE and staticcall staking.stakeOf(who) >= minProviderStake


@external
@view
def providerStateOf(who: address) -> uint8:
    """
    @notice 0 = not registered, 1 = active, 2 = paused.
    """
    return self.providers[who].state


@external
@view
def lockedStakeOf(who: address) -> uint256:
    """
    @notice The minimum stakes this registry holds in place while `who` is active.
    """
    locked: uint256 = 0
    if self.providers[who].state == ACTIVE:
        locked += minProviderStake
    if self.validatorActive[who]:
        locked += minValidatorStake
    return locked


@external
@view
def isActiveValidator(who: address) -> bool:
    """
    @notice Registered, active, and staked at least `minValidatorStake` right now.
    """
    return self.validatorActive[who] and staticcall staking.stakeOf(who) >= minValidatorStake


@external
@view
def priceOf(provider: address, kind: uint256) -> uint256:
    return self.prices[provider][kind]


@external
@view
def parentsOf(digest: bytes32) -> DynArray[bytes32, MAX_PARENTS]:
    return self.parents[digest]


# --- providers ---------------------------------------------------------------------------


@internal
def _set_prices(who: address, prices: DynArray[uint256, MAX_KINDS]):
    # Every kind is written so that a shorter list withdraws the kinds it leaves out.
    for kind: uint256 in range(MAX_KINDS):
        price: uint256 = 0
        if kind < len(prices):
            price = prices[kind]
        if self.prices[who][kind] != price:
            self.prices[who][kind] = price


@external
def registerProvider(endpoint: String[256], capabilityCid: Bytes[64], prices: DynArray[uint256, MAX_KINDS]):
    """
    @notice Offer compute at `endpoint`; `prices[k]` is the price per unit for workload
            kind k (0 = kind not offered). Needs `minProviderStake` staked first.
    """
    assert self.providers[msg.sender].state == UNREGISTERED, "registry: already registered"
    assert len(endpoint) > 0, "registry: empty endpoint"
    assert staticcall staking.stakeOf(msg.sender) >= minProviderStake, "registry: stake below minimum"
    self.providers[msg.sender] = Provider(
        state=ACTIVE, capabilityDigest=self._digest(capabilityCid), endpoint=endpoint
    )
    self._set_prices(msg.sender, prices)
    self.providerCount += 1
    log ProviderRegistered(provider=msg.sender, endpoint=endpoint, capabilityCid=capabilityCid, prices=prices)


@external
def updateProvider(endpoint: String[256], capabilityCid: Bytes[64], prices: DynArray[uint256, MAX_KINDS]):
    """
    @notice Change a registered provider's endpoint, capability document and prices.
    """
    assert self.providers[msg.sender].state != UNREGISTERED, "registry: not a registered provider"
    assert len(endpoint) > 0, "registry: empty endpoint"
    self.providers[msg.sender].endpoint = endpoint
    self.providers[msg.sender].capabilityDigest = self._digest(capabilityCid)
    self._set_prices(msg.sender, prices)
    log ProviderUpdated(provider=msg.sender, endpoint=endpoint, capabilityCid=capabilityCid, prices=prices)


@external
def setProviderActive(active: bool):
    """
    @notice Pause (False) or resume (True) taking jobs; resuming needs the minimum stake.
    """
    state: uint8 = self.providers[msg.sender].state
    assert state != UNREGISTERED, "registry: not a registered provider"
    target: uint8 = PAUSED
    if active:
        target = ACTIVE
    assert state != target, "registry: already in that state"
    if active:
        assert staticcall staking.stakeOf(msg.sender) >= minProviderStake, "registry: stake below minimum"
    self.providers[msg.sender].state = target
    log ProviderActiveSet(provider=msg.sender, active=active)


# --- validators --------------------------------------------------------------------------


@external
def registerValidator():
    """
    @notice Join the pool dispute committees are drawn from. Needs `minValidatorStake`.
    """
    assert self.validatorSlot[msg.sender] == 0, "registry: already registered"
    assert staticcall staking.stakeOf(msg.sender) >= minValidatorStake, "registry: stake below minimum"
    index: uint256 = self.validatorCount
    self.validatorAt[index] = msg.sender
    self.validatorSlot[msg.sender] = index + 1
    self.validatorCount = index + 1
    self.validatorActive[msg.sender] = True
    log ValidatorRegistered(validator=msg.sender, index=index)


@external
def setValidatorActive(active: bool):
    """
    @notice Leave (False) or rejoin (True) committee draws; rejoining needs the minimum stake.
    """
    assert self.validatorSlot[msg.sender] != 0, "registry: not a registered validator"
    assert self.validatorActive[msg.sender] != active, "registry: already in that state"
    if active:
        assert staticcall staking.stakeOf(msg.sender) >= minValidatorStake, "registry: stake below minimum"
    self.validatorActive[msg.sender] = active
    log ValidatorActiveSet(validator=msg.sender, active=active)


@external
def setValidatorEndpoint(endpoint: String[256]):
    """
    @notice Publish where this validator's API (and the evidence it challenges with) is
            served, so committee members can fetch that evidence by CID.
    @dev Event only, like providers' endpoints are read for discovery: nothing on chain
         reads it, so storing it would only cost the validator gas. Whether it is an
         http(s) URL is checked off chain (deai.market.discovery.list_validators).
    """
    assert self.validatorSlot[msg.sender] != 0, "registry: not a registered validator"
    assert len(endpoint) > 0, "registry: empty endpoint"
    log ValidatorEndpointSet(validator=msg.sender, endpoint=endpoint)


# --- models and datasets -----------------------------------------------------------------


@external
def registerAsset(kind: uint8, cid: Bytes[64], licenceCid: Bytes[64], parentCids: DynArray[Bytes[64], MAX_PARENTS]) -> bytes32:
    """
    @notice Record a model (kind 1) or dataset (kind 2) owned by the caller, with its
            licence document and the CIDs it was derived from (lineage).
    @return The CID's digest, the asset's key.
    """
    assert kind == KIND_MODEL or kind == KIND_DATASET, "registry: unknown asset kind"
    digest: bytes32 = self._digest(cid)
    assert self.assets[digest].owner == empty(address), "registry: asset already registered"
    parentDigests: DynArray[bytes32, MAX_PARENTS] = []
    for parent: Bytes[64] in parentCids:
        parentDigest: bytes32 = self._digest(parent)
        assert parentDigest != digest, "registry: an asset cannot be its own parent"
        parentDigests.append(parentDigest)
    self.assets[digest] = Asset(
        owner=msg.sender, kind=kind, licenceDigest=self._digest(licenceCid), registeredAt=block.timestamp
    )
    if len(parentDigests) > 0:
        self.parents[digest] = parentDigests
    log AssetRegistered(
        digest=digest, owner=msg.sender, kind=kind, cid=cid, licenceCid=licenceCid, parentCids=parentCids
    )
    return digest


@external
def transferAsset(digest: bytes32, newOwner: address):
    """
    @notice Hand a registered model or dataset to `newOwner` (owner only).
    """
    owner: address = self.assets[digest].owner
    assert owner != empty(address), "registry: unknown asset"
    assert msg.sender == owner, "registry: only the asset owner"
    assert newOwner != empty(address), "registry: zero address"
    self.assets[digest].owner = newOwner
    log AssetTransferred(digest=digest, previousOwner=owner, owner=newOwner)
