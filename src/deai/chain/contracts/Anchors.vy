# pragma version ~=0.4.3
"""
@title deai anchors
@notice Merkle roots of receipt and provenance batches, by provider and sequence number.
        A provider (any address; registration is checked by whoever verifies) posts the
        root of a batch with a strictly increasing sequence number, the number of leaves
        and a URI or CID of the batch; anyone checks a leaf's inclusion with a proof.
@dev The tree is the one `deai.provenance.merkle` builds, byte for byte:
       leaf hash = keccak256(0x00 ‖ leaf)          (leaf: a 32-byte digest of a receipt/manifest)
       node hash = keccak256(0x01 ‖ min(a, b) ‖ max(a, b))   (sorted pair, compared as uint256)
     The prefixes keep a leaf from posing as an inner node (second-preimage), and sorted
     pairs make a proof a plain list of siblings with no left/right bits. An odd node at
     the end of a level moves up unchanged. Storage holds only the root (and the last
     sequence); count and URI live in the event, which is all an indexer needs, and keep
     a post near 50k gas whatever the batch size.
"""

MAX_PROOF_LENGTH: constant(uint256) = 64
MAX_URI_LENGTH: constant(uint256) = 256

event AnchorPosted:
    provider: indexed(address)
    sequence: indexed(uint256)
    root: indexed(bytes32)
    count: uint256
    uri: String[MAX_URI_LENGTH]

# provider -> sequence -> root
roots: public(HashMap[address, HashMap[uint256, bytes32]])
# provider -> highest sequence posted (0: none yet, so the first sequence is at least 1)
lastSequence: public(HashMap[address, uint256])


@external
def post(root: bytes32, sequence: uint256, count: uint256, uri: String[MAX_URI_LENGTH]):
    """
    @notice Anchor the Merkle `root` of a batch of `count` leaves as `msg.sender`'s batch `sequence`.
    @param uri Where the batch lives (a CID such as bafy…, or a URL); may be empty.
    """
    assert root != empty(bytes32), "anchors: empty root"
    assert count > 0, "anchors: empty batch"
    assert sequence > self.lastSequence[msg.sender], "anchors: sequence must increase"
    self.lastSequence[msg.sender] = sequence
    self.roots[msg.sender][sequence] = root
    log AnchorPosted(provider=msg.sender, sequence=sequence, root=root, count=count, uri=uri)


@external
@view
def verifyInclusion(
    provider: address, sequence: uint256, leaf: bytes32, proof: DynArray[bytes32, MAX_PROOF_LENGTH]
) -> bool:
    """
    @notice True when `leaf` is in the batch `provider` anchored as `sequence`.
    """
    root: bytes32 = self.roots[provider][sequence]
    if root == empty(bytes32):
        return False
    return self._compute_root(leaf, proof) == root


@external
@pure
def verifyProof(
    root: bytes32, leaf: bytes32, proof: DynArray[bytes32, MAX_PROOF_LENGTH]
) -> bool:
    """
    @notice True when `proof` leads from `leaf` to `root` (for other contracts and off-chain checks).
    """
    return root != empty(bytes32) and self._compute_root(leaf, proof) == root


@external
@pure
def computeRoot(leaf: bytes32, proof: DynArray[bytes32, MAX_PROOF_LENGTH]) -> bytes32:
    return self._compute_root(leaf, proof)


@external
@pure
def hashLeaf(leaf: bytes32) -> bytes32:
    return self._hash_leaf(leaf)


@external
@pure
def hashPair(a: bytes32, b: bytes32) -> bytes32:
    return self._hash_pair(a, b)


@internal
@pure
def _compute_root(leaf: bytes32, proof: DynArray[bytes32, MAX_PROOF_LENGTH]) -> bytes32:
    node: bytes32 = self._hash_leaf(leaf)
    for sibling: bytes32 in proof:
        node = self._hash_pair(node, sibling)
    return node


@internal
@pure
def _hash_leaf(leaf: bytes32) -> bytes32:
    return keccak256(concat(b"\x00", leaf))


@internal
@pure
def _hash_pair(a: bytes32, b: bytes32) -> bytes32:
    if convert(a, uint256) < convert(b, uint256):
        return keccak256(concat(b"\x01", a, b))
    return keccak256(concat(b"\x01", b, a))
