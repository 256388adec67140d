"""``switch report``: MIS for operators, finance and agents (CSV, JSON or a table)."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from switch.cli.common import Commands, run_with_ledger
from switch.config import Config
from switch.db.database import Database
from switch.history.archive import archived_months
from switch.ledger import Ledger
from switch.money import rupees
from switch.settlement import reports
from switch.settlement.calendar import IST

DATE = click.DateTime(formats=["%Y-%m-%d"])
FORMATS = click.Choice(["table", "csv", "json"])


def _range(start: dt.datetime | None, end: dt.datetime | None) -> tuple[dt.date, dt.date]:
    """Default: the last 30 days up to today (IST)."""
    today = dt.datetime.now(IST).date()
    return reports.default_range(start and start.date(), end and end.date(), today)


def emit(rows: Sequence[dict[str, Any]], fmt: str, out: Path | None, title: str) -> None:
    if fmt == "json":
        text = json.dumps(list(rows), indent=2, default=str) + "\n"
    elif fmt == "csv":
        text = reports.as_csv(rows)
    else:
        table = Table(title=title)
        columns = list(rows[0]) if rows else []
        for c in columns:
            table.add_column(c, justify="right" if c.endswith("_paise") else "left")
        for r in rows:
            table.add_row(*(rupees(v) if k.endswith("_paise") else str(v) for k, v in r.items()))
        buf = io.StringIO()
        Console(file=buf, width=160, color_system=None).print(table)
        text = buf.getvalue()
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}")


def _options(fn: Any) -> Any:
    fn = click.option(
        "--out",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Write to this file instead of the terminal.",
    )(fn)
    fn = click.option(
        "--format",
        "fmt",
        type=FORMATS,
        default="table",
        show_default=True,
        help="A table to read, CSV, or JSON.",
    )(fn)
    fn = click.option("--to", "end", type=DATE, default=None, help="Last day (IST), inclusive.")(fn)
    return click.option(
        "--from", "start", type=DATE, default=None, help="First day (IST); default 30 days back."
    )(fn)


@click.group(cls=Commands)
def report() -> None:
    """MIS: agent statements; totals by biller, region, district, agent or day; a chart."""


@report.command("agent")
@click.argument("agent_id")
@_options
@click.pass_obj
def report_agent(cfg: Config, agent_id: str, start: Any, end: Any, fmt: str, out: Any) -> None:
    """An agent's statement: every payment with its status, and a summary."""
    first, last = _range(start, end)

    async def run(db: Database, ledger: Ledger) -> dict[str, Any]:
        return await reports.agent_statement(db, agent_id, first, last, cfg.billers)

    statement = run_with_ledger(cfg, run)
    if fmt == "json":
        text = json.dumps(statement, indent=2, default=str) + "\n"
        if out is None:
            click.echo(text, nl=False)
        else:
            out.write_text(text, encoding="utf-8")
        return
    emit(statement["payments"], fmt, out, f"Statement of {agent_id}, {first} to {last}")
    _say_archived(statement["archived_months"])
    if fmt == "table":
        summary = statement["summary"]
        click.echo(
            f"{summary['pays']} pays: {summary['posted']} posted "
            f"({rupees(summary['amount_posted_paise'])}), {summary['failed']} failed, "
            f"{summary['pending']} pending; commission {rupees(summary['commission_paise'])}"
        )


@report.command("totals")
@click.option(
    "--by",
    default="biller",
    show_default=True,
    help=f"Comma-separated: {', '.join(reports.GROUP_COLUMNS)} (e.g. region,district).",
)
@_options
@click.pass_obj
def report_totals(cfg: Config, by: str, start: Any, end: Any, fmt: str, out: Any) -> None:
    """Totals per group: pays, posted, failed, pending, posted amount, commission."""
    _totals(cfg, [k.strip() for k in by.split(",") if k.strip()], start, end, fmt, out)


def _totals(cfg: Config, by: list[str], start: Any, end: Any, fmt: str, out: Any) -> None:
    first, last = _range(start, end)

    async def run(db: Database, ledger: Ledger) -> tuple[list[dict[str, Any]], list[str]]:
        rows = await reports.totals(db, by, first, last, cfg.billers)
        return rows, await archived_months(db, first, last)

    rows, archived = run_with_ledger(cfg, run)
    emit(rows, fmt, out, f"Totals by {', '.join(by)}, {first} to {last}")
    _say_archived(archived)


def _say_archived(months: list[str]) -> None:
    """On stderr, so that CSV and JSON on stdout stay clean."""
    if months:
        click.echo(f"archived, not in these figures: {', '.join(months)}", err=True)


def _shorthand(group: str) -> None:
    @report.command(group, help=f"Totals by {group} (same as: totals --by {group}).")
    @_options
    @click.pass_obj
    def command(cfg: Config, start: Any, end: Any, fmt: str, out: Any) -> None:
        _totals(cfg, [group], start, end, fmt, out)


for _group in ("biller", "region", "district", "day"):
    _shorthand(_group)


@report.command("chart")
@click.option("--from", "start", type=DATE, default=None, help="First day; default 30 days back.")
@click.option("--to", "end", type=DATE, default=None, help="Last day (IST), inclusive.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default="mis-daily.png",
    show_default=True,
    help="The PNG to write.",
)
@click.pass_obj
def report_chart(cfg: Config, start: Any, end: Any, out: Path) -> None:
    """A PNG of daily volume and value per biller."""
    from switch.settlement.chart import daily_chart  # matplotlib is slow to import

    first, last = _range(start, end)

    async def run(db: Database, ledger: Ledger) -> list[dict[str, Any]]:
        return await reports.daily_by_biller(db, first, last)

    click.echo(f"wrote {daily_chart(run_with_ledger(cfg, run), first, last, out)}")
