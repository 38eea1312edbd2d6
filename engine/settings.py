"""Engine settings: from arguments, else from ``PODWARDEN_*`` environment variables.

Nothing here touches the disk, the keyring or the network; :class:`Settings` is a
plain validated value. Every I/O timeout PodWarden uses has its default here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """The platform's per-user data folder (``~/.local/share/podwarden`` on Linux)."""
    return Path(platformdirs.user_data_dir("podwarden", appauthor=False))


class Timeouts(BaseSettings):
    """Seconds. One place for every timeout; nested env names use ``__``,
    e.g. ``PODWARDEN_TIMEOUTS__DB_CONNECT=5``."""

    model_config = SettingsConfigDict(frozen=True)

    db_connect: float = Field(10.0, gt=0, description="Opening a database connection.")
    db_statement: float = Field(60.0, gt=0, description="One SQL statement (statement_timeout).")
    db_migration_lock: float = Field(300.0, gt=0, description="Waiting for another engine's migration.")
    embedded_start: float = Field(60.0, gt=0, description="Starting the embedded PostgreSQL.")
    ssh_connect: float = Field(10.0, gt=0, description="SSH connect + auth.")
    ssh_command: float = Field(120.0, gt=0, description="One SSH command.")
    ansible_run: float = Field(3600.0, gt=0, description="One playbook run.")
    kube_request: float = Field(30.0, gt=0, description="One Kubernetes API request.")
    kube_rollout: float = Field(600.0, gt=0, description="Waiting for a rollout.")
    http_request: float = Field(20.0, gt=0, description="One SaaS API request (Tailscale, DNS, Hub).")
    login_failure_delay: float = Field(0.5, ge=0, description="Delay after a failed sign-in.")


class Settings(BaseSettings):
    """How an :class:`~podwarden.engine.Engine` is built.

    Arguments win over environment variables; unset values fall back to defaults:

    - ``database_url`` (``PODWARDEN_DATABASE_URL``): a PostgreSQL ≥ 15 URL for
      shared mode. Absent: an embedded PostgreSQL in ``data_dir``.
    - ``data_dir`` (``PODWARDEN_DATA_DIR``): the user's data folder.
    - ``secret_key`` / ``secret_key_file`` (``PODWARDEN_SECRET_KEY`` /
      ``PODWARDEN_SECRET_KEY_FILE``): the master key (32 bytes, URL-safe base64).
      Absent: the OS keyring (created on first use).
    """

    model_config = SettingsConfigDict(
        env_prefix="PODWARDEN_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    database_url: SecretStr | None = None
    data_dir: Path = Field(default_factory=default_data_dir)
    secret_key: SecretStr | None = None
    secret_key_file: Path | None = None
    keyring_service: str = "podwarden"
    timeouts: Timeouts = Field(default_factory=Timeouts)
    db_pool_size: int = Field(5, ge=1, le=100)
    db_pool_overflow: int = Field(5, ge=0, le=100)
    ssh_max_connections: int = Field(32, ge=1, le=1000, description="SSH connections open at once.")
    login_max_failures: int = Field(5, ge=1, description="Failures before a temporary lockout.")
    login_lockout_seconds: float = Field(300.0, ge=0)
    k3s_artifacts_dir: Path | None = Field(
        None, description="K3s air-gap artifacts (binary + install script); default <data_dir>/k3s-artifacts."
    )
    api_host: str = Field("127.0.0.1", description="Where `podwarden-engine run` serves the API.")
    api_port: int = Field(8787, ge=0, le=65535)
    desktop_loops: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Periodic loops in a desktop: auto = only while no headless engine is connected.",
    )
    run_migrations: bool = True
    log_json: bool = False

    @field_validator("database_url", "secret_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def embedded(self) -> bool:
        return self.database_url is None
