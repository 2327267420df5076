"""Start, wait for and stop an anvil process on loopback.

Used by the devnet (a detached daemon whose state survives restarts) and by the test
plugin (a child killed in ``finally``). Anvil's well-known development accounts come
from its default mnemonic; they are for the devnet only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from deai.errors import ChainUnavailable, PortInUse

DEVNET_CHAIN_ID = 31337
# anvil's default mnemonic ("test test … junk"): public, devnet-only keys.
DEV_PRIVATE_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class AnvilProcess:
    """A running anvil; ``rpc_url`` answers JSON-RPC once ``start`` returns."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 10.0) -> None:
        stop_pid(self.process.pid, timeout=timeout)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1)


def start_anvil(
    anvil_bin: Path,
    *,
    port: int | None = None,
    state_file: Path | None = None,
    block_time: float | None = None,
    log_file: Path | None = None,
    detach: bool = False,
    chain_id: int = DEVNET_CHAIN_ID,
    timeout: float = 20.0,
) -> AnvilProcess:
    """Start anvil on 127.0.0.1 and wait until it answers ``eth_chainId``.

    ``detach`` puts it in its own session so it outlives this process (the devnet daemon).
    ``state_file`` loads state from it if present and dumps to it on exit.
    """
    if port is None:
        port = free_port()
    elif not port_is_free(port):
        raise PortInUse(f"port {port} on 127.0.0.1 is already in use")
    cmd = [
        str(anvil_bin),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--chain-id",
        str(chain_id),
        "--accounts",
        str(len(DEV_PRIVATE_KEYS)),
    ]
    if state_file is not None:
        cmd += ["--state", str(state_file)]
    if block_time is not None:
        cmd += ["--block-time", str(block_time)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        out = log_file.open("ab")
    else:
        out = open(os.devnull, "wb")  # noqa: SIM115 - handed to the child, closed below
    try:
        process = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=detach,
        )
    finally:
        out.close()
    anvil = AnvilProcess(process, port)
    try:
        wait_for_rpc(anvil.rpc_url, timeout=timeout, process=process)
    except BaseException:
        anvil.stop()
        raise
    return anvil


def wait_for_rpc(
    rpc_url: str, *, timeout: float = 20.0, process: subprocess.Popen[bytes] | None = None
) -> int:
    """Poll until the endpoint answers ``eth_chainId``; returns the chain id."""
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ChainUnavailable(
                f"anvil exited with code {process.returncode} before answering",
                hint="see the devnet log under the data directory, or run anvil by hand",
            )
        chain_id = rpc_chain_id(rpc_url)
        if chain_id is not None:
            return chain_id
        time.sleep(0.05)
    raise ChainUnavailable(f"{rpc_url} did not answer within {timeout:.0f}s ({last_error})")


def rpc_chain_id(rpc_url: str) -> int | None:
    """The chain id the endpoint reports, or None if it does not answer."""
    try:
        response = httpx.post(
            rpc_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
            timeout=1.0,
        )
        return int(response.json()["result"], 16)
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; treat it as dead.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def stop_pid(pid: int, *, timeout: float = 10.0) -> None:
    """SIGTERM (anvil dumps its state), then SIGKILL if it lingers."""
    if not pid_alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not pid_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
