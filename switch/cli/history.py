"""``switch db partitions`` and ``switch db archive``: the months of history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from switch.cli.common import echo_json, start_services, with_connection
from switch.config import Config
from switch.db import Connection
from switch.history import archive as archiving
from switch.history.months import month_name, parse_month
from switch.history.partitions import MONTHS_AHEAD, list_partitions, make_ahead


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def partitions(cfg: Config, as_json: bool) -> None:
    """List the monthly partitions of pays, transfers and SMS (making any missing of
    this month and the next three), and the months archived."""
    urls = start_services(cfg)

    async def run(conn: Connection) -> dict[str, Any]:
        made = await make_ahead(conn, MONTHS_AHEAD)
        parts = await list_partitions(conn)
        archived = await conn.fetch(
            """SELECT partition_name, row_count, file_name, sha256, archived_at
                 FROM history_archives ORDER BY partition_name"""
        )
        return {
            "made_now": made,
            "partitions": [
                {
                    "table": p.table,
                    "partition": p.name,
                    "month": month_name(p.month) if p.month else "before partitioning",
                    "rows_estimate": max(p.rows_estimate, 0),
                    "bytes": p.bytes,
                }
                for p in parts
            ],
            "archived": [dict(r) for r in archived],
        }

    info = with_connection(urls.database_url, run)
    if as_json:
        echo_json(info)
        return
    if info["made_now"]:
        click.echo(f"made {info['made_now']} partitions ahead")
    for p in info["partitions"]:
        click.echo(
            f"{p['partition']:<22} {p['month']:<20} ~{p['rows_estimate']:>10,} rows"
            f" {p['bytes'] / 1e6:>9.1f} MB"
        )
    for a in info["archived"]:
        click.echo(f"archived {a['partition_name']}: {a['row_count']:,} rows -> {a['file_name']}")


@click.command()
@click.option(
    "--before",
    "before_text",
    required=True,
    metavar="YYYY-MM",
    help="Archive every month before this one.",
)
@click.option(
    "--dir",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the files go [default: <data_dir>/archive].",
)
@click.option("--dry-run", is_flag=True, help="Say what would be archived, and what stops it.")
@click.pass_obj
def archive(cfg: Config, before_text: str, out_dir: Path | None, dry_run: bool) -> None:
    """Write the months before YYYY-MM of pays, transfers and SMS to checksummed
    files and take them out of the database; refused while any of it is still open,
    unsettled or under a complaint."""
    try:
        before = parse_month(before_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--before") from exc
    target = out_dir or Path(cfg.services.data_dir) / "archive"
    urls = start_services(cfg)

    async def run(conn: Connection) -> archiving.ArchiveRun:
        if not dry_run:
            return await archiving.archive(conn, before, target)
        chosen = await archiving.plan(conn, before)
        reasons = await archiving.refusals(conn, chosen)
        if reasons:
            raise archiving.ArchiveRefused(reasons)
        return archiving.ArchiveRun(before, chosen)

    try:
        done = with_connection(urls.database_url, run)
    except archiving.ArchiveRefused as exc:
        raise click.ClickException("nothing archived:\n  " + "\n  ".join(exc.reasons)) from exc
    if not done.chosen:
        click.echo(f"nothing to archive before {month_name(before)}")
        return
    if dry_run:
        for c in done.chosen:
            click.echo(f"would archive {c.partition.name} ({_months(c)})")
        return
    for w in done.written:
        click.echo(f"{w.chosen.partition.name}: {w.rows:,} rows -> {w.path} sha256 {w.sha256}")
    click.echo(f"archived {len(done.written)} partitions before {month_name(before)}")


def _months(c: archiving.Chosen) -> str:
    first, last = month_name(c.first_month), month_name(c.last_month)
    return first if first == last else f"{first} to {last}"
