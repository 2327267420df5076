"""Provenance: who made an output, with which model, when, and proof that it was anchored.

- ``MerkleTree``, ``MerkleProof``, ``merkle_root``, ``verify_proof``, ``compute_root``,
  ``hash_leaf``, ``hash_pair`` (merkle.py) — the batch tree whose root goes to the
  ``Anchors`` contract: 32-byte leaves, ``keccak256(0x00 ‖ leaf)`` leaf hashes,
  ``keccak256(0x01 ‖ sorted pair)`` nodes, an odd node moves up unchanged; the contract
  checks proofs with the same rule.
"""
