"""Node processes started from Python: their command lines, spawning, waiting until ready, stopping.

Used by ``deai devnet up`` (``deai.node.devnet_nodes``) and by the test network
(``deai.testing.network``), so both start nodes exactly the way a user does: as
``python -m deai.cli … provider start`` / ``validator start`` / ``gateway start``.

- ``ProviderSpec`` / ``ValidatorSpec`` — what one provider or validator process runs.
- ``provider_command`` / ``validator_command`` — their ``deai`` command lines; the signer
  is a devnet role (``--devnet-role``) or a keystore account (``Signer``).
- ``spawn_node`` — start one process reading a deployment file, logging to a file;
  ``detach=True`` puts it in its own session so it outlives the command that started it.
- ``wait_ready`` — wait for the " ready at " line every node prints once it serves.
- ``terminate`` (a ``Popen``) and ``stop_node_pids`` (pids of detached nodes, together
  with every process they started) — SIGTERM, then SIGKILL if they linger.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from deai.chain.anvil import pid_alive
from deai.errors import NodeError

READY_MARK = b" ready at "
"""What a node prints once it serves (``deai provider start`` and friends print one such line)."""

# Settings a node must not inherit from the shell that starts it: the command line names
# its data directory, the deployment file names its chain, and the signer its password.
_PRIVATE_ENV = ("DEAI_DATA_DIR", "DEAI_RPC_URL", "DEAI_PASSWORD", "DEAI_PASSWORD_FILE")


@dataclass(frozen=True)
class ProviderSpec:
    """One provider process: its devnet role, prices (KIND=TOKENS), models, and speed."""

    role: str
    prices: tuple[str, ...] = ("classify=1",)
    """Empty: the provider's default price for every kind it serves."""
    models: tuple[Path, ...] = ()
    """Empty: the demo models."""
    delay_s: float = 0.0
    max_jobs: int = 2
    cheat: str | None = None
    """An adversary's ``--cheat`` mode (deai.node.adversary), for verification tests."""


@dataclass(frozen=True)
class ValidatorSpec:
    """One validator process: its devnet role, the models it checks with, its duties."""

    role: str
    models: tuple[Path, ...] = ()
    epoch_s: int = 60
    oracle: bool = False
    audit_rate: float | None = None
    cheat: str | None = None
    receipt_checks: bool = True
    """Sample anchored fast-path receipts, re-run them, challenge and vote (``--no-receipt-checks``: off)."""
    receipt_sample_bps: int | None = None
    """The fraction of anchored receipts re-run, in basis points (10000 = all); None: the CLI's default."""


@dataclass(frozen=True)
class Signer:
    """A keystore account a node signs with: its name and the file holding its password."""

    key: str
    password_file: Path


def _base(data_dir: Path, signer: Signer | None) -> list[str]:
    cmd = [sys.executable, "-m", "deai.cli", "--data-dir", str(data_dir)]
    if signer is not None:  # a global option: it goes before the command group
        cmd += ["--password-file", str(signer.password_file)]
    return cmd


def _who(role: str, signer: Signer | None) -> list[str]:
    return ["--key", signer.key] if signer is not None else ["--devnet-role", role]


def provider_command(
    spec: ProviderSpec, data_dir: Path, port: int, *, signer: Signer | None = None
) -> list[str]:
    """``deai provider start`` for ``spec``, signing as ``signer`` or else as ``spec.role``."""
    cmd = [
        *_base(data_dir, signer),
        "provider",
        "start",
        *_who(spec.role, signer),
        "--port",
        str(port),
        "--max-jobs",
        str(spec.max_jobs),
        "--delay",
        str(spec.delay_s),
    ]
    for price in spec.prices:
        cmd += ["--price", price]
    for model in spec.models:
        cmd += ["--model", str(model)]
    if spec.cheat is not None:
        cmd += ["--cheat", spec.cheat]
    return cmd


def validator_command(
    spec: ValidatorSpec, data_dir: Path, port: int, *, signer: Signer | None = None
) -> list[str]:
    """``deai validator start`` for ``spec``, signing as ``signer`` or else as ``spec.role``."""
    cmd = [
        *_base(data_dir, signer),
        "validator",
        "start",
        *_who(spec.role, signer),
        "--port",
        str(port),
        "--epoch-s",
        str(spec.epoch_s),
    ]
    for model in spec.models:
        cmd += ["--model", str(model)]
    if spec.oracle:
        cmd.append("--oracle")
    if spec.audit_rate is not None:
        cmd += ["--audit-rate", str(spec.audit_rate)]
    if spec.cheat is not None:
        cmd += ["--cheat", spec.cheat]
    if not spec.receipt_checks:
        cmd.append("--no-receipt-checks")
    if spec.receipt_sample_bps is not None:
        cmd += ["--receipt-sample-rate", str(spec.receipt_sample_bps / 10_000)]
    return cmd


def spawn_node(
    cmd: list[str], deployment_file: Path, log_path: Path, *, detach: bool = False
) -> subprocess.Popen[bytes]:
    """Start one ``deai`` node process reading ``deployment_file``, logging to ``log_path``.

    ``detach``: a session of its own, so the node outlives the command that started it and
    a Ctrl-C in that terminal does not reach it; its pid is then its process group's id,
    which ``stop_node_pids`` uses to stop its worker processes with it.
    """
    env = {**os.environ, "DEAI_DEPLOYMENT_PATH": str(deployment_file), "PYTHONUNBUFFERED": "1"}
    for name in _PRIVATE_ENV:
        env.pop(name, None)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=detach,
        )


def wait_ready(
    process: subprocess.Popen[bytes] | None,
    log_path: Path,
    name: str,
    timeout: float,
    *,
    offset: int = 0,
) -> None:
    """Wait until the node prints its " ready at " line (after ``offset`` bytes of its log)."""
    if process is None:
        raise NodeError(f"{name} was never started", hint="spawn it before waiting for it")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise NodeError(
                f"{name} exited with code {process.returncode} before it was ready; "
                f"its log is {log_path}",
                hint=f"the last lines of {log_path} say why",
            )
        if READY_MARK in log_path.read_bytes()[offset:]:
            return
        time.sleep(0.1)
    raise NodeError(
        f"{name} was not ready in {timeout:.0f} s; its log is {log_path}",
        hint=f"see {log_path}; a loaded machine may need a longer wait",
    )


def terminate(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL if the process lingers."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


def group_members(pgid: int) -> list[int]:
    """The live processes of process group ``pgid`` (Linux: read from /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            # Fields after the ")" that ends the command name: state, ppid, pgrp, …
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def _reap(pid: int) -> None:
    """Collect ``pid``'s exit status if it is our child (else it lingers as a zombie)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop_node_pids(pids: Iterable[int], *, timeout: float = 15.0) -> None:
    """Stop detached nodes (``spawn_node(detach=True)``) and every process each started.

    All get SIGTERM at once (a node stops its server and workers and exits; done one by one
    this takes seconds each); once they are gone (or after ``timeout``), whatever is left
    of their process groups gets SIGKILL, so no worker outlives its node.
    """
    groups = list(pids)
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pgid in groups:
            _reap(pgid)
        if not any(pid_alive(pgid) for pgid in groups):
            break
        time.sleep(0.1)
    for pgid in groups:
        if group_members(pgid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(group_members(pgid) for pgid in groups):
        for pgid in groups:
            _reap(pgid)
        time.sleep(0.05)
