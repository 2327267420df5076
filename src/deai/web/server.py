"""Run the explorer: in this process (``serve``) or as a daemon process (``start_explorer``).

``serve(config, port=…)`` blocks, serving the explorer with uvicorn on loopback and writing
``<data_dir>/analytics/explorer.json`` (pid and URL) while it runs, so ``deai stats`` and
``deai index status`` can ask it over HTTP instead of opening the index it holds.
``start_explorer(config, port=…)`` starts ``python -m deai.web`` in its own session (it
outlives the caller, like the devnet's anvil), waits until ``/api/health`` answers and
returns an ``ExplorerProcess``; ``stop_explorer(config)`` stops the one recorded for a
data directory. ``deai devnet up`` uses these two.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from deai.apps.analytics.database import explorer_run_file, index_path
from deai.apps.analytics.specs import store_spec_kinds
from deai.chain.anvil import free_port, pid_alive, port_is_free, stop_pid
from deai.config import Config
from deai.errors import ChainUnavailable, PortInUse
from deai.web.service import ExplorerSettings

DEFAULT_PORT = 8545 + 100
"""8645: beside anvil's customary 8545."""


def settings_from_config(config: Config, *, refresh_s: int = 5, poll_s: float = 1.0) -> ExplorerSettings:
    return ExplorerSettings(
        deployment_file=config.deployment_file,
        index_file=index_path(config),
        rpc_url=config.rpc_url,
        refresh_s=refresh_s,
        poll_s=poll_s,
        spec_kinds=store_spec_kinds(config),
        store_dir=config.store_dir,
    )


@dataclass(frozen=True)
class ExplorerProcess:
    pid: int
    url: str

    def stop(self, timeout: float = 10.0) -> None:
        stop_pid(self.pid, timeout=timeout)


def running_explorer(config: Config) -> ExplorerProcess | None:
    """The explorer serving ``config``'s data directory, if one runs and answers."""
    path = explorer_run_file(config)
    try:
        info = json.loads(path.read_text())
        process = ExplorerProcess(int(info["pid"]), str(info["url"]))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
    if not pid_alive(process.pid):
        path.unlink(missing_ok=True)
        return None
    return process


def serve(config: Config, *, host: str = "127.0.0.1", port: int | None = None, refresh_s: int = 5) -> None:
    """Serve the explorer until interrupted (the foreground ``deai explorer``)."""
    import uvicorn

    from deai.web.app import create_app
    from deai.web.service import Explorer

    port = DEFAULT_PORT if port is None else port
    if port and not port_is_free(port):
        raise PortInUse(f"port {port} on 127.0.0.1 is already in use")
    explorer = Explorer(settings_from_config(config, refresh_s=refresh_s))
    run_file = explorer_run_file(config)
    run_file.parent.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps({"pid": os.getpid(), "url": f"http://{host}:{port}"}))
    try:
        uvicorn.run(create_app(explorer), host=host, port=port, log_level="warning")
    finally:
        run_file.unlink(missing_ok=True)


def start_explorer(
    config: Config, *, port: int | None = None, refresh_s: int = 5, timeout: float = 30.0,
    log_file: Path | None = None,
) -> ExplorerProcess:
    """Start the explorer for ``config`` as its own process; returns once it answers."""
    port = free_port() if port is None else port
    if not port_is_free(port):
        raise PortInUse(f"port {port} on 127.0.0.1 is already in use")
    cmd = [sys.executable, "-m", "deai.web", "--data-dir", str(config.data_dir), "--port", str(port),
           "--refresh", str(refresh_s)]
    if config.rpc_url:
        cmd += ["--rpc-url", config.rpc_url]
    log_file = log_file or explorer_run_file(config).with_name("explorer.log")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ChainUnavailable(f"the explorer exited with code {process.returncode}",
                                   hint=f"see {log_file}")
        try:
            if httpx.get(f"{url}/api/health", timeout=1.0).status_code == 200:
                return ExplorerProcess(process.pid, url)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_pid(process.pid)
    raise ChainUnavailable(f"the explorer did not answer at {url} within {timeout:.0f}s", hint=f"see {log_file}")


def stop_explorer(config: Config) -> bool:
    """Stop the explorer of ``config``'s data directory; False if none ran."""
    process = running_explorer(config)
    if process is None:
        return False
    process.stop()
    explorer_run_file(config).unlink(missing_ok=True)
    return True
