"""The market: what a client pays a provider for, and how.

- ``Voucher``, ``SignedVoucher``, ``sign_voucher``, ``recover_voucher_signer``,
  ``voucher_domain`` (vouchers.py) — EIP-712 payment vouchers for ``Channels`` (channel
  id, cumulative amount; domain "deai-channels"/"1", chain id, Channels address), with a
  header encoding for HTTP requests.
- ``VoucherVerifier``, ``ChannelTerms``, ``Acceptance`` (vouchers.py) — the provider's hot
  path: cached domain separator, libsecp256k1 recovery (~25k checks/s on one core), and
  ``accept`` against each channel's deposit, price and highest accepted amount;
  ``apply`` keeps the tracked channels in step with the ``Channels`` events.
"""
