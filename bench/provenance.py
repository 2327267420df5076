"""Provenance: manifests signed per second, verify latency on a local devnet, anchor gas per manifest.

Measured in one run, single-threaded (one core), against an anvil this script starts and stops:

- ``manifests_per_s`` — sign (EIP-712, libsecp256k1) + hash (the manifest's CID) + Merkle
  tree over a batch, per manifest; the same work through eth-account's EIP-712 encoder is
  measured alongside as the reference (``reference_manifests_per_s``).
- ``anchor_gas_per_manifest`` — ``ProvenanceLog.flush`` of 1,000 manifests: one
  ``Anchors.post``; its gas over 1,000 (after the provider's first anchor, which also
  pays for its sequence slot: ``anchor_gas_first_post``). ``flush_s`` is the whole flush (tree, listing,
  1,000 anchored records written by CID, the index), ``add_per_s`` the log's ``add``.
- ``verify_ms_p50`` — ``verify(file)`` of an anchored output with its sidecar from a
  registered provider: file hash, signature, on-chain root, provider stake, disputes (the
  chain reads are the cost); ``verify_c2pa_ms_p50`` the same for a PNG carrying its C2PA
  credential (the C2PA signature and the CA binding checked too).

    .venv/bin/python bench/provenance.py [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import tempfile
import time
import zlib
from pathlib import Path

from eth_account.signers.local import LocalAccount

from deai.identity.did import did_pkh
from deai.identity.signing import sign_typed
from deai.provenance.manifest import (
    MANIFEST_PRIMARY_TYPE,
    MANIFEST_TYPES,
    UnsignedManifest,
    provenance_domain,
    sign_manifest,
)
from deai.provenance.merkle import MerkleTree
from deai.store import cid_of_bytes

BATCH = 1_000
SIGN_COUNT = 3_000
VERIFY_COUNT = 200


def _png(seed: int) -> bytes:
    rows = b"".join(b"\x00" + bytes((x * 31 + y * 17 + seed) % 256 for x in range(8)) for y in range(8))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0))
            + chunk(b"tEXt", b"Comment\x00output %d" % seed)  # every output distinct
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _unsigned(account: LocalAccount, chain_id: int, anchors: str, n: int, *, outputs: list[bytes] | None = None
              ) -> list[UnsignedManifest]:
    base = UnsignedManifest(
        output_cid=cid_of_bytes(b"output"), output_name="image.png", content_type="image/png",
        model_cid=cid_of_bytes(b"imagegen model"), model_name="imagegen",
        model_parents=(cid_of_bytes(b"digits-train"),), kind="image", inputs=(cid_of_bytes(b'{"label": 7}'),),
        params={"seed": 0, "count": 1}, provider=account.address, provider_did=did_pkh(account.address, chain_id),
        chain_id=chain_id, anchors=anchors, runtime="torch", runtime_version="torch 2.13.0",
        created_at=1_800_000_000,
    )
    return [
        base.model_copy(update={
            "output_cid": cid_of_bytes(outputs[i] if outputs else f"output {i}".encode()), "receipt_sequence": i,
        })
        for i in range(n)
    ]


def measure_signing(account: LocalAccount, chain_id: int, anchors: str) -> tuple[float, float]:
    """(manifests/s through deai's path, manifests/s through eth-account's EIP-712 encoder)."""
    domain = provenance_domain(chain_id, anchors)
    unsigned = _unsigned(account, chain_id, anchors, SIGN_COUNT)
    start = time.perf_counter()
    leaves = []
    for u in unsigned:
        manifest = sign_manifest(account, domain, u)
        manifest.cid()
        leaves.append(manifest.leaf())
    MerkleTree(leaves)
    fast = SIGN_COUNT / (time.perf_counter() - start)
    count = SIGN_COUNT // 5
    start = time.perf_counter()
    for u in unsigned[:count]:
        sign_typed(account, domain, MANIFEST_TYPES, MANIFEST_PRIMARY_TYPE, u.message())
    reference = count / (time.perf_counter() - start)
    return fast, reference


def main() -> None:
    from deai.chain.anchors import Anchors
    from deai.chain.anvil import start_anvil
    from deai.chain.deploy import deploy_protocol
    from deai.chain.devnet import demo_account, fund_demo_accounts
    from deai.chain.registry import Registry
    from deai.chain.rpc import connect
    from deai.chain.staking import Staking
    from deai.chain.types import WorkloadKind
    from deai.config import Config
    from deai.provenance.credentials import embed_c2pa, generate_c2pa_signer
    from deai.provenance.locate import sidecar_path
    from deai.provenance.log import ProvenanceLog
    from deai.provenance.verifier import verify
    from deai.store import LocalStore
    from deai.units import tokens

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args()
    anvil = start_anvil(Config().resolve_anvil())
    tmp = Path(tempfile.mkdtemp(prefix="deai-bench-provenance-"))
    try:
        w3 = connect(anvil.rpc_url)
        deployment = deploy_protocol(w3, demo_account("deployer"), anvil.rpc_url)
        fund_demo_accounts(w3, deployment)
        provider = demo_account("provider1")
        Staking(w3, deployment).deposit(provider, tokens(1_000))
        Registry(w3, deployment).register_provider(provider, "http://127.0.0.1:9100", cid_of_bytes(b"caps"),
                                                   {WorkloadKind.INFERENCE: tokens(1)})
        chain_id, anchors_address = deployment.chain_id, deployment.address("Anchors")
        per_s, reference_per_s = measure_signing(provider, chain_id, anchors_address)

        store = LocalStore(tmp / "store")
        log = ProvenanceLog(store=store, db_path=tmp / "log.sqlite", anchors=Anchors(w3, anchors_address),
                            account=provider)
        outputs = [_png(i) for i in range(BATCH + 1)]
        manifests = [sign_manifest(provider, log.domain, u)
                     for u in _unsigned(provider, chain_id, anchors_address, BATCH + 1, outputs=outputs)]
        # The provider's first anchor ever also pays for its lastSequence slot (0 → nonzero);
        # post one single-manifest batch first so the 1,000 figure is the steady state.
        log.add(manifests.pop())
        [first] = log.flush()
        first_gas = int(w3.eth.get_transaction_receipt(first.tx)["gasUsed"])  # type: ignore[arg-type]
        start = time.perf_counter()
        for manifest in manifests:
            log.add(manifest)
        add_per_s = BATCH / (time.perf_counter() - start)
        start = time.perf_counter()
        [batch] = log.flush()
        flush_s = time.perf_counter() - start
        gas = int(w3.eth.get_transaction_receipt(batch.tx)["gasUsed"])  # type: ignore[arg-type]

        signer = generate_c2pa_signer(provider, log.domain)
        timings: list[float] = []
        c2pa_timings: list[float] = []
        for i in range(VERIFY_COUNT):
            record = log.record(manifests[i].output_cid)
            assert record is not None
            path = tmp / f"out{i}.png"
            path.write_bytes(outputs[i])
            sidecar_path(path).write_bytes(record.to_json())
            credentialed = tmp / f"c2pa{i}.png"
            credentialed.write_bytes(embed_c2pa(outputs[i], manifests[i], signer))
            sidecar_path(credentialed).write_bytes(record.to_json())
            start = time.perf_counter()
            verdict = verify(path, store=None, w3=w3, deployment=deployment)
            timings.append(time.perf_counter() - start)
            start = time.perf_counter()
            c2pa_verdict = verify(credentialed, store=None, w3=w3, deployment=deployment)
            c2pa_timings.append(time.perf_counter() - start)
            if not (verdict.ok and c2pa_verdict.ok):
                raise RuntimeError(f"verification failed: {verdict.summary} / {c2pa_verdict.summary}")
        log.close()
    finally:
        anvil.stop()

    result = {
        "manifests_per_s": round(per_s),
        "reference_manifests_per_s": round(reference_per_s),
        "verify_ms_p50": round(statistics.median(timings) * 1000, 2),
        "verify_c2pa_ms_p50": round(statistics.median(c2pa_timings) * 1000, 2),
        "anchor_gas_per_manifest": round(gas / BATCH, 1),
        "anchor_gas_batch_1000": gas,
        "anchor_gas_first_post": first_gas,
        "flush_s_batch_1000": round(flush_s, 3),
        "add_per_s": round(add_per_s),
    }
    print(f"{'what':<52} {'value':>12}")
    print(f"{'manifests signed + hashed + in a tree, per s (1 core)':<52} {per_s:>12,.0f}")
    print(f"{'  same through eth-account EIP-712 (sign only)':<52} {reference_per_s:>12,.0f}"
          f"   ({per_s / reference_per_s:.1f}x)")
    print(f"{'ProvenanceLog.add per s':<52} {add_per_s:>12,.0f}")
    print(f"{'flush of 1,000: one Anchors.post, gas':<52} {gas:>12,}")
    print(f"{'  gas per manifest':<52} {gas / BATCH:>12,.1f}")
    print(f"{'  (a provider first anchor ever, 1 manifest: gas)':<52} {first_gas:>12,}")
    print(f"{'  flush seconds (tree, listing, 1,000 records, index)':<52} {flush_s:>12.3f}")
    print(f"{'verify(file + sidecar) p50 ms':<52} {result['verify_ms_p50']:>12}")
    print(f"{'verify(C2PA PNG) p50 ms':<52} {result['verify_c2pa_ms_p50']:>12}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
