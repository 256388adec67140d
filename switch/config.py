"""Settings: defaults, then a TOML file, then environment variables.

Every setting has a name in the TOML file (``[section] key``) and an environment
variable (``SWITCH_<SECTION>_<KEY>``, or the short names listed in ``ENV_ALIASES``).
``docs/configuration.md`` documents each one; keep the two in step.

The file is found at ``--config PATH``, else ``$SWITCH_CONFIG``, else
``<user config dir>/bill-switch/switch.toml`` if it exists.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "bill-switch"

# Environment variables that do not follow SWITCH_<SECTION>_<KEY>, for the settings a
# newcomer is most likely to set by hand.
ENV_ALIASES = {
    "SWITCH_DATA_DIR": ("services", "data_dir"),
    "SWITCH_DATABASE_URL": ("services", "database_url"),
    "SWITCH_REDIS_URL": ("services", "redis_url"),
}


class ConfigError(Exception):
    """A setting is missing, unknown or of the wrong type."""


@dataclass(frozen=True)
class ServicesConfig:
    """Where PostgreSQL and Redis are. Empty URLs mean: start embedded servers."""

    data_dir: str = ""
    database_url: str = ""
    redis_url: str = ""
    database_name: str = "switch"
    start_timeout_s: float = 60.0
    # PostgreSQL settings applied to the embedded server only.
    pg_shared_buffers: str = "256MB"
    pg_max_connections: int = 200
    pg_synchronous_commit: str = "on"

    def resolved_data_dir(self) -> Path:
        if self.data_dir:
            return Path(self.data_dir).expanduser().resolve()
        return Path(platformdirs.user_data_dir(APP_NAME)).resolve()

    @property
    def embedded_postgres(self) -> bool:
        return not self.database_url

    @property
    def embedded_redis(self) -> bool:
        return not self.redis_url


@dataclass(frozen=True)
class LedgerConfig:
    """Group commit and limits of the ledger (see docs/ledger.md)."""

    max_batch: int = 512
    linger_s: float = 0.0
    max_queued: int = 100_000
    pipeline_depth: int = 4
    max_amount_paise: int = 10_000_000_00  # ten lakh rupees per transfer
    default_timeout_s: float = 300.0
    batch_timeout_s: float = 30.0
    expiry_sweep_interval_s: float = 1.0
    expiry_sweep_limit: int = 10_000


@dataclass(frozen=True)
class TerminalsConfig:
    """The terminal listener and its sessions (see docs/protocol.md, "Limits")."""

    host: str = "127.0.0.1"
    port: int = 7400
    identity_key_file: str = ""  # "" = <data_dir>/switch-identity.key
    heartbeat_s: int = 30
    idle_timeout_s: float = 90.0
    handshake_timeout_s: float = 10.0
    frame_timeout_s: float = 10.0
    send_timeout_s: float = 10.0
    max_in_flight: int = 8
    rate_per_s: float = 20.0
    rate_burst: int = 40
    max_connections: int = 20_000
    shutdown_grace_s: float = 10.0
    pay_timeout_s: float = 300.0


@dataclass(frozen=True)
class Config:
    services: ServicesConfig = field(default_factory=ServicesConfig)
    ledger: LedgerConfig = field(default_factory=LedgerConfig)
    terminals: TerminalsConfig = field(default_factory=TerminalsConfig)

    def replace(self, **sections: Any) -> Config:
        return dataclasses.replace(self, **sections)


_SECTIONS: dict[str, type[Any]] = {
    "services": ServicesConfig,
    "ledger": LedgerConfig,
    "terminals": TerminalsConfig,
}


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "switch.toml"


def load(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Build the configuration: defaults < TOML file < environment."""
    env = os.environ if environ is None else environ
    values: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
    file_path = Path(path) if path else _config_path_from_env(env)
    if file_path is not None:
        _merge_file(values, file_path)
    _merge_env(values, env)
    sections = {name: _build_section(name, values[name]) for name in _SECTIONS}
    return Config(**sections)


def _config_path_from_env(env: Mapping[str, str]) -> Path | None:
    if env.get("SWITCH_CONFIG"):
        return Path(env["SWITCH_CONFIG"])
    default = default_config_path()
    return default if default.exists() else None


def _merge_file(values: dict[str, dict[str, Any]], path: Path) -> None:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    for section, body in data.items():
        if section not in _SECTIONS:
            raise ConfigError(f"{path}: unknown section [{section}]")
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: [{section}] must be a table")
        values[section].update(body)


def _merge_env(values: dict[str, dict[str, Any]], env: Mapping[str, str]) -> None:
    for name, (section, key) in ENV_ALIASES.items():
        if name in env:
            values[section][key] = env[name]
    for section, cls in _SECTIONS.items():
        for f in dataclasses.fields(cls):
            name = f"SWITCH_{section.upper()}_{f.name.upper()}"
            if name in env:
                values[section][f.name] = env[name]


def _build_section(section: str, raw: dict[str, Any]) -> Any:
    cls = _SECTIONS[section]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            raise ConfigError(f"unknown setting [{section}] {key}")
        default = getattr(cls(), key)
        kwargs[key] = _coerce(section, key, value, type(default))
    return cls(**kwargs)


def _coerce(section: str, key: str, value: Any, kind: type[Any]) -> Any:
    """Environment values arrive as strings; TOML values already have types."""
    try:
        if kind is bool and isinstance(value, str):
            if value.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                raise ValueError(value)
            return value.lower() in {"1", "true", "yes"}
        if kind is int and isinstance(value, float):
            raise ValueError(value)
        return kind(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[{section}] {key} must be {kind.__name__}, got {value!r}") from exc
