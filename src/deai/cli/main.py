"""The root ``deai`` app: global options and the mapping of errors to exit codes and hints."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from typer.exceptions import TyperException

from deai.cli import ai_request, devnet, job, keys, provider
from deai.cli import explorer as explorer_cli
from deai.cli import gateway as gateway_cli
from deai.cli import model as model_cli
from deai.cli import nft as nft_cli
from deai.cli import store as store_cli
from deai.cli import validator as validator_cli
from deai.cli import verify as verify_cli
from deai.cli.common import CliState, err_console
from deai.config import Config
from deai.errors import ConfigError, DeaiError

app = typer.Typer(
    name="deai",
    help="deai: an open, verifiable, decentralized AI network.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(keys.app, name="keys")
app.add_typer(devnet.app, name="devnet")
app.add_typer(provider.app, name="provider")
app.add_typer(gateway_cli.app, name="gateway")
app.add_typer(validator_cli.app, name="validator")
app.add_typer(job.app, name="job")
app.add_typer(store_cli.app, name="store")
app.add_typer(model_cli.app, name="model")
app.add_typer(explorer_cli.index_app, name="index")
app.command("explorer")(explorer_cli.explorer)
app.command("stats")(explorer_cli.stats)
app.add_typer(nft_cli.app, name="nft")
app.add_typer(ai_request.app, name="ai-request")
app.command("verify")(verify_cli.verify_command)


@app.callback()
def root(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="State directory (default ~/.deai or DEAI_DATA_DIR)."),
    ] = None,
    password_file: Annotated[
        Path | None, typer.Option("--password-file", help="Read keystore passwords from this file.")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if password_file is not None:
        overrides["password_file"] = password_file
    try:
        config = Config(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(
            f"invalid setting: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}"
        ) from None
    ctx.obj = CliState(config=config, debug=debug)


def run(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turn deai errors into a one-line message and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        # Outside standalone mode click returns a command's `typer.Exit(code)` instead of raising it.
        code = app(args=args, prog_name="deai", standalone_mode=False)
    except DeaiError as exc:
        if debug:
            traceback.print_exc()
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        if exc.hint:
            err_console.print(f"[dim]hint:[/] {exc.hint}", highlight=False)
        return exc.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except typer.Exit as exc:
        return int(exc.exit_code)
    except TyperException as exc:  # usage errors: typer's vendored click prints them itself
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err_console.print(f"error: {exc.message}")
        return int(exc.exit_code)
    return code if isinstance(code, int) else 0


def main() -> None:  # pragma: no cover - the console script
    sys.exit(run())
