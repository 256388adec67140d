"""A streaming standby of the embedded PostgreSQL: make it, promote it, describe both.

The standby is a physical copy of the primary (``pg_basebackup``) that replays the
primary's write-ahead log as it is written. It is **synchronous**: the primary names it
in ``synchronous_standby_names`` and, with ``synchronous_commit = on``, a commit returns
only once the standby has flushed that commit's WAL to its own disk. So every pay a
terminal was told ``success`` about is on both servers, and losing the primary's
machine loses no acknowledged money.

Why ``on`` and not ``remote_apply``: ``remote_apply`` also waits until the standby has
*replayed* the commit, so that a query on the standby sees it at once. Nothing that
moves money reads the standby (only reports, searches and reconciliation reads may,
and they tolerate a lag of milliseconds), so that wait would add replay time to every
commit for nothing. ``on`` is the durability we need: the commit is on two disks.

The price: while the standby is away, the primary's commits wait for it. A standby
that will stay down is taken out of ``synchronous_standby_names``
(``switch db standby --async`` makes or turns one asynchronous).

Failover is a person's (or a cluster manager's) decision, never this code's on its
own: ``promote`` first makes sure the old primary is stopped and marks it superseded,
so that two primaries never take writes. The new primary runs alone until a new
standby is made from it (``make_standby`` again: it rebuilds the superseded directory).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from switch.config import ServicesConfig
from switch.services import postgres
from switch.services.common import ServiceError, pid_alive, wait_until
from switch.services.postgres import PG_PORT, SUPERSEDED_FILE, SUPERUSER, PgPaths

BASE_BACKUP_TIMEOUT_S = 600.0
STREAMING_TIMEOUT_S = 60.0


def application_name(p: PgPaths) -> str:
    """The name a standby gives the primary (``synchronous_standby_names`` uses it)."""
    return p.name.replace("-", "_")


def make_standby(cfg: ServicesConfig, synchronous: bool = True) -> PgPaths:
    """A standby of the running primary, streaming (and synchronous unless told not):
    started if it exists and is stopped, else copied fresh from the primary into the
    other data directory (replacing a superseded old primary's)."""
    primary = postgres.paths(cfg)
    if postgres.running_pid(cfg, primary) is None:
        raise ServiceError("the primary is not running: run `switch db start` first")
    target = postgres.node_paths(cfg, _other(primary.name))
    if not (target.exists and target.is_standby and not target.superseded):
        _base_backup(cfg, primary, target)
    postgres.start_node(cfg, target)
    _wait_for(cfg, primary, target, "streaming", lambda row: row.get("state") == "streaming")
    name = application_name(target) if synchronous else ""
    postgres.psql(cfg, f"ALTER SYSTEM SET synchronous_standby_names = '{name}'")
    postgres.psql(cfg, "SELECT pg_reload_conf()")
    if synchronous:
        _wait_for(cfg, primary, target, "synchronous", lambda row: row.get("sync_state") == "sync")
    return target


def promote(cfg: ServicesConfig) -> PgPaths:
    """Make the standby the primary. A primary still running is stopped first (a
    planned switchover: its clean shutdown sends every last record to the standby);
    either way it is marked superseded before the standby takes writes."""
    standby = postgres.standby_paths(cfg)
    if standby is None:
        raise ServiceError("there is no standby to promote (`switch db standby` makes one)")
    old = postgres.paths(cfg)
    if old.exists:
        _fence(cfg, old)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        (old.pgdata / SUPERSEDED_FILE).write_text(f"superseded by {standby.name} at {stamp}\n")
    postgres.start_node(cfg, standby)
    user = postgres.system_user(standby)
    timeout = str(int(cfg.start_timeout_s))
    postgres.pg_command("pg_ctl")(
        ["-w", "-t", timeout, "promote"],
        pgdata=standby.pgdata,
        user=user,
        timeout=cfg.start_timeout_s + 5,
    )
    # A promoted server is the primary from here: it waits for no standby.
    postgres.psql(cfg, "ALTER SYSTEM SET synchronous_standby_names = ''", node=standby)
    postgres.psql(cfg, "SELECT pg_reload_conf()", node=standby)
    return standby


def describe(cfg: ServicesConfig) -> list[dict[str, Any]]:
    """Each embedded server: its role, whether it runs, and replication as it sees it
    (the primary: each standby's state and lag; a standby: how far behind it is)."""
    servers = []
    for name in postgres.NODE_NAMES:
        p = postgres.node_paths(cfg, name)
        if not p.exists:
            continue
        pid = postgres.running_pid(cfg, p)
        role = "superseded" if p.superseded else "standby" if p.is_standby else "primary"
        info: dict[str, Any] = {"name": name, "role": role, "running": pid is not None}
        info |= {"pid": pid, "data_dir": str(p.pgdata)}
        if pid is not None and role == "primary":
            info["standbys"] = replication(cfg, p)
        elif pid is not None and role == "standby":
            info |= _standby_position(cfg, p)
        servers.append(info)
    return servers


def replication(cfg: ServicesConfig, primary: PgPaths) -> list[dict[str, Any]]:
    """``pg_stat_replication`` on the primary: one row per standby, lags in ms/bytes."""
    sql = """SELECT coalesce(json_agg(json_build_object(
                 'application_name', application_name, 'state', state,
                 'sync_state', sync_state,
                 'lag_bytes', pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn),
                 'write_lag_ms', round(extract(epoch FROM write_lag) * 1000, 3),
                 'flush_lag_ms', round(extract(epoch FROM flush_lag) * 1000, 3),
                 'replay_lag_ms', round(extract(epoch FROM replay_lag) * 1000, 3))), '[]')
             FROM pg_stat_replication"""
    rows: list[dict[str, Any]] = json.loads(postgres.psql(cfg, sql, node=primary))
    return rows


def _standby_position(cfg: ServicesConfig, p: PgPaths) -> dict[str, Any]:
    sql = """SELECT json_build_object(
                 'received_lsn', pg_last_wal_receive_lsn()::text,
                 'replayed_lsn', pg_last_wal_replay_lsn()::text,
                 'replay_behind_bytes', greatest(0,
                     pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())),
                 'last_replayed_at', pg_last_xact_replay_timestamp())"""
    position: dict[str, Any] = json.loads(postgres.psql(cfg, sql, node=p))
    return position


def _fence(cfg: ServicesConfig, old: PgPaths) -> None:
    """Make sure the old primary takes no more writes: a clean stop if it answers,
    SIGKILL if it does not stop (it may be hung, or half dead)."""
    pid = postgres.running_pid(cfg, old)
    if pid is None:
        return
    try:
        postgres.stop_node(cfg, old, timeout_s=10.0)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not pid_alive(pid), 10.0, f"the old primary ({old.name}) to die")


def _other(name: str) -> str:
    return next(n for n in postgres.NODE_NAMES if n != name)


def _base_backup(cfg: ServicesConfig, primary: PgPaths, target: PgPaths) -> None:
    """Copy the running primary into ``target`` (emptied first) as its standby."""
    shutil.rmtree(target.pgdata, ignore_errors=True)
    target.pgdata.mkdir(mode=0o700, parents=True)
    user = postgres.system_user(target)
    conninfo = (
        f"host={primary.socket_dir} port={PG_PORT} user={SUPERUSER}"
        f" application_name={application_name(target)}"
    )
    # -R: write standby.signal and primary_conninfo; -X stream: the WAL written during
    # the copy comes with it; -c fast: start at once rather than at the next checkpoint.
    args = ["-d", conninfo, "-R", "-X", "stream", "-c", "fast", "--no-password"]
    postgres.pg_command("pg_basebackup")(
        args, pgdata=target.pgdata, user=user, timeout=BASE_BACKUP_TIMEOUT_S
    )
    # The primary's socket lock file sits in its data directory and came with the copy.
    for lock in target.pgdata.glob(".s.PGSQL.*"):
        lock.unlink()
    # The copy must not wait for a standby of its own once promoted.
    auto = target.pgdata / "postgresql.auto.conf"
    kept = [
        line
        for line in auto.read_text().splitlines()
        if not line.strip().startswith("synchronous_standby_names")
    ]
    auto.write_text("\n".join(kept) + "\n")
    if target.log.exists():
        target.log.write_text("")


def _wait_for(
    cfg: ServicesConfig,
    primary: PgPaths,
    standby: PgPaths,
    what: str,
    ok: Callable[[dict[str, Any]], bool],
) -> None:
    name = application_name(standby)

    def reached() -> bool:
        rows = replication(cfg, primary)
        return any(r["application_name"] == name and ok(r) for r in rows)

    wait_until(reached, STREAMING_TIMEOUT_S, f"the standby {standby.name} to be {what}")
