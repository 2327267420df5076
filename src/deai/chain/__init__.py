"""The chain: Vyper contracts, compilation, deployment, the devnet and typed wrappers.

- ``compile_contract`` (compile.py) — in-process Vyper compilation, artifacts cached by
  source hash and labelled with compiler and source.
- ``connect``, ``send``, ``deploy`` (rpc.py) — JSON-RPC access; reverts become
  ``ContractRevert`` with the contract's reason.
- ``Deployment``, ``deploy_protocol`` (deploy.py) — every contract deployed and wired in one call.
- ``start_anvil`` (anvil.py), ``Devnet`` (devnet.py) — the local chain and its demo accounts.
- ``Channels`` (channels.py) — payment channels: open, top up, redeem and close with an
  EIP-712 voucher, client close with a challenge period, settle; ``Channel`` and one frozen
  dataclass per event. Vouchers themselves: ``deai.market.vouchers``.
- ``Anchors`` (anchors.py) — Merkle roots of receipt/manifest batches by provider and
  sequence, ``verify_inclusion`` on chain; ``AnchorPosted``. The tree: ``deai.provenance.merkle``.
- ``contracts/`` — the Vyper sources: Token, Channels, Anchors (and the market contracts).
"""
