"""The pipeline server's configuration: a TOML file plus ``PHEME_*`` environment variables.

Precedence (highest first): explicit values (CLI flags), environment variables
(``PHEME_PORT``, ``PHEME_JOB_CAPACITY``, ``PHEME_SECRET_KEY`` ...; nested with
``__``, e.g. ``PHEME_ENVIRONMENTS__PRODUCTION__WAIT_TIMER``), the file, defaults.
The file is ``--config``, else ``$PHEME_CONFIG``, else ``$PHEME_HOME/server.toml``
when it exists::

    host = "0.0.0.0"
    port = 8080
    job_capacity = 8
    public_url = "https://ci.example.com"
    github_api_url = "https://api.github.com"
    rerun_interrupted = false

    [environments.production]
    reviewers = ["alice"]            # token names
    reviewer_roles = ["admin"]
    prevent_self_review = true
    wait_timer = 0                   # seconds, after approval
    branches = ["main", "release/*"]
    url = "https://example.com"

    [[notifications]]
    url = "https://chat.example.com/hook"
    secret_env = "CHAT_HOOK_SECRET"  # HMAC key, read from this variable
    events = ["run_failed", "run_succeeded", "waiting_for_approval"]

Why environments live in configuration AND the database: the file is the
operator's source of truth at start-up (seeded into the store), the API lets
an admin change them while the server runs (audited). The file's
``[environments.*]`` are the server-wide DEFAULTS: each applies to every
repository without an environment of that name (a repository's own are made
with ``pheme env set NAME --repo OWNER/REPO`` or the API).

The server's own secret (``secret_key``) encrypts stored secrets; without one a
random key is created once in ``$PHEME_HOME/server.key`` (mode 0600).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from pheme.errors import ConfigError

__all__ = ["EnvironmentConfig", "NotificationConfig", "ServerSettings", "load_settings", "server_key"]

CONFIG_ENV = "PHEME_CONFIG"
NotificationEvent = Literal[
    "run_failed", "run_succeeded", "waiting_for_approval",
    # monitoring (pheme.api.routes.monitoring): deployments ending, Alertmanager alerts and the rollbacks they cause
    "deployment_succeeded", "deployment_failed", "deployment_aborted", "deployment_rolled_back",
    "alert_firing", "alert_resolved", "alert_rollback", "alert_rollback_failed",
]  # fmt: skip
_DEFAULT_EVENTS: tuple[NotificationEvent, ...] = ("run_failed", "run_succeeded", "waiting_for_approval")


class EnvironmentConfig(BaseModel):
    reviewers: list[str] = Field(default_factory=list)
    reviewer_roles: list[Literal["viewer", "developer", "deployer", "admin"]] = Field(default_factory=list)
    prevent_self_review: bool = False
    wait_timer: int = Field(default=0, ge=0, le=30 * 24 * 3600)
    branches: list[str] | None = None
    url: str | None = None


class NotificationConfig(BaseModel):
    """An outgoing webhook. Its HMAC key is ``secret`` or read from ``secret_env`` (one is required)."""

    url: str = Field(pattern=r"^https?://\S+$")
    secret: SecretStr | None = None
    secret_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    events: list[NotificationEvent] = Field(default_factory=lambda: list(_DEFAULT_EVENTS))

    @model_validator(mode="after")
    def _signed(self) -> NotificationConfig:
        if self.secret is None and self.secret_env is None:
            raise ValueError("a notification needs 'secret' or 'secret_env' (its payloads are signed)")
        return self


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PHEME_", env_nested_delimiter="__", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    database_url: str | None = None
    secret_key: SecretStr | None = None
    job_capacity: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1, le=10_000)
    public_url: str | None = None
    github_api_url: str = "https://api.github.com"
    rerun_interrupted: bool = False
    work_dir: Path | None = None
    max_body_bytes: int = Field(default=25 * 1024 * 1024, ge=1)
    scheduler: bool = True
    executor: bool = True  # false: an API/intake-only server (runs stay queued for an executor)
    notify_attempts: int = Field(default=5, ge=1, le=20)
    notify_backoff: float = Field(default=0.5, ge=0.0, le=60.0)
    status_context_prefix: str = "pheme"
    environments: dict[str, EnvironmentConfig] = Field(default_factory=dict)
    notifications: list[NotificationConfig] = Field(default_factory=list)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("github_api_url", "public_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_path()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    def server_dir(self) -> Path:
        from pheme.storage import pheme_home

        return self.work_dir or pheme_home(create=True) / "server"


_explicit_config: Path | None = None


def _config_path() -> Path | None:
    if _explicit_config is not None:
        return _explicit_config
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    from pheme.storage import pheme_home

    default = pheme_home() / "server.toml"
    return default if default.is_file() else None


def load_settings(config: Path | None = None, **overrides: Any) -> ServerSettings:
    """Settings from ``config`` (or the default file), the environment and ``overrides``.

    Errors are one line (ConfigError), naming the setting but never its value.
    """
    global _explicit_config
    from pydantic import ValidationError

    if config is not None and not config.is_file():
        raise ConfigError(f"configuration file {config} not found")
    _explicit_config = config
    try:
        return ServerSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        raise ConfigError(f"invalid server setting {where}: {first.get('msg', 'invalid')}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the server configuration: {exc}") from None
    finally:
        _explicit_config = None


def server_key(settings: ServerSettings) -> bytes:
    """The server's secret: ``secret_key``, else ``$PHEME_HOME/server.key`` (created once, 0600)."""
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings.secret_key.get_secret_value().encode("utf-8")
    from pheme.storage import pheme_home

    path = pheme_home(create=True) / "server.key"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32).encode("ascii")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key
