"""The one place deai reads settings: ``DEAI_*`` environment variables and an optional ``deai.toml``.

Precedence, highest first: explicit keyword arguments (tests, several nodes in one
process), environment variables, ``deai.toml`` (in the working directory, or the file
named by ``DEAI_CONFIG_FILE``), defaults. No other module reads the environment.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from deai.errors import AnvilNotFound


def _toml_path() -> Path:
    # The only environment read outside Config's own fields: where Config's file lives.
    return Path(os.environ.get("DEAI_CONFIG_FILE", "deai.toml"))


class Config(BaseSettings):
    """Settings for one deai process. Build one per node: ``Config(data_dir=...)``."""

    model_config = SettingsConfigDict(env_prefix="DEAI_", extra="ignore", frozen=True)

    data_dir: Path = Field(
        default_factory=lambda: Path.home() / ".deai",
        description="Where this node keeps keystores, devnet state, blocks and its database.",
    )
    anvil_bin: Path | None = Field(
        default=None,
        description="The anvil binary; found next to the Python interpreter or on PATH.",
    )
    deployment_path: Path | None = Field(
        default=None,
        description="The deployment file to use; defaults to the devnet's under data_dir.",
    )
    rpc_url: str | None = Field(
        default=None, description="JSON-RPC endpoint of the chain; defaults to the local devnet's."
    )
    password: SecretStr | None = Field(
        default=None, description="Keystore password (prefer password_file or the prompt)."
    )
    password_file: Path | None = Field(default=None, description="A file holding the password.")
    block_time: float | None = Field(
        default=None, description="Devnet block time in seconds; None mines on every transaction."
    )
    challenge_window_s: int = Field(
        default=10, ge=1, description="Devnet challenge window: seconds a committed result waits."
    )
    store_quota_bytes: int = Field(
        default=50 * 2**30, description="Largest size of the local blockstore."
    )
    log_level: str = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=_toml_path()),
        )

    # --- derived paths: every file a node writes lives under data_dir ---------------------

    @property
    def keystore_dir(self) -> Path:
        return self.data_dir / "keystores"

    @property
    def devnet_dir(self) -> Path:
        return self.data_dir / "devnet"

    @property
    def deployment_file(self) -> Path:
        """Where the contracts' addresses are: ``deployment_path``, or this data dir's devnet's."""
        return self.deployment_path or self.devnet_dir / "deployment.json"

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"

    def resolve_anvil(self) -> Path:
        """The anvil binary to run, or AnvilNotFound with a hint to install it."""
        if self.anvil_bin is not None:
            # An explicit setting that is wrong is an error, never silently replaced.
            if self.anvil_bin.is_file() and os.access(self.anvil_bin, os.X_OK):
                return self.anvil_bin
            raise AnvilNotFound(
                f"DEAI_ANVIL_BIN points to {self.anvil_bin}, which is not an executable"
            )
        candidates = [Path(sys.prefix) / "bin" / "anvil"]
        found = shutil.which("anvil")
        if found:
            candidates.append(Path(found))
        for candidate in candidates:
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
        raise AnvilNotFound(f"anvil not found (looked at {', '.join(map(str, candidates))})")

    def read_password_file(self) -> str | None:
        if self.password_file is None:
            return None
        return self.password_file.read_text().rstrip("\r\n")
