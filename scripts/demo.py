"""`make demo`: the whole deai story on an embedded local devnet, in about two minutes.

1. Start a devnet in ./.deai-demo: anvil, the deai contracts, funded demo accounts, the
   demo models and datasets registered on chain, the explorer dashboard.
2. Start three provider processes with different prices (one of them slow).
3. Two clients post jobs of every kind: an image, an embedding, a text continuation, a
   fine-tune, then a classification of the generated image. A live table follows them
   through bids, assignment, results and payment.
4. Print the results, check an output's provenance like a stranger would, print every
   account's balance and prove that no token was created or lost.
5. Stop everything it started and exit 0.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from deai.chain.devnet import DEMO_ROLES, demo_account
from deai.chain.events import Transfer
from deai.chain.token import Token
from deai.chain.types import JobStatus
from deai.client import Client, Job, JobResult
from deai.node.devnet_seed import seed_devnet
from deai.provenance import verify
from deai.runtime.demo_models import demo_dataset_dirs
from deai.testing.network import LocalNetwork, ProviderSpec
from deai.units import format_tokens, tokens
from deai.web import start_explorer, stop_explorer

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".deai-demo"
console = Console(width=110)

PROVIDERS = [
    ProviderSpec(
        "provider1",
        ("classify=1", "embed=0.5", "generate=2", "image=2", "finetune=6", "evaluate=1"),
        max_jobs=2,
    ),
    ProviderSpec(
        "provider2",
        ("classify=1.2", "embed=0.6", "generate=2.5", "image=2.5", "finetune=5", "evaluate=1.2"),
        max_jobs=2,
    ),
    ProviderSpec(
        "provider3",
        ("classify=0.8", "embed=0.4", "generate=1.5", "image=1.5", "finetune=4", "evaluate=0.8"),
        delay_s=3.0,
        max_jobs=1,
    ),  # the cheapest, and slow
]


def jobs_table(rows: dict[str, Job], statuses: dict[str, str]) -> Table:
    table = Table("what", "job", "status", "provider", "why", title="jobs")
    for label, job in rows.items():
        info = job.info()
        provider = next(
            (s.role for s in PROVIDERS if demo_account(s.role).address == info.provider), "-"
        )
        table.add_row(label, str(job.id), statuses.get(label, "open"), provider, job.why())
    return table


def follow(rows: dict[str, Job], timeout: float = 150.0) -> None:
    """Drive every job to the end (anyone may assign/finalize) while showing a live table."""
    statuses: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    with Live(jobs_table(rows, statuses), console=console, refresh_per_second=2) as live:
        while time.monotonic() < deadline:
            for label, job in rows.items():
                statuses[label] = job.wait(timeout=0, poll_s=0).name.lower()
            live.update(jobs_table(rows, statuses))
            if all(JobStatus[s.upper()].terminal for s in statuses.values()):
                return
            time.sleep(0.5)


def show_results(results: dict[str, JobResult], outdir: Path) -> None:
    table = Table(
        "what", "result", title="results (fetched from the providers, every block verified)"
    )
    for label, result in results.items():
        data = result.result.result
        files = result.save(outdir)
        if label == "image":
            shown = f"PNG of a {data.get('label', '?')}: {files[0]}"
        elif label == "embed":
            shown = (
                f"{data.get('dimensions', data.get('dim', '?'))}-dimensional embedding: {files[0]}"
            )
        elif label == "generate":
            shown = repr(data.get("text", data))
        elif label == "finetune":
            shown = (
                f"new model {data['model']} ({data['steps']} steps, {data['checkpoints']} "
                f"checkpoints in a hash chain): {files[0]}"
            )
        elif label.startswith("evaluate"):
            shown = f"accuracy {data['accuracy']:.3f} on {data['rows']} held-out shifted digits"
        else:
            shown = f"label {data.get('label')} with probability {data.get('probability', 0):.3f}"
        table.add_row(label, shown)
    console.print(table)


def show_balances(client: Client) -> None:
    token = Token(client.w3, client.deployment)
    holders: set[str] = set()
    for event in token.events(from_block=client.deployment.block):
        if isinstance(event, Transfer):
            holders.update({event.sender, event.receiver})
    holders.discard("0x0000000000000000000000000000000000000000")
    names = {demo_account(r).address: r for r in DEMO_ROLES}
    names.update({addr: name for name, addr in client.deployment.contracts.items()})
    table = Table("holder", "address", "DEAI", title="balances")
    total = 0
    for address in sorted(holders, key=lambda a: names.get(a, "~" + a)):
        balance = token.balance_of(address)
        total += balance
        table.add_row(names.get(address, "?"), address, format_tokens(balance))
    console.print(table)
    supply = token.total_supply()
    verdict = "[green]conserved[/]" if total == supply else "[red]NOT conserved[/]"
    console.print(
        f"sum of all balances {format_tokens(total)} = total supply {format_tokens(supply)}: {verdict}"
    )
    if total != supply:
        raise SystemExit("conservation of funds failed")


def main() -> int:
    if DATA.exists():
        shutil.rmtree(DATA)  # every demo starts from a fresh chain
    network = LocalNetwork(DATA, providers=PROVIDERS, challenge_window_s=4)
    started = time.monotonic()
    try:
        console.rule("[bold]1. the devnet: chain, contracts, demo accounts, models, explorer")
        network.start_devnet()
        seeded = seed_devnet(network.config, network.deployment_or_fail())
        explorer = start_explorer(network.config)
        console.print(
            f"chain {network.deployment_or_fail().rpc_url}; {len(seeded)} models and datasets "
            f"registered; explorer at [bold]{explorer.url}[/]"
        )

        console.rule("[bold]2. three providers stake, register and wait for work")
        network.start_providers()
        for provider in network.running:
            console.print(
                f"{provider.spec.role}: {provider.url}  prices {', '.join(provider.spec.prices)}"
                + (f"  (slow: +{provider.spec.delay_s:g} s a job)" if provider.spec.delay_s else "")
            )

        console.rule("[bold]3. two clients post jobs of every kind")
        alice = Client.from_config(network.client_config("client1"), demo_account("client1"))
        bob = Client.from_config(network.client_config("client2"), demo_account("client2"))
        models = {a.name: a.cid for a in seeded}
        rows: dict[str, Job] = {
            "image": alice.submit(
                {"kind": "image", "model": models["imagegen"], "params": {"label": 7, "seed": 3}},
                max_price=tokens(4),
            ),
            "embed": bob.submit(
                {
                    "kind": "embed",
                    "model": models["minilm"],
                    "inputs": [bob.add_bytes(b"who made this file, with which model?")],
                },
                max_price=tokens(2),
            ),
            "generate": alice.submit(
                {
                    "kind": "generate",
                    "model": models["textgen"],
                    "inputs": [alice.add_bytes(b"The Python interpreter")],
                    "params": {"max_tokens": 60, "temperature": 0.8, "seed": 1},
                },
                max_price=tokens(4),
            ),
            "finetune": bob.submit(
                {
                    "kind": "finetune",
                    "model": models["digits"],
                    "inputs": [bob.add_path(demo_dataset_dirs()["digits-shifted-train"])],
                    "params": {"epochs": 8, "seed": 0},
                },
                max_price=tokens(10),
            ),
        }
        follow(rows)
        image = rows["image"].result()
        png = image.outputs[image.result.outputs[0].name]
        child = rows["finetune"].result().result.result["model"]
        held_out = bob.add_path(demo_dataset_dirs()["digits-shifted-test"])
        wave = {
            "classify": alice.submit(
                {"kind": "classify", "model": models["digits"], "inputs": [alice.add_bytes(png)]},
                max_price=tokens(2),
            ),
            "evaluate parent": bob.submit(
                {"kind": "evaluate", "model": models["digits"], "inputs": [held_out]},
                max_price=tokens(2),
            ),
            "evaluate child": bob.submit(
                {"kind": "evaluate", "model": child, "inputs": [held_out]}, max_price=tokens(2)
            ),
        }
        console.print(
            "then: classify the generated image, and score the fine-tuned model against its parent"
        )
        follow(wave)
        rows.update(wave)

        console.rule("[bold]4. results, provenance and money")
        results = {
            label: job.result()
            for label, job in rows.items()
            if job.status() is JobStatus.FINALIZED
        }
        show_results(results, DATA / "outputs")
        output = image.result.outputs[0].cid
        verdict = verify(
            output,
            store=alice.store,
            w3=alice.w3,
            deployment=alice.deployment,
            gateways=[p.url for p in network.running],
        )
        anchored_by = time.monotonic() + 15  # providers anchor their manifests every few seconds
        while not verdict.ok and time.monotonic() < anchored_by:
            time.sleep(1)
            verdict = verify(
                output,
                store=alice.store,
                w3=alice.w3,
                deployment=alice.deployment,
                gateways=[p.url for p in network.running],
            )
        console.print(f"[bold]deai verify[/] {output}:\n  {verdict.summary}")
        for client in (alice, bob):
            client.withdraw()
        show_balances(alice)
        failed = [label for label, job in rows.items() if job.status() is not JobStatus.FINALIZED]
        if failed:
            raise SystemExit(f"jobs did not finalize: {failed}")
        if not verdict.ok:
            raise SystemExit("provenance check failed")
    finally:
        console.rule("[bold]5. stop everything the demo started")
        stop_explorer(network.config)
        network.stop()
    console.print(
        f"[green]demo finished in {time.monotonic() - started:.0f} s[/] "
        f"(outputs in {DATA / 'outputs'}; `deai --data-dir {DATA / 'devnet-node'} devnet up` "
        "brings this chain back)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
