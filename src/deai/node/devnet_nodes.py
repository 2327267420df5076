"""The devnet's own providers and validators: what ``deai devnet up --providers N --validators M`` runs.

Node i of a kind plays the funded devnet role ``provider<i>`` / ``validator<i>``
(``deai.chain.devnet.DEMO_ROLES``: three of each, funded with tokens and ETH when the devnet
is deployed); each stakes and registers itself when it starts, as any node does. Everything
of one node lives under ``<data_dir>/devnet/nodes/<role>/``:

- the node's own data directory (store, SQLite state) — the node runs with
  ``--data-dir`` there, so it is a node like any other;
- ``keystores/<role>.json`` and ``password``: the role's key in an encrypted keystore, made
  on the first ``up`` and reused by every later one (the node signs with ``--key``);
- ``node.log``: everything it prints;
- ``run.json``: kind, pid, port, URL and address of its latest start; ``deai devnet down``
  stops the pids, ``deai devnet status`` lists them.

Each node runs detached (a session of its own), so it outlives ``deai devnet up``; its pid
is its process group's, so stopping it stops its worker processes too. The directory sits
inside the devnet's, so ``deai devnet reset`` forgets nodes' state together with the chain
it belonged to.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from deai.chain.anvil import free_port, pid_alive, port_is_free
from deai.chain.devnet import DEMO_ROLES, demo_account
from deai.config import Config
from deai.errors import ConfigError, IdentityError, NodeError
from deai.identity import Keystore
from deai.node.processes import (
    ProviderSpec,
    Signer,
    ValidatorSpec,
    provider_command,
    spawn_node,
    stop_node_pids,
    validator_command,
    wait_ready,
)

NodeKind = Literal["provider", "validator"]
KINDS: tuple[NodeKind, ...] = ("provider", "validator")
DEFAULT_PROVIDERS = 2
DEFAULT_VALIDATORS = 1
READY_TIMEOUT_S = 120.0
# The keys are anvil's public development keys: the keystore is there so a devnet node signs
# the way a real one does, not to protect them. A cheap scrypt keeps every start fast.
DEVNET_SCRYPT_N = 2**12


def funded_roles(kind: NodeKind) -> tuple[str, ...]:
    """The devnet roles a node of ``kind`` can play: provider1…3 or validator1…3."""
    return tuple(role for role in DEMO_ROLES if role.rstrip("0123456789") == kind)


def node_roles(providers: int, validators: int) -> list[tuple[NodeKind, str]]:
    """(kind, role) of each node to start; a ConfigError if a count is negative or too big."""
    chosen: list[tuple[NodeKind, str]] = []
    for kind, count in zip(KINDS, (providers, validators), strict=True):
        roles = funded_roles(kind)
        if not 0 <= count <= len(roles):
            raise ConfigError(
                f"--{kind}s {count}: the devnet has {len(roles)} funded {kind} accounts "
                f"({', '.join(roles)})",
                hint=f"give --{kind}s a number from 0 to {len(roles)}; start more {kind}s "
                f"yourself with `deai {kind} start --key NAME` after `deai devnet fund`",
            )
        chosen += [(kind, role) for role in roles[:count]]
    return chosen


@dataclass(frozen=True)
class DevnetNode:
    """One node of the devnet, as recorded in its ``run.json``."""

    kind: NodeKind
    role: str
    address: str
    pid: int
    port: int
    data_dir: Path
    log_file: Path
    started_at: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        """Whether the recorded process still runs (and is this node, not a reused pid)."""
        return pid_alive(self.pid) and _runs_in(self.pid, self.data_dir)

    def answers(self, timeout: float = 1.0) -> bool:
        """Whether its HTTP API answers ``/health``."""
        try:
            return httpx.get(f"{self.url}/health", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DevnetNode:
        """Read back ``as_dict``'s output (a KeyError, TypeError or ValueError if it is not)."""
        kind = data["kind"]
        if kind not in KINDS:
            raise ValueError(f"unknown node kind {kind!r}")
        return cls(
            kind=kind,
            role=str(data["role"]),
            address=str(data["address"]),
            pid=int(data["pid"]),
            port=int(data["port"]),
            data_dir=Path(data["data_dir"]),
            log_file=Path(data["log_file"]),
            started_at=float(data["started_at"]),
        )

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["data_dir"], data["log_file"] = str(self.data_dir), str(self.log_file)
        data["url"] = self.url
        return data


def _runs_in(pid: int, data_dir: Path) -> bool:
    """Whether process ``pid``'s command line names ``data_dir`` (guards against pid reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc to ask: trust the pid
    return str(data_dir).encode() in cmdline


class DevnetNodes:
    """The provider and validator processes of one devnet (one data directory)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.dir = config.devnet_dir / "nodes"

    def node_dir(self, role: str) -> Path:
        return self.dir / role

    # --- reading ----------------------------------------------------------------------------

    def recorded(self) -> list[DevnetNode]:
        """Every node that was started here, alive or not, in role order."""
        nodes = []
        for role in DEMO_ROLES:
            path = self.node_dir(role) / "run.json"
            with contextlib.suppress(FileNotFoundError, ValueError, KeyError, TypeError):
                nodes.append(DevnetNode.from_dict(json.loads(path.read_text())))
        return nodes

    def running(self) -> list[DevnetNode]:
        return [node for node in self.recorded() if node.alive()]

    # --- lifecycle --------------------------------------------------------------------------

    def start(
        self,
        providers: int = DEFAULT_PROVIDERS,
        validators: int = DEFAULT_VALIDATORS,
        *,
        timeout: float = READY_TIMEOUT_S,
    ) -> list[DevnetNode]:
        """Start the nodes (in parallel) and wait until each serves; all or none keep running.

        Needs the devnet up (the nodes read its deployment file). Nodes left running by an
        earlier ``up`` whose chain has since stopped are stopped first.
        """
        wanted = node_roles(providers, validators)
        if not self.config.deployment_file.is_file():
            raise NodeError(
                f"no deployment at {self.config.deployment_file} for the nodes to use",
                hint="start the devnet first: `deai devnet up`",
            )
        self.stop()
        started: list[tuple[DevnetNode, subprocess.Popen[bytes], int]] = []
        try:
            for kind, role in wanted:
                started.append(self._spawn(kind, role))
            for node, process, offset in started:
                name = f"devnet {node.kind} {node.role}"
                wait_ready(process, node.log_file, name, timeout, offset=offset)
        except BaseException:
            stop_node_pids([node.pid for node, _, _ in started])
            raise
        return [node for node, _, _ in started]

    def stop(self) -> list[DevnetNode]:
        """Stop every running node of this devnet, workers included; returns those stopped."""
        running = self.running()
        stop_node_pids([node.pid for node in running])
        return running

    def _spawn(
        self, kind: NodeKind, role: str
    ) -> tuple[DevnetNode, subprocess.Popen[bytes], int]:
        """Start one node; returns it, its process and where this start's part of its log begins."""
        node_dir = self.node_dir(role)
        node_dir.mkdir(parents=True, exist_ok=True)
        signer = self._signer(node_dir, role)
        port = self._port(role)
        if kind == "provider":
            # No prices and no models: the provider's defaults, every demo model at every kind.
            cmd = provider_command(ProviderSpec(role, prices=()), node_dir, port, signer=signer)
        else:
            cmd = validator_command(ValidatorSpec(role), node_dir, port, signer=signer)
        log_file = node_dir / "node.log"
        # Each start gets its own section of the log; only a ready line in it counts.
        with log_file.open("ab") as log:
            log.write(f"\n--- deai devnet up, {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n".encode())
        offset = log_file.stat().st_size
        process = spawn_node(cmd, self.config.deployment_file, log_file, detach=True)
        node = DevnetNode(
            kind, role, demo_account(role).address, process.pid, port, node_dir, log_file, time.time()
        )
        # Written before waiting, so a `down` from another terminal finds a node still starting.
        (node_dir / "run.json").write_text(json.dumps(node.as_dict()))
        return node, process, offset

    def _port(self, role: str) -> int:
        """The node's port of its last start if it is free (stable URLs across down/up), else any."""
        with contextlib.suppress(FileNotFoundError, ValueError, KeyError, TypeError):
            port = int(json.loads((self.node_dir(role) / "run.json").read_text())["port"])
            if port_is_free(port):
                return port
        return free_port()

    def _signer(self, node_dir: Path, role: str) -> Signer:
        """The node's keystore account: the role's key, imported once and then reused."""
        keystore = Keystore(Config(data_dir=node_dir).keystore_dir, scrypt_n=DEVNET_SCRYPT_N)
        password_file = node_dir / "password"
        expected = demo_account(role).address
        if password_file.is_file():
            with contextlib.suppress(IdentityError, OSError):
                password = password_file.read_text().rstrip("\r\n")
                if keystore.load(role, password).address == expected:
                    return Signer(role, password_file)
        # First start, or a keystore that no longer opens: make both again from the role's key.
        password = secrets.token_hex(16)
        password_file.touch(mode=0o600)
        password_file.write_text(password + "\n")
        with contextlib.suppress(IdentityError):
            keystore.find(role).path.unlink()
        keystore.import_key(role, demo_account(role).key, password)
        return Signer(role, password_file)
