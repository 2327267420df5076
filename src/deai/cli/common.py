"""What every command shares: the Config of this invocation and one way to print results."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import typer
from eth_account.signers.local import LocalAccount
from rich.console import Console

from deai.config import Config
from deai.errors import IdentityError

console = Console()
err_console = Console(stderr=True)

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object instead of a table.")
]


@dataclass
class CliState:
    config: Config
    debug: bool = False


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState), "the root callback sets the CLI state"
    return obj


def emit(data: Any, as_json: bool, render: Callable[[], None]) -> None:
    """Print ``data`` as JSON (one object, last line) or call ``render`` for humans."""
    if as_json:
        typer.echo(json.dumps(data, default=str))
    else:
        render()


KeyOption = Annotated[
    str | None, typer.Option("--key", help="Account name or address in your keystore folder.")
]
RoleOption = Annotated[
    str | None,
    typer.Option(
        "--devnet-role", help="Use a devnet demo account (provider1, client1, …): devnet only."
    ),
]


def load_account(ctx: typer.Context, key: str | None, devnet_role: str | None) -> LocalAccount:
    """The signing account: from the encrypted keystore (``--key``) or a devnet role."""
    from deai.chain.devnet import demo_account
    from deai.identity import Keystore, resolve_password

    if (key is None) == (devnet_role is None):
        raise IdentityError(
            "say who signs: give exactly one of --key NAME or --devnet-role ROLE",
            hint="create an account with `deai keys new NAME`; on the devnet, --devnet-role client1",
        )
    if devnet_role is not None:
        return demo_account(devnet_role)
    assert key is not None
    config = state(ctx).config
    return Keystore(config.keystore_dir).load(key, resolve_password(config))


class Daemon(Protocol):
    """What ``run_node`` needs of a provider or validator node."""

    address: str

    @property
    def endpoint(self) -> str: ...

    def start(self) -> None: ...

    def run_forever(self, stop: threading.Event) -> None: ...

    def stop(self) -> None: ...


def run_node(node: Daemon, kind: str) -> None:
    """Start ``node``, print its ready line, run it until SIGTERM or Ctrl-C, then stop it."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    node.start()
    try:
        # One plain line that scripts and tests wait for.
        print(f"{kind} {node.address} ready at {node.endpoint}", flush=True)
        node.run_forever(stop)
    finally:
        node.stop()
