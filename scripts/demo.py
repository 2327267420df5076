"""`make demo`: the main deai story on an embedded local devnet.

Starts a devnet in a private data directory (./.deai-demo), shows what is deployed and
who holds what, and stops everything it started, exiting 0. Later stages (providers,
jobs of every kind, results and balances) are added here as the network grows.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from rich.console import Console

from deai.cli.main import run

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / ".deai-demo"
console = Console()


def step(title: str, *argv: str) -> None:
    console.rule(f"[bold]{title}")
    console.print(f"[dim]$ deai {' '.join(argv)}[/]")
    code = run(["--data-dir", str(DATA_DIR), *argv])
    if code != 0:
        raise SystemExit(code)


def main() -> int:
    if DATA_DIR.exists():
        shutil.rmtree(DATA_DIR)  # every demo starts from a fresh chain
    try:
        step("1. start the local devnet (anvil + deai contracts, demo accounts funded)", "devnet", "up")
        step("2. what is deployed, and who holds what", "devnet", "status")
    finally:
        console.rule("[bold]stop everything the demo started")
        run(["--data-dir", str(DATA_DIR), "devnet", "down"])
    console.print("[green]demo finished[/]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
