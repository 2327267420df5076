"""AI-generated NFTs on a real chain: mint an image output, trace it, and refuse front-runners."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak

from deai.chain.nft import AINFT
from deai.errors import ContractRevert, ProvenanceError
from deai.provenance.credentials import C2paSigner
from deai.provenance.log import ProvenanceLog
from deai.provenance.nft import mint_output, plan_mint, token_id_for, verify_token
from deai.provenance.outputs import describe_outputs, record_output
from deai.provenance.records import AnchoredRecord
from deai.store import LocalStore
from deai.testing.market import Market, rpc

from .conftest import DemoRun, index_of

pytestmark = pytest.mark.integration


def _anchored(m: Market, log: ProvenanceLog, run: DemoRun, role: str = "provider1",
              signer: C2paSigner | None = None) -> AnchoredRecord:
    unsigned = describe_outputs(run.result, run.spec, run.model, provider=m[role].address,
                                chain_id=m.deployment.chain_id, anchors=m.deployment.address("Anchors"))[0]
    record_output(log, m[role], unsigned, c2pa_signer=signer)
    log.flush()
    record = log.record(unsigned.output_cid)
    assert record is not None
    return record


def test_an_image_is_minted_and_traced_to_model_provider_and_block(
    m: Market, make_log: Callable[..., ProvenanceLog], prov_store: LocalStore, demo_runs: dict[str, DemoRun],
    c2pa_signers: dict[str, C2paSigner],
) -> None:
    log = make_log()
    record = _anchored(m, log, demo_runs["image"], signer=c2pa_signers["provider1"])
    nft = AINFT(m.w3, m.deployment)
    assert nft.supports_interface(bytes.fromhex("702c55a6")) and nft.supports_interface(bytes.fromhex("80ac58cd"))
    minted, metadata_cid = mint_output(nft, m["client1"], record, prov_store)
    plan = plan_mint(record)
    assert minted.token_id == token_id_for(plan.prompt) and minted.owner == m["client1"].address
    assert (minted.provider, minted.sequence) == (m["provider1"].address, record.anchor.sequence)
    assert nft.token_uri(minted.token_id) == f"ipfs://{metadata_cid}"
    event = nft.aigc_data(minted.token_id)
    assert event is not None and (event.prompt, event.aigc_data, event.proof) == (plan.prompt, plan.aigc_data, plan.proof)

    verdict = verify_token(minted.token_id, store=prov_store, w3=m.w3, deployment=m.deployment, index=index_of(log))
    assert verdict.ok, verdict.summary
    assert verdict.model_cid == demo_runs["image"].result.model and verdict.provider == m["provider1"].address
    assert verdict.anchor_block == record.anchor.block and verdict.mint_block == minted.block_number
    assert "imagegen" in verdict.summary and f"anchored in block {record.anchor.block}" in verdict.summary

    nft.transfer(m["client1"], m["client2"].address, minted.token_id)
    verdict = verify_token(minted.token_id, store=prov_store, w3=m.w3, deployment=m.deployment)
    assert verdict.ok and verdict.owner == m["client2"].address


def test_a_copied_reveal_or_a_same_block_reveal_cannot_mint(
    m: Market, make_log: Callable[..., ProvenanceLog], demo_runs: dict[str, DemoRun],
) -> None:
    record = _anchored(m, make_log(), demo_runs["classify"])
    nft = AINFT(m.w3, m.deployment)
    plan = plan_mint(record)
    # a front-runner who copies the reveal without having committed first
    with pytest.raises(ContractRevert, match="commit first"):
        nft.mint(m["client2"], plan.prompt, plan.aigc_data, "ipfs://x", plan.proof)
    # commit and reveal in one block: refused
    commitment = nft.commitment_for(m["client2"].address, plan.prompt, plan.aigc_data)
    expected = keccak(abi_encode(["address", "bytes32", "bytes32"],
                                 [m["client2"].address, keccak(plan.prompt), keccak(plan.aigc_data)]))
    assert commitment == expected
    account = m["client2"]
    nonce = m.w3.eth.get_transaction_count(account.address)
    rpc(m.w3, "evm_setAutomine", False)
    try:
        hashes = []
        for i, call in enumerate((nft.contract.functions.commit(commitment),
                                  nft.contract.functions.mint(plan.prompt, plan.aigc_data, "ipfs://x", plan.proof))):
            tx = call.build_transaction({"from": account.address, "nonce": nonce + i, "gas": 1_000_000,
                                         "gasPrice": m.w3.eth.gas_price, "chainId": m.deployment.chain_id})
            hashes.append(m.w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction))
        rpc(m.w3, "evm_mine")
    finally:
        rpc(m.w3, "evm_setAutomine", True)
    receipts = [m.w3.eth.get_transaction_receipt(h) for h in hashes]
    assert receipts[0]["blockNumber"] == receipts[1]["blockNumber"]
    assert [r["status"] for r in receipts] == [1, 0]
    # a block later the same committer may reveal
    minted = nft.mint(account, plan.prompt, plan.aigc_data, "ipfs://x", plan.proof)
    assert minted.owner == account.address
    with pytest.raises(ContractRevert, match="commit first"):
        nft.mint(account, plan.prompt, plan.aigc_data, "ipfs://x", plan.proof)


def test_the_contract_refuses_proofs_that_do_not_check(
    m: Market, make_log: Callable[..., ProvenanceLog], prov_store: LocalStore, demo_runs: dict[str, DemoRun],
) -> None:
    nft = AINFT(m.w3, m.deployment)
    plan = plan_mint(_anchored(m, make_log(), demo_runs["classify"]))
    assert nft.verify(plan.prompt, plan.aigc_data, plan.proof)
    assert not nft.verify(plan.prompt + b" ", plan.aigc_data, plan.proof)  # another request
    assert not nft.verify(plan.prompt, plan.aigc_data[:-1] + b"a", plan.proof)  # another output
    broken = bytearray(plan.proof)
    broken[-1] ^= 1  # the last Merkle sibling … or the signature when there is no sibling
    assert not nft.verify(plan.prompt, plan.aigc_data, bytes(broken))
    assert not nft.verify(plan.prompt, plan.aigc_data, b"not an abi encoding")
    # an unregistered key's output is signed and anchored, yet no token is minted for it
    stranger = _anchored(m, make_log("client1"), demo_runs["image"], role="client1")
    with pytest.raises(ProvenanceError, match="does not accept"):
        mint_output(nft, m["client2"], stranger, prov_store)
    verdict = verify_token(12345, store=prov_store, w3=m.w3, deployment=m.deployment)
    assert not verdict.ok and "no token 12345" in verdict.summary
