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
- ``MarketParams``, ``deploy_market`` (market_setup.py) — Staking, Registry, ValidatorPool and
  JobMarket deployed with their parameters and wired (slasher, lockers, the pool as the
  market's fee recipient); called by ``deploy_protocol``.
- ``ReceiptDisputes`` (receipt_disputes.py) — fast-path receipt challenges: a validator
  disputes an anchored receipt with its signature and Merkle proof, a committee votes, a
  fraud verdict slashes the provider max(minSlash, price / p + 1); ``ReceiptDisputeParams``
  and ``deploy_receipt_disputes`` (market_setup.py), called by ``deploy_protocol``.
- ``ValidatorPool`` (validator_pool.py) — the JobMarket's fee recipient: validators report
  their per-epoch reputation scores there and claim the epoch's fees by stake; ``PoolEpoch``.
- ``Token`` (token.py), ``Staking`` (staking.py), ``Registry`` (registry.py), ``JobMarket``
  (jobmarket.py) — typed wrappers over the market contracts, built from ``(w3, address)`` or
  ``(w3, deployment)``; each transaction returns the typed event it logged. Shared base:
  ``ContractWrapper`` (contract.py).
- types.py — one Python type per on-chain struct and enum: ``Job``, ``JobStatus``,
  ``JobReason`` (each with the sentence a client is shown), ``Verification``,
  ``MarketAccount``, ``StakeAccount``, ``ProviderInfo``, ``Asset``, ``Dispute``, ``WorkloadKind``.
- events.py — one frozen dataclass per market contract event, ``EventDecoder`` for raw logs,
  ``from_chain_event`` for ``deai.chain.follow`` records, ``explain`` (why a job is where it is).
- cids.py — CID string ↔ binary CID (what contracts take) ↔ sha2-256 digest (what they store).
- ``AIRequests`` (ai_requests.py) — smart contracts that ask for AI: requests that become
  JobMarket jobs, delivery, optimistic/final callbacks, retries, settlement, subscriptions;
  its events and types, ``deploy_ai_requests``, ``compile_consumer`` (docs/onchain-ai.md).
- ``contracts/`` — the Vyper sources: Token, Staking, Registry, JobMarket, ValidatorPool, Channels, Anchors,
  ReceiptDisputes (with the committee.vy module it shares with JobMarket), AINFT, AIRequests, and the consumer interfaces IAIConsumer.vyi and IAIInputSource.vyi.
"""
