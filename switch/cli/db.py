"""``switch db``: the embedded PostgreSQL and Redis, and the schema."""

from __future__ import annotations

import click

from switch.cli.common import Commands, echo_json, start_services, with_connection
from switch.config import Config
from switch.db.migrate import current_version, migrate, shipped_migrations
from switch.services import status as services_status
from switch.services import stop as services_stop


@click.group(
    cls=Commands, short_help="Embedded PostgreSQL and Redis: start, stop, status, migrate."
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
            click.echo(f"  {key}: {value}")


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
