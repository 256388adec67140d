"""``switch db``: the embedded PostgreSQL and Redis, and the schema."""

from __future__ import annotations

from typing import Any

import click

from switch.cli.common import Commands, echo_json, start_services, with_connection
from switch.cli.history import archive, partitions
from switch.config import Config
from switch.db.migrate import current_version, migrate, shipped_migrations
from switch.services import postgres, standby
from switch.services import status as services_status
from switch.services import stop as services_stop


@click.group(
    cls=Commands,
    short_help="Embedded PostgreSQL and Redis: start, stop, status, standby, migrate, archive.",
)
def db() -> None:
    """Start, stop and inspect the database and Redis; migrate the schema."""


@db.command()
@click.pass_obj
def start(cfg: Config) -> None:
    """Start embedded PostgreSQL and Redis (reuse them if running) and migrate."""
    urls = start_services(cfg)
    click.echo(f"postgres: {urls.database_url}")
    click.echo(f"redis:    {urls.redis_url}")


@db.command()
@click.pass_obj
def stop(cfg: Config) -> None:
    """Stop the embedded servers cleanly (external servers are left alone)."""
    for name, what in services_stop(cfg.services).items():
        click.echo(f"{name}: {what}")


@db.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def status(cfg: Config, as_json: bool) -> None:
    """Say whether each server is running, where, and the schema version."""
    info = services_status(cfg.services)
    pg = info["postgres"]
    if pg.get("running") or not pg.get("embedded"):
        try:
            pg["schema_version"] = with_connection(str(pg["url"]), current_version)
        except click.ClickException as exc:
            pg["error"] = exc.message
    pg["schema_version_shipped"] = len(shipped_migrations())
    if as_json:
        echo_json(info)
        return
    for name, fields in info.items():
        click.echo(f"{name}:")
        for key, value in fields.items():
            if key != "servers":
                click.echo(f"  {key}: {value}")
        for server in fields.get("servers", []):  # type: ignore[attr-defined]
            _echo_server(server)


def _echo_server(server: dict[str, Any]) -> None:
    state = "running" if server["running"] else "stopped"
    click.echo(f"  {server['name']}: {server['role']}, {state} ({server['data_dir']})")
    for s in server.get("standbys", []):
        click.echo(
            f"    standby {s['application_name']}: {s['state']}, {s['sync_state']},"
            f" {s['lag_bytes']} bytes behind, replay lag {s['replay_lag_ms']} ms"
        )
    if "replay_behind_bytes" in server:
        click.echo(
            f"    replayed up to {server['replayed_lsn']},"
            f" {server['replay_behind_bytes']} bytes received and not yet replayed"
        )


@db.command(name="standby")
@click.option(
    "--async",
    "asynchronous",
    is_flag=True,
    help="Do not wait for it on commit (a standby that will stay down must not stop writes).",
)
@click.pass_obj
def standby_cmd(cfg: Config, asynchronous: bool) -> None:
    """Make (or start) a streaming standby of the embedded primary, synchronous by
    default: a commit returns once the standby has it on disk too."""
    _embedded_only(cfg)
    start_services(cfg)
    made = standby.make_standby(cfg.services, synchronous=not asynchronous)
    kind = "asynchronous" if asynchronous else "synchronous"
    click.echo(f"{made.name}: {kind} standby, streaming ({made.pgdata})")
    click.echo(f"postgres: {postgres.url(cfg.services)}")


@db.command()
@click.pass_obj
def promote(cfg: Config) -> None:
    """Make the standby the primary (after the primary is lost, or to switch over).
    A primary still running is stopped first; the old one is marked superseded and
    never started again as it is. Clients on the two-server URL follow by themselves."""
    _embedded_only(cfg)
    new = standby.promote(cfg.services)
    click.echo(f"{new.name} is the primary now; it runs without a standby until")
    click.echo("`switch db standby` makes one from it.")
    click.echo(f"postgres: {postgres.url(cfg.services)}")


def _embedded_only(cfg: Config) -> None:
    if not cfg.services.embedded_postgres:
        raise click.ClickException(
            "database_url names an external PostgreSQL: its standbys are managed there"
        )


@db.command(name="migrate")
@click.pass_obj
def migrate_cmd(cfg: Config) -> None:
    """Apply every schema migration not yet applied (also done on every start)."""
    urls = start_services(cfg, migrate_schema=False)
    applied = with_connection(urls.database_url, migrate)
    if not applied:
        click.echo(f"schema is up to date (version {len(shipped_migrations())})")
    for m in applied:
        click.echo(f"applied {m.version:04d}_{m.name}")


@db.command()
@click.argument("which", type=click.Choice(["postgres", "redis"]), default="postgres")
@click.pass_obj
def url(cfg: Config, which: str) -> None:
    """Print the URL of PostgreSQL (default) or Redis, starting them if needed."""
    urls = start_services(cfg)
    click.echo(urls.database_url if which == "postgres" else urls.redis_url)


db.add_command(partitions)
db.add_command(archive)
