"""A whole local network for e2e tests, the demo and benchmarks: a devnet, provider and validator processes.

``LocalNetwork`` starts the devnet of its own data directory (short challenge window),
then each provider as a separate ``deai provider start`` process with its own data
directory, port and log file, and waits for each to say it is ready. Providers can be
killed (SIGKILL, as a crash) and restarted on the same data directory (or with another
spec, e.g. another ``cheat`` mode). Validators (``ValidatorSpec``, ``deai validator start``,
with its receipt-check flags) start alongside the providers when any are listed; each
publishes its URL in the Registry, so no test needs to tell one validator where another is.
``stop`` ends every process it started, whatever happened.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Generic, TypeVar

from deai.chain.anvil import free_port
from deai.chain.deploy import Deployment
from deai.chain.devnet import Devnet
from deai.config import Config
from deai.errors import NodeError
from deai.node.processes import (
    ProviderSpec,
    ValidatorSpec,
    provider_command,
    spawn_node,
    terminate,
    validator_command,
    wait_ready,
)

__all__ = [
    "GatewayProcess",
    "LocalNetwork",
    "NodeProcess",
    "ProviderProcess",
    "ProviderSpec",
    "ValidatorProcess",
    "ValidatorSpec",
    "start_gateway",
]


SpecT = TypeVar("SpecT", "ProviderSpec", "ValidatorSpec")


@dataclass
class NodeProcess(Generic[SpecT]):
    """One node process of the network (a provider or a validator) and where it lives."""

    spec: SpecT
    data_dir: Path
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


ProviderProcess = NodeProcess[ProviderSpec]
ValidatorProcess = NodeProcess[ValidatorSpec]


@dataclass
class LocalNetwork:
    root: Path
    providers: list[ProviderSpec] = field(default_factory=list)
    challenge_window_s: int = 3
    block_time: float | None = None
    running: list[ProviderProcess] = field(default_factory=list)
    validators: list[ValidatorSpec] = field(default_factory=list)
    validating: list[ValidatorProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.config = Config(
            data_dir=self.root / "devnet-node",
            challenge_window_s=self.challenge_window_s,
            block_time=self.block_time,
        )
        self.devnet = Devnet(self.config)
        self.deployment: Deployment | None = None

    def client_config(self, name: str) -> Config:
        """A Config for a client (or any other process) of this network."""
        return Config(data_dir=self.root / name, deployment_path=self.config.deployment_file)

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self, *, timeout: float = 120.0) -> LocalNetwork:
        self.start_devnet()
        try:  # validators start while the providers do; each process waits only on the chain
            self.validating = [self._spawn_validator(spec) for spec in self.validators]
        except BaseException:
            self.stop()
            raise
        self.start_providers(timeout=timeout)
        try:
            for i, validator in enumerate(self.validating):
                self.validating[i] = _ready_or_respawn(
                    validator, partial(self._spawn_validator, validator.spec),
                    f"validator {validator.spec.role}", timeout,
                )
        except BaseException:
            self.stop()
            raise
        return self

    def start_devnet(self) -> Deployment:
        self.deployment = self.devnet.up()
        return self.deployment

    def deployment_or_fail(self) -> Deployment:
        if self.deployment is None:
            raise NodeError("the network's devnet is not started", hint="call start() first")
        return self.deployment

    def start_providers(self, *, timeout: float = 120.0) -> None:
        """Start every provider process (in parallel) and wait until each is ready."""
        try:
            for spec in self.providers:
                self.running.append(self._spawn(spec))
            for i, provider in enumerate(self.running):
                self.running[i] = _ready_or_respawn(
                    provider, partial(self._spawn, provider.spec),
                    f"provider {provider.spec.role}", timeout,
                )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for provider in self.running:
            terminate(provider.process)
        for validator in self.validating:
            terminate(validator.process)
        if self.devnet.running() is not None:
            self.devnet.down()

    def __enter__(self) -> LocalNetwork:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- providers ------------------------------------------------------------------------------

    def _spawn(
        self, spec: ProviderSpec, *, data_dir: Path | None = None, port: int | None = None
    ) -> ProviderProcess:
        data_dir = data_dir or self.root / spec.role
        data_dir.mkdir(parents=True, exist_ok=True)
        provider = ProviderProcess(spec, data_dir, port or free_port(), data_dir / "provider.log")
        cmd = provider_command(spec, data_dir, provider.port)
        provider.process = spawn_node(cmd, self.config.deployment_file, provider.log_path)
        return provider

    def kill(self, index: int) -> None:
        """SIGKILL a provider, as a crash would."""
        process = self.running[index].process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)

    def restart(
        self, index: int, *, timeout: float = 120.0, spec: ProviderSpec | None = None
    ) -> ProviderProcess:
        """Start a killed provider again on the same data directory and port (``spec``: another one)."""
        old = self.running[index]
        terminate(old.process)
        # A ready line from the previous life must not count: start a fresh log section.
        with old.log_path.open("ab") as log:
            log.write(b"\n--- restart ---\n")
        offset = old.log_path.stat().st_size
        new = self._spawn(spec or old.spec, data_dir=old.data_dir, port=old.port)
        wait_ready(
            new.process, new.log_path, f"restarted provider {old.spec.role}", timeout, offset=offset
        )
        self.running[index] = new
        return new

    # --- validators ------------------------------------------------------------------------------

    def validator(self, role: str) -> ValidatorProcess:
        """The running validator process of devnet role ``role``."""
        for validator in self.validating:
            if validator.spec.role == role:
                return validator
        raise NodeError(f"no validator {role!r} in this network",
                        hint=f"list it in validators=[ValidatorSpec({role!r}, …)]")

    def _spawn_validator(self, spec: ValidatorSpec) -> ValidatorProcess:
        data_dir = self.root / spec.role
        data_dir.mkdir(parents=True, exist_ok=True)
        validator = ValidatorProcess(spec, data_dir, free_port(), data_dir / "validator.log")
        cmd = validator_command(spec, data_dir, validator.port)
        validator.process = spawn_node(cmd, self.config.deployment_file, validator.log_path)
        return validator


PORT_TAKEN = b"Address already in use"
Node = TypeVar("Node", ProviderProcess, ValidatorProcess)


def _ready_or_respawn(node: Node, respawn: Callable[[], Node], name: str, timeout: float) -> Node:
    """Wait for ``node``; if its port was taken before it could listen, start it again on another.

    A port from ``free_port`` is free when picked, but until the node binds it the kernel may
    hand the same number to any outgoing connection on the machine (ephemeral ports come from
    the same range): rare, and only a reason to try another port.
    """
    for attempt in range(3):
        try:
            wait_ready(node.process, node.log_path, name, timeout)
            return node
        except NodeError:
            if attempt == 2 or PORT_TAKEN not in node.log_path.read_bytes():
                raise
            with node.log_path.open("ab") as log:
                log.write(b"\n--- port taken: started again on another port ---\n")
            node = respawn()
    raise AssertionError("unreachable")


# --- a gateway process (the fast path's e2e tests and benchmark) ------------------------------


@dataclass
class GatewayProcess:
    """A ``deai gateway start`` process paying from ``role``'s channels; a context manager."""

    role: str
    data_dir: Path
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        terminate(self.process)

    def __enter__(self) -> GatewayProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_gateway(
    net: LocalNetwork,
    role: str,
    *,
    lanes: int = 2,
    deposit: float = 1.0,
    timeout_s: float = 30.0,
    data_dir: Path | None = None,
    wait_s: float = 60.0,
) -> GatewayProcess:
    """Start a gateway for ``net``'s providers (found in the Registry) and wait until it is ready."""
    data_dir = data_dir or net.root / f"gateway-{role}"
    data_dir.mkdir(parents=True, exist_ok=True)
    gateway = GatewayProcess(role, data_dir, free_port(), data_dir / "gateway.log")
    cmd = [
        sys.executable,
        "-m",
        "deai.cli",
        "--data-dir",
        str(data_dir),
        "gateway",
        "start",
        "--devnet-role",
        role,
        "--port",
        str(gateway.port),
        "--lanes",
        str(lanes),
        "--deposit",
        str(deposit),
        "--timeout",
        str(timeout_s),
    ]
    gateway.process = spawn_node(cmd, net.config.deployment_file, gateway.log_path)
    try:
        wait_ready(gateway.process, gateway.log_path, "the gateway", wait_s)
    except NodeError:
        gateway.stop()
        raise
    return gateway
