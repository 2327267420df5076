# pragma version ~=0.4.3
"""
@title deai AI-generated content tokens (ERC-721, ERC-7007 shape)
@notice One token per AI output whose provenance checks out on chain. Following ERC-7007,
        a token is minted from a `prompt` (what was asked), `aigcData` (the output CID)
        and a `proof`; here the proof is the provider's signed deai provenance manifest
        and its Merkle proof against the root the provider anchored in `Anchors`, so
        `verify` re-derives the manifest's EIP-712 digest, recovers the provider's
        signature, and checks the manifest's leaf is in the anchored batch.
        The token id is keccak256(prompt), as ERC-7007 indexes tokens by prompt.
@dev Front-running: a mint reveals the prompt, the output and the proof, which anyone
     could copy into their own mint. So a mint needs a commitment
         keccak256(abi_encode(minter, keccak256(prompt), keccak256(aigcData)))
     posted with `commit` at least one block earlier by the same address; the token goes
     to that address. Before the reveal only the requester and the provider know the
     output CID, so nobody else can commit to it first.
     proof = abi_encode(modelCid, jobRef, provider, timestamp, contentHash, signature,
                        sequence, siblings)
     — the manifest fields the EIP-712 struct hashes beyond prompt and output, the
     65-byte signature, and where the leaf sits (`deai.provenance.nft.encode_proof`).
     The digest, domain and leaf rules are those of deai.provenance.manifest.
"""

from ethereum.ercs import IERC165
from ethereum.ercs import IERC721

implements: IERC165
implements: IERC721

MAX_PROMPT: constant(uint256) = 4096
MAX_AIGC: constant(uint256) = 128
MAX_URI: constant(uint256) = 256
MAX_SIBLINGS: constant(uint256) = 64
MAX_PROOF: constant(uint256) = 3072
MAX_CID: constant(uint256) = 128
MAX_JOBREF: constant(uint256) = 96

DOMAIN_TYPEHASH: constant(bytes32) = keccak256(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
MANIFEST_TYPEHASH: constant(bytes32) = keccak256(
    "DeaiManifest(string outputCid,string modelCid,bytes32 requestHash,string jobRef,address provider,uint64 timestamp,bytes32 contentHash)"
)
# ERC-165 ids: ERC-165, ERC-721, ERC-721 metadata, ERC-7007 (addAigcData ^ verify)
IFACE_ERC165: constant(bytes4) = 0x01ffc9a7
IFACE_ERC721: constant(bytes4) = 0x80ac58cd
IFACE_ERC721_METADATA: constant(bytes4) = 0x5b5e139f
IFACE_ERC7007: constant(bytes4) = 0x702c55a6


interface IAnchors:
    def verifyInclusion(provider: address, sequence: uint256, leaf: bytes32, proof: DynArray[bytes32, MAX_SIBLINGS]) -> bool: view

interface IRegistry:
    def providerStateOf(who: address) -> uint8: view
    def isActiveProvider(who: address) -> bool: view

interface IERC721Receiver:
    def onERC721Received(operator: address, owner: address, tokenId: uint256, data: Bytes[1024]) -> bytes4: nonpayable


event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    token_id: indexed(uint256)

event Approval:
    owner: indexed(address)
    approved: indexed(address)
    token_id: indexed(uint256)

event ApprovalForAll:
    owner: indexed(address)
    operator: indexed(address)
    approved: bool

# ERC-7007: the AI-generated content behind a token and its proof
event AigcData:
    tokenId: indexed(uint256)
    prompt: Bytes[MAX_PROMPT]
    aigcData: Bytes[MAX_AIGC]
    proof: Bytes[MAX_PROOF]

event Committed:
    minter: indexed(address)
    commitment: indexed(bytes32)

event Minted:
    tokenId: indexed(uint256)
    owner: indexed(address)
    provider: indexed(address)
    sequence: uint256
    uri: String[MAX_URI]


struct Proof:
    modelCid: String[MAX_CID]
    jobRef: String[MAX_JOBREF]
    provider: address
    timestamp: uint64
    contentHash: bytes32
    signature: Bytes[65]
    sequence: uint256
    siblings: DynArray[bytes32, MAX_SIBLINGS]

struct TokenInfo:
    provider: address
    sequence: uint256
    mintBlock: uint256
    aigcDataHash: bytes32


name: public(String[64])
symbol: public(String[16])
anchors: public(immutable(IAnchors))
registry: public(immutable(IRegistry))
domainSeparator: public(immutable(bytes32))

ownerOf_: HashMap[uint256, address]
balances: HashMap[address, uint256]
approvals: HashMap[uint256, address]
operators: HashMap[address, HashMap[address, bool]]
uris: HashMap[uint256, String[MAX_URI]]
tokenInfo: public(HashMap[uint256, TokenInfo])
# commitment -> block it was posted in (0: none)
commitments: public(HashMap[bytes32, uint256])
totalSupply: public(uint256)


@deploy
def __init__(anchors_: IAnchors, registry_: IRegistry):
    assert anchors_.address != empty(address), "ainft: anchors is the zero address"
    assert registry_.address != empty(address), "ainft: registry is the zero address"
    anchors = anchors_
    registry = registry_
    self.name = "deai AI-generated content"
    self.symbol = "DEAIGC"
    domainSeparator = keccak256(abi_encode(
        DOMAIN_TYPEHASH, keccak256("deai-provenance"), keccak256("1"), chain.id, anchors_.address
    ))


# --- ERC-7007 ----------------------------------------------------------------------------


@internal
@view
def _check(prompt: Bytes[MAX_PROMPT], aigcData: Bytes[MAX_AIGC], proof: Bytes[MAX_PROOF]) -> (bool, address, uint256):
    p: Proof = abi_decode(proof, Proof)
    structHash: bytes32 = keccak256(abi_encode(
        MANIFEST_TYPEHASH, keccak256(aigcData), keccak256(p.modelCid), keccak256(prompt),
        keccak256(p.jobRef), p.provider, p.timestamp, p.contentHash,
    ))
    digest: bytes32 = keccak256(concat(b"\x19\x01", domainSeparator, structHash))
    if len(p.signature) != 65:
        return False, empty(address), 0
    r: uint256 = convert(slice(p.signature, 0, 32), uint256)
    s: uint256 = convert(slice(p.signature, 32, 32), uint256)
    v: uint256 = convert(slice(p.signature, 64, 1), uint256)
    if ecrecover(digest, v, r, s) != p.provider or p.provider == empty(address):
        return False, empty(address), 0
    leaf: bytes32 = keccak256(concat(digest, p.signature))
    if not staticcall anchors.verifyInclusion(p.provider, p.sequence, leaf, p.siblings):
        return False, empty(address), 0
    # an unregistered key can sign and anchor, but is nobody's provider
    if staticcall registry.providerStateOf(p.provider) == 0:
        return False, empty(address), 0
    return True, p.provider, p.sequence


@external
@view
def verify(prompt: Bytes[MAX_PROMPT], aigcData: Bytes[MAX_AIGC], proof: Bytes[MAX_PROOF]) -> bool:
    """
    @notice True when `proof` shows a registered provider signed a manifest for output
            `aigcData` from request `prompt`, and anchored it on chain.
    """
    ok: bool = False
    provider: address = empty(address)
    sequence: uint256 = 0
    ok, provider, sequence = self._check(prompt, aigcData, proof)
    return ok


@external
@pure
def commitmentFor(minter: address, prompt: Bytes[MAX_PROMPT], aigcData: Bytes[MAX_AIGC]) -> bytes32:
    return keccak256(abi_encode(minter, keccak256(prompt), keccak256(aigcData)))


@external
def commit(commitment: bytes32):
    """
    @notice Step one of a mint: commit to (you, prompt, output) without revealing them.
    """
    assert commitment != empty(bytes32), "ainft: empty commitment"
    assert self.commitments[commitment] == 0, "ainft: already committed"
    self.commitments[commitment] = block.number
    log Committed(minter=msg.sender, commitment=commitment)


@external
def mint(prompt: Bytes[MAX_PROMPT], aigcData: Bytes[MAX_AIGC], uri: String[MAX_URI], proof: Bytes[MAX_PROOF]) -> uint256:
    """
    @notice Step two: reveal, at least one block after `commit`; the token is the caller's.
            `uri` names the metadata JSON (ipfs://<CID>), which holds the manifest.
    """
    commitment: bytes32 = keccak256(abi_encode(msg.sender, keccak256(prompt), keccak256(aigcData)))
    committedAt: uint256 = self.commitments[commitment]
    assert committedAt != 0, "ainft: commit first"
    assert block.number > committedAt, "ainft: reveal in a later block than the commitment"
    tokenId: uint256 = convert(keccak256(prompt), uint256)
    assert self.ownerOf_[tokenId] == empty(address), "ainft: already minted"
    ok: bool = False
    provider: address = empty(address)
    sequence: uint256 = 0
    ok, provider, sequence = self._check(prompt, aigcData, proof)
    assert ok, "ainft: invalid proof"
    assert staticcall registry.isActiveProvider(provider), "ainft: provider is not active"
    self.commitments[commitment] = 0
    self.ownerOf_[tokenId] = msg.sender
    self.balances[msg.sender] += 1
    self.totalSupply += 1
    self.uris[tokenId] = uri
    self.tokenInfo[tokenId] = TokenInfo(
        provider=provider, sequence=sequence, mintBlock=block.number, aigcDataHash=keccak256(aigcData)
    )
    log Transfer(sender=empty(address), receiver=msg.sender, token_id=tokenId)
    log AigcData(tokenId=tokenId, prompt=prompt, aigcData=aigcData, proof=proof)
    log Minted(tokenId=tokenId, owner=msg.sender, provider=provider, sequence=sequence, uri=uri)
    return tokenId


@external
def addAigcData(tokenId: uint256, prompt: Bytes[MAX_PROMPT], aigcData: Bytes[MAX_AIGC], proof: Bytes[MAX_PROOF]):
    """
    @notice ERC-7007: re-attest a token's content (owner only; the same prompt and output).
    """
    assert self.ownerOf_[tokenId] == msg.sender, "ainft: only the token owner"
    assert convert(keccak256(prompt), uint256) == tokenId, "ainft: prompt is not this token's"
    assert keccak256(aigcData) == self.tokenInfo[tokenId].aigcDataHash, "ainft: not this token's output"
    ok: bool = False
    provider: address = empty(address)
    sequence: uint256 = 0
    ok, provider, sequence = self._check(prompt, aigcData, proof)
    assert ok, "ainft: invalid proof"
    log AigcData(tokenId=tokenId, prompt=prompt, aigcData=aigcData, proof=proof)


# --- ERC-721 -----------------------------------------------------------------------------


@external
@view
def supportsInterface(interface_id: bytes4) -> bool:
    return interface_id in [IFACE_ERC165, IFACE_ERC721, IFACE_ERC721_METADATA, IFACE_ERC7007]


@external
@view
def tokenURI(tokenId: uint256) -> String[MAX_URI]:
    assert self.ownerOf_[tokenId] != empty(address), "ainft: no such token"
    return self.uris[tokenId]


@external
@view
def balanceOf(_owner: address) -> uint256:
    assert _owner != empty(address), "ainft: zero address"
    return self.balances[_owner]


@external
@view
def ownerOf(_tokenId: uint256) -> address:
    owner: address = self.ownerOf_[_tokenId]
    assert owner != empty(address), "ainft: no such token"
    return owner


@external
@view
def getApproved(_tokenId: uint256) -> address:
    assert self.ownerOf_[_tokenId] != empty(address), "ainft: no such token"
    return self.approvals[_tokenId]


@external
@view
def isApprovedForAll(_owner: address, _operator: address) -> bool:
    return self.operators[_owner][_operator]


@internal
def _transfer(sender: address, receiver: address, tokenId: uint256):
    owner: address = self.ownerOf_[tokenId]
    assert owner != empty(address), "ainft: no such token"
    assert owner == sender, "ainft: sender is not the owner"
    assert receiver != empty(address), "ainft: transfer to the zero address"
    assert msg.sender == owner or self.approvals[tokenId] == msg.sender or self.operators[owner][msg.sender], \
        "ainft: not owner nor approved"
    self.approvals[tokenId] = empty(address)
    self.balances[sender] -= 1
    self.balances[receiver] += 1
    self.ownerOf_[tokenId] = receiver
    log Transfer(sender=sender, receiver=receiver, token_id=tokenId)


@external
@payable
def transferFrom(_from: address, _to: address, _tokenId: uint256):
    assert msg.value == 0, "ainft: no ether"
    self._transfer(_from, _to, _tokenId)


@external
@payable
def safeTransferFrom(_from: address, _to: address, _tokenId: uint256, _data: Bytes[1024] = b""):
    assert msg.value == 0, "ainft: no ether"
    self._transfer(_from, _to, _tokenId)
    if _to.is_contract:
        answer: bytes4 = extcall IERC721Receiver(_to).onERC721Received(msg.sender, _from, _tokenId, _data)
        assert answer == method_id("onERC721Received(address,address,uint256,bytes)", output_type=bytes4), \
            "ainft: receiver refused the token"


@external
@payable
def approve(_approved: address, _tokenId: uint256):
    assert msg.value == 0, "ainft: no ether"
    owner: address = self.ownerOf_[_tokenId]
    assert owner != empty(address), "ainft: no such token"
    assert msg.sender == owner or self.operators[owner][msg.sender], "ainft: not owner nor operator"
    self.approvals[_tokenId] = _approved
    log Approval(owner=owner, approved=_approved, token_id=_tokenId)


@external
def setApprovalForAll(_operator: address, _approved: bool):
    assert _operator != msg.sender, "ainft: approve to caller"
    self.operators[msg.sender][_operator] = _approved
    log ApprovalForAll(owner=msg.sender, operator=_operator, approved=_approved)
