"""``python -m deai.web``: the explorer as a process (what ``start_explorer`` runs)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from pathlib import Path
from types import FrameType

from deai.config import Config
from deai.web.server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deai.web", description="Serve the deai explorer.")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--refresh", type=int, default=5)
    parser.add_argument("--rpc-url", default=None)
    args = parser.parse_args(argv)
    overrides: dict[str, object] = {"data_dir": args.data_dir}
    if args.rpc_url:
        overrides["rpc_url"] = args.rpc_url

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # uvicorn shuts down cleanly and serve() removes its run file

    signal.signal(signal.SIGTERM, terminate)
    with contextlib.suppress(KeyboardInterrupt):
        serve(Config(**overrides), host=args.host, port=args.port, refresh_s=args.refresh)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
