"""Fast-path gas per request (channel open + close + one anchor post per batch) and voucher checks/s.

For a batch of N requests the fast path costs, on chain: the client opens a channel
funded for N requests, the provider anchors the Merkle root of the N receipts, and the
provider closes the channel with the client's last voucher. Nothing else touches the
chain, so gas per request is the sum of those three transactions over N. The tree is a
real one: N receipt digests, built with ``deai.provenance.merkle``; one receipt's
inclusion is checked on chain before the figure counts.

``voucher_verify_per_s`` is the provider's hot path on one core: ``VoucherVerifier.accept``
(EIP-712 digest, secp256k1 recovery, channel checks, record) over distinct vouchers.

    .venv/bin/python bench/gas_fastpath.py [--json]

``receipt_challenge_gas`` is a validator's ``ReceiptDisputes.challenge`` of one receipt of a
100-receipt anchored batch (signed with the provider's real ``ReceiptSigner``): digest and
signature checked on chain, the Merkle proof (7 siblings) checked through Anchors, a
committee drawn, the bond pulled. ``receipt_dispute_gas`` adds the committee's two votes
and the ``resolve`` that slashes the provider through Staking.

``bench/gas.py`` imports ``measure_fastpath`` to put the three gas keys in its report.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from web3 import Web3

from deai.chain.anchors import Anchors
from deai.chain.channels import Channels
from deai.chain.deploy import Deployment
from deai.market.vouchers import (
    ChannelTerms,
    SignedVoucher,
    Voucher,
    VoucherVerifier,
    sign_voucher,
    voucher_domain,
)
from deai.provenance.merkle import MerkleTree
from deai.units import Address, ChannelId, TokenAmount, tokens

BATCH_SIZES = (1, 100, 10_000)
PRICE = tokens("0.0001")  # per request; any price gives the same gas


@dataclass(frozen=True)
class BatchGas:
    requests: int
    open_gas: int
    anchor_gas: int
    close_gas: int
    approve_gas: int
    tree_seconds: float

    @property
    def total(self) -> int:
        return self.open_gas + self.anchor_gas + self.close_gas

    @property
    def per_request(self) -> int:
        return math.ceil(self.total / self.requests)


def receipt_digest(channel_id: bytes, sequence: int, cumulative: int) -> bytes:
    """A stand-in receipt: request/response hashes, model, price, cumulative amount, sequence."""
    request = keccak(b"request" + sequence.to_bytes(8, "big"))
    response = keccak(b"response" + sequence.to_bytes(8, "big"))
    model = keccak(b"bafkreimodel")
    return keccak(
        channel_id + request + response + model + PRICE.to_bytes(32, "big")
        + cumulative.to_bytes(32, "big") + sequence.to_bytes(32, "big")
    )


def measure_batch(
    w3: Web3, deployment: Deployment, client: LocalAccount, provider: LocalAccount, requests: int
) -> BatchGas:
    channels = Channels.from_deployment(w3, deployment)
    anchors = Anchors.from_deployment(w3, deployment)
    deposit = PRICE * requests
    approve_block = w3.eth.block_number
    channels.approve(client, deposit)
    approve_gas = sum(
        int(w3.eth.get_block(b, full_transactions=False)["gasUsed"])
        for b in range(approve_block + 1, w3.eth.block_number + 1)
    )
    opened = channels.open(client, provider.address, deposit, approve=False)
    cid = bytes(opened.channel_id)

    start = time.perf_counter()
    tree = MerkleTree(receipt_digest(cid, i, PRICE * (i + 1)) for i in range(requests))
    tree_seconds = time.perf_counter() - start
    sequence = anchors.last_sequence(provider.address) + 1
    posted = anchors.post(provider, tree.root, sequence, len(tree), "bafkreibatchofreceipts")
    last = requests - 1
    if not anchors.verify_inclusion(provider.address, sequence, tree.leaves[last], tree.siblings(last)):
        raise RuntimeError("the anchored tree does not verify on chain")

    final = sign_voucher(client, channels.domain(), cid, deposit)
    closed = channels.close(provider, cid, final)
    if closed.payout != deposit:
        raise RuntimeError(f"close paid {closed.payout}, expected {deposit}")
    return BatchGas(
        requests,
        _gas(w3, opened.transaction_hash),
        _gas(w3, posted.transaction_hash),
        _gas(w3, closed.transaction_hash),
        approve_gas,
        tree_seconds,
    )


def measure_fastpath_detail(
    w3: Web3, deployment: Deployment, accounts: dict[str, LocalAccount]
) -> list[BatchGas]:
    return [
        measure_batch(w3, deployment, accounts["client1"], accounts["provider1"], n) for n in BATCH_SIZES
    ]


def measure_fastpath(
    w3: Web3, deployment: Deployment, accounts: dict[str, LocalAccount]
) -> dict[str, int]:
    """``fastpath_gas_per_request_batch_{1,100,10000}``: (open + anchor + close gas) / requests."""
    return {
        f"fastpath_gas_per_request_batch_{b.requests}": b.per_request
        for b in measure_fastpath_detail(w3, deployment, accounts)
    }


def measure_receipt_challenge(
    w3: Web3, deployment: Deployment, accounts: dict[str, LocalAccount]
) -> dict[str, int]:
    """``receipt_challenge_gas`` and ``receipt_dispute_gas`` (challenge + votes + resolve)."""
    from deai.chain.receipt_disputes import ReceiptDisputes
    from deai.chain.registry import Registry
    from deai.chain.staking import Staking
    from deai.chain.token import Token
    from deai.chain.types import WorkloadKind
    from deai.node.fastpath.receipts import Receipt, ReceiptSigner, body_hash, receipt_domain

    anchors, disputes = Anchors.from_deployment(w3, deployment), ReceiptDisputes.from_deployment(w3, deployment)
    staking, registry, token = Staking(w3, deployment), Registry(w3, deployment), Token(w3, deployment)
    provider, challenger = accounts["provider1"], accounts["validator1"]
    if registry.contract.functions.providerStateOf(provider.address).call() == 0:
        staking.deposit(provider, tokens(1_000))
        registry.register_provider(provider, "http://127.0.0.1:9100", _cid(b"capabilities"),
                                   {WorkloadKind.INFERENCE: PRICE})
    for role in ("validator1", "validator2", "validator3"):
        if not registry.contract.functions.validatorActive(accounts[role].address).call():
            staking.deposit(accounts[role], tokens(500))
            registry.register_validator(accounts[role])
    token.ensure_allowance(challenger, disputes.address, disputes.challenge_bond())

    signer = ReceiptSigner(provider, receipt_domain(int(w3.eth.chain_id), anchors.address))
    now = int(w3.eth.get_block("latest")["timestamp"])
    signed = [signer.sign(Receipt(
        provider=signer.address, channel_id=ChannelId(b"\x05" * 32), sequence=i,
        request_hash=body_hash(b"request %d" % i), response_hash=body_hash(b"response %d" % i),
        model="bafkreimodel", price=PRICE, cumulative_amount=TokenAmount(PRICE * i), issued_at=now,
    )) for i in range(1, 101)]
    tree = MerkleTree(s.leaf for s in signed)
    sequence = anchors.last_sequence(provider.address) + 1
    anchors.post(provider, tree.root, sequence, len(tree), "bafkreibatchofreceipts")
    challenged = disputes.challenge(challenger, signed[50], sequence, tree.siblings(50),
                                    _cid(b"evidence"), approve=False)
    gas = {"challenge": _gas(w3, challenged.transaction_hash)}
    members = {str(a.address): a for a in accounts.values()}
    for member in challenged.committee:
        gas[f"vote {member}"] = _gas(w3, disputes.vote(members[member], challenged.digest, True).transaction_hash)
    resolved = disputes.resolve(challenger, challenged.digest)
    if resolved.slashed != disputes.slash_for(PRICE):
        raise RuntimeError(f"the dispute slashed {resolved.slashed}, expected {disputes.slash_for(PRICE)}")
    gas["resolve"] = _gas(w3, resolved.transaction_hash)
    return {"receipt_challenge_gas": gas["challenge"], "receipt_dispute_gas": sum(gas.values())}


def _cid(label: bytes) -> str:
    from deai.chain.cids import cid_from_digest

    return str(cid_from_digest(bytes(keccak(label))))


def measure_voucher_verify(count: int = 5_000) -> float:
    """Vouchers a provider accepts per second on one core (each one distinct, fully checked)."""
    client: LocalAccount = Account.from_key("0x" + "42" * 32)
    provider = Address("0x" + "77" * 20)
    domain = voucher_domain(31337, "0x" + "11" * 20)
    verifier = VoucherVerifier(domain, provider)
    channel = ChannelId(b"\x05" * 32)
    verifier.track(ChannelTerms(channel, Address(client.address), verifier.provider or provider,
                                TokenAmount(PRICE * count), TokenAmount(0)))
    # Sign the digests directly: signing is the client's cost, not what is measured here.
    vouchers = []
    for i in range(1, count + 1):
        voucher = Voucher(channel, TokenAmount(PRICE * i))
        signature = Account.unsafe_sign_hash(verifier.digest(voucher), client.key).signature
        vouchers.append(SignedVoucher(voucher, bytes(signature)))
    start = time.perf_counter()
    for signed in vouchers:
        verifier.accept(signed, PRICE)
    return count / (time.perf_counter() - start)


def _gas(w3: Web3, tx_hash: str) -> int:
    return int(w3.eth.get_transaction_receipt(tx_hash)["gasUsed"])  # type: ignore[arg-type]


def main() -> None:
    from deai.chain.anvil import start_anvil
    from deai.chain.deploy import deploy_protocol
    from deai.chain.devnet import DEMO_ROLES, demo_account, fund_demo_accounts
    from deai.chain.rpc import connect
    from deai.config import Config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args()

    anvil = start_anvil(Config().resolve_anvil())
    try:
        w3 = connect(anvil.rpc_url)
        deployment = deploy_protocol(w3, demo_account("deployer"), anvil.rpc_url)
        fund_demo_accounts(w3, deployment)
        accounts = {role: demo_account(role) for role in DEMO_ROLES}
        batches = measure_fastpath_detail(w3, deployment, accounts)
        challenge = measure_receipt_challenge(w3, deployment, accounts)
    finally:
        anvil.stop()
    per_s = measure_voucher_verify()

    print(f"{'requests':>9} {'open':>8} {'anchor':>8} {'close':>8} {'total':>8} {'gas/req':>8}"
          f" {'tree s':>7}   (approve, not counted: gas)")
    for b in batches:
        print(f"{b.requests:>9} {b.open_gas:>8} {b.anchor_gas:>8} {b.close_gas:>8} {b.total:>8}"
              f" {b.per_request:>8} {b.tree_seconds:>7.3f}   ({b.approve_gas})")
    print(f"voucher checks per second, one core (VoucherVerifier.accept): {per_s:,.0f}")
    print(f"receipt challenge (one receipt of 100 anchored): {challenge['receipt_challenge_gas']:,} gas; "
          f"with the committee's votes and resolve (slash): {challenge['receipt_dispute_gas']:,} gas")
    if args.json:
        result: dict[str, float | int] = {
            f"fastpath_gas_per_request_batch_{b.requests}": b.per_request for b in batches
        }
        result["voucher_verify_per_s"] = round(per_s)
        result.update(challenge)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
