"""What every command shares: the Config of this invocation and one way to print results."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console

from deai.config import Config

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
