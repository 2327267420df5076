"""A whole local network for e2e tests, the demo and benchmarks: a devnet and provider processes.

``LocalNetwork`` starts the devnet of its own data directory (short challenge window),
then each provider as a separate ``deai provider start`` process with its own data
directory, port and log file, and waits for each to say it is ready. Providers can be
killed (SIGKILL, as a crash) and restarted on the same data directory. ``stop`` ends every
process it started, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from deai.chain.anvil import free_port
from deai.chain.deploy import Deployment
from deai.chain.devnet import Devnet
from deai.config import Config
from deai.errors import NodeError


@dataclass(frozen=True)
class ProviderSpec:
    """One provider process: its devnet role, prices (KIND=TOKENS), models, and speed."""

    role: str
    prices: tuple[str, ...] = ("classify=1",)
    models: tuple[Path, ...] = ()
    delay_s: float = 0.0
    max_jobs: int = 2


@dataclass
class ProviderProcess:
    spec: ProviderSpec
    data_dir: Path
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class LocalNetwork:
    root: Path
    providers: list[ProviderSpec] = field(default_factory=list)
    challenge_window_s: int = 3
    block_time: float | None = None
    running: list[ProviderProcess] = field(default_factory=list)

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
        self.start_providers(timeout=timeout)
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
            for provider in self.running:
                self._wait_ready(provider, timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for provider in self.running:
            self._terminate(provider)
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
        cmd = [
            sys.executable,
            "-m",
            "deai.cli",
            "--data-dir",
            str(data_dir),
            "provider",
            "start",
            "--devnet-role",
            spec.role,
            "--port",
            str(provider.port),
            "--max-jobs",
            str(spec.max_jobs),
            "--delay",
            str(spec.delay_s),
        ]
        for price in spec.prices:
            cmd += ["--price", price]
        for model in spec.models:
            cmd += ["--model", str(model)]
        env = {
            **os.environ,
            "DEAI_DEPLOYMENT_PATH": str(self.config.deployment_file),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("DEAI_DATA_DIR", None)
        with provider.log_path.open("ab") as log:
            provider.process = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        return provider

    def _wait_ready(self, provider: ProviderProcess, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        assert provider.process is not None
        while time.monotonic() < deadline:
            if provider.process.poll() is not None:
                raise NodeError(
                    f"provider {provider.spec.role} exited with code {provider.process.returncode}",
                    hint=f"see {provider.log_path}",
                )
            if b" ready at " in provider.log_path.read_bytes():
                return
            time.sleep(0.1)
        raise NodeError(
            f"provider {provider.spec.role} was not ready in {timeout:.0f} s",
            hint=f"see {provider.log_path}",
        )

    def kill(self, index: int) -> None:
        """SIGKILL a provider, as a crash would."""
        process = self.running[index].process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)

    def restart(self, index: int, *, timeout: float = 120.0) -> ProviderProcess:
        """Start a killed provider again on the same data directory and port."""
        old = self.running[index]
        self._terminate(old)
        # A ready line from the previous life must not count: start a fresh log section.
        with old.log_path.open("ab") as log:
            log.write(b"\n--- restart ---\n")
        offset = old.log_path.stat().st_size
        new = self._spawn(old.spec, data_dir=old.data_dir, port=old.port)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert new.process is not None
            if new.process.poll() is not None:
                raise NodeError(
                    f"restarted provider {old.spec.role} exited", hint=f"see {new.log_path}"
                )
            if b" ready at " in new.log_path.read_bytes()[offset:]:
                break
            time.sleep(0.1)
        else:
            raise NodeError(
                f"restarted provider {old.spec.role} was not ready", hint=f"see {new.log_path}"
            )
        self.running[index] = new
        return new

    @staticmethod
    def _terminate(provider: ProviderProcess) -> None:
        process = provider.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
