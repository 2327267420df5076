"""Fast-path overhead: the same embedding requests four ways, measured in one run.

(a) the runtime called in-process (``LoadedEmbedder.embed``);
(b) plain HTTP to a bare FastAPI app around the same runtime (a separate process, the
    same uvicorn server, the same OpenAI response body), no payment;
(c) a deai provider process (``deai provider start``): voucher signed by the client SDK,
    checked by the provider before work, receipt signed, stored and checked by the client;
(d) the gateway process (``deai gateway start``) in front of that provider.

Latency: one request at a time, ``--requests`` per way after a warm-up, the ways
interleaved round by round so that background load hits them alike; p50 and p90.
Throughput: ``--concurrency`` clients at once (each with its own channel in (c), as
lanes), (b) and (c) interleaved the same way. ``voucher_verify_per_s``: the provider's
``VoucherVerifier.accept`` over 5,000 distinct vouchers on one core.

    .venv/bin/python bench/fastpath.py [--json] [--requests 300] [--concurrency 8]

Keys: ``added_latency_ms_p50`` = (c) − (b), target ≤ 2 ms; ``throughput_ratio`` = (c)/(b)
at the concurrency, target ≥ 0.9; ``voucher_verify_per_s``, target ≥ 5,000;
``gateway_added_latency_ms_p50`` = (d) − (c).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

MODEL = "all-MiniLM-L6-v2"
PRICE = "0.0001"


def _texts(i: int) -> list[str]:
    return [f"the quick brown fox jumps over the lazy dog, request {i}"]


# --- (b): the bare app, run as `python bench/fastpath.py --serve-bare PORT` -----------------------


def serve_bare(port: int) -> None:
    from deai.http_server import AppServer
    from deai.node.fastpath import openai_api as oa

    loaded = _load_embedder()
    app = FastAPI()

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Response:
        body = json.loads(await request.body())
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vectors = await run_in_threadpool(loaded.embed, texts)
        words = sum(len(t.split()) for t in texts)
        return Response(oa.embeddings_body(MODEL, vectors, body.get("encoding_format", "float"), words),
                        media_type="application/json")

    server = AppServer(app, "127.0.0.1", port, name="bare").start()
    print("bare ready", flush=True)
    server.wait()


def _load_embedder() -> Any:
    from deai.runtime.base import get_runtime
    from deai.runtime.canonical import RunSettings
    from deai.runtime.demo_models import demo_model_dirs
    from deai.runtime.manifest import verify_model_dir

    folder = demo_model_dirs()["minilm"]
    manifest = verify_model_dir(folder)
    return get_runtime(manifest.framework).load(folder, manifest, RunSettings())


def _client() -> httpx.Client:
    """A plain client with TCP_NODELAY, like the SDK's (see deai.client.channels.NO_DELAY)."""
    from deai.client.channels import NO_DELAY

    return httpx.Client(timeout=60.0, transport=httpx.HTTPTransport(socket_options=NO_DELAY))


# --- measuring ---------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _timed(call: Callable[[int], None], start: int, count: int) -> list[float]:
    out = []
    for i in range(start, start + count):
        t0 = time.perf_counter()
        call(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _throughput(calls: list[Callable[[int], None]], total: int) -> float:
    """Requests per second with one worker per call (each call is one client / lane)."""
    per = total // len(calls)

    def worker(k: int) -> None:
        for i in range(per):
            calls[k](k * 100_000 + i)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(calls)) as pool:
        list(pool.map(worker, range(len(calls))))
    return per * len(calls) / (time.perf_counter() - t0)


def voucher_verify_per_s(count: int = 5000) -> float:
    from eth_account import Account

    from deai.client.channels import VoucherSigner
    from deai.market.vouchers import ChannelTerms, VoucherVerifier, voucher_domain
    from deai.units import Address, ChannelId, TokenAmount

    client, provider = Account.from_key(b"\x11" * 32), Account.from_key(b"\x22" * 32)
    domain = voucher_domain(31337, "0x" + "cd" * 20)
    channel = ChannelId(b"\x05" * 32)
    signer = VoucherSigner(client, domain)
    vouchers = [signer.sign(channel, (i + 1) * 10) for i in range(count)]
    verifier = VoucherVerifier(domain, provider.address)
    verifier.track(ChannelTerms(channel, Address(client.address), Address(provider.address),
                                TokenAmount(10**30), TokenAmount(0)))
    t0 = time.perf_counter()
    for voucher in vouchers:
        verifier.accept(voucher, 10)
    return count / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--serve-bare", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare is not None:
        serve_bare(args.serve_bare)
        return

    from deai.chain.anvil import free_port
    from deai.chain.devnet import demo_account
    from deai.client.channels import ChannelSession, FastPath
    from deai.runtime.demo_models import demo_model_dirs
    from deai.testing.network import LocalNetwork, ProviderSpec, start_gateway
    from deai.units import tokens

    started = time.perf_counter()
    verify_rate = voucher_verify_per_s()
    root = Path(tempfile.mkdtemp(prefix="deai-bench-fastpath-"))
    minilm = demo_model_dirs()["minilm"]
    net = LocalNetwork(root, providers=[ProviderSpec("provider1", (f"embed={PRICE}",), (minilm,), max_jobs=1)])
    bare_port = free_port()
    bare = subprocess.Popen([sys.executable, __file__, "--serve-bare", str(bare_port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    http = _client()
    try:
        assert bare.stdout is not None
        while b"bare ready" not in bare.stdout.readline():
            if bare.poll() is not None:
                raise SystemExit("the bare app did not start")
        net.start()
        provider_url = net.running[0].url
        gateway = start_gateway(net, "client2", lanes=args.concurrency, deposit=5.0)
        assert net.deployment is not None
        fast = FastPath(demo_account("client1"), net.deployment, data_dir=root / "client1")
        address = demo_account("provider1").address
        sessions: list[ChannelSession] = [fast.open_channel(address, tokens(5), url=provider_url)
                                          for _ in range(args.concurrency)]
        clients = [s.http_client(timeout=60.0) for s in sessions]
        loaded = _load_embedder()

        def direct(i: int) -> None:
            loaded.embed(_texts(i))

        def plain(i: int, client: httpx.Client = http) -> None:
            r = client.post(f"http://127.0.0.1:{bare_port}/v1/embeddings", json={"model": MODEL, "input": _texts(i)})
            assert r.status_code == 200

        def paid(i: int, k: int = 0) -> None:
            r = clients[k].post(f"{provider_url}/v1/embeddings", json={"model": MODEL, "input": _texts(i)})
            assert r.status_code == 200, r.text

        def gated(i: int) -> None:
            r = http.post(f"{gateway.url}/v1/embeddings", json={"model": MODEL, "input": _texts(i)})
            assert r.status_code == 200, r.text

        ways = {"a_direct": direct, "b_plain_http": plain, "c_provider": paid, "d_gateway": gated}
        for call in ways.values():  # warm-up: models loaded, connections open, lanes opened
            _timed(call, 0, 30)
        latencies: dict[str, list[float]] = {k: [] for k in ways}
        per_round = max(1, args.requests // args.rounds)
        for r in range(args.rounds):
            for name, call in ways.items():
                latencies[name] += _timed(call, 1000 + r * per_round, per_round)
        pool_clients = [_client() for _ in range(args.concurrency)]
        plains = [lambda i, c=c: plain(i, c) for c in pool_clients]
        paids = [lambda i, k=k: paid(i, k) for k in range(args.concurrency)]
        throughput = {"b_plain_http": 0.0, "c_provider": 0.0}
        total = args.concurrency * max(10, args.requests // (2 * args.rounds))
        for _ in range(args.rounds):
            throughput["b_plain_http"] += _throughput(plains, total) / args.rounds
            throughput["c_provider"] += _throughput(paids, total) / args.rounds
        gateway.stop()
        receipts = len(fast.wallet.receipts())
    finally:
        http.close()
        bare.terminate()
        net.stop()

    p50 = {k: statistics.median(v) for k, v in latencies.items()}
    p90 = {k: _percentile(v, 0.9) for k, v in latencies.items()}
    report = {
        "added_latency_ms_p50": round(p50["c_provider"] - p50["b_plain_http"], 3),
        "throughput_ratio": round(throughput["c_provider"] / throughput["b_plain_http"], 3),
        "voucher_verify_per_s": round(verify_rate),
        "gateway_added_latency_ms_p50": round(p50["d_gateway"] - p50["c_provider"], 3),
        "latency_ms_p50": {k: round(v, 3) for k, v in p50.items()},
        "latency_ms_p90": {k: round(v, 3) for k, v in p90.items()},
        "throughput_rps": {k: round(v, 1) for k, v in throughput.items()},
        "concurrency": args.concurrency,
        "requests_per_way": len(latencies["a_direct"]),
        "receipts_checked_by_client": receipts,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(f"{'way':<16}{'p50 ms':>10}{'p90 ms':>10}")
    for name in ways:
        print(f"{name:<16}{p50[name]:>10.3f}{p90[name]:>10.3f}")
    print(f"throughput at concurrency {args.concurrency}: plain {throughput['b_plain_http']:.1f}/s, "
          f"provider {throughput['c_provider']:.1f}/s (ratio {report['throughput_ratio']})")
    print(f"added latency p50: provider {report['added_latency_ms_p50']} ms, gateway "
          f"{report['gateway_added_latency_ms_p50']} ms; voucher checks {report['voucher_verify_per_s']}/s")
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
