"""Helpers shared by the CLI modules."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import getpass
import json
import warnings
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import asyncpg
import click
import trio

from switch import config as config_mod
from switch.config import Config
from switch.db.database import Database
from switch.db.migrate import MigrationError, migrate
from switch.ledger import Ledger, LedgerError
from switch.services import ServiceError, ServiceUrls, ensure_running

T = TypeVar("T")


@functools.cache
def user_errors() -> tuple[type[Exception], ...]:
    """Refusals a one-shot command reports as a clear message (exit 1), not a
    traceback. Imported when a command first needs them, so a command does not load
    every part of the switch to start."""
    from switch.imports.engine import RunElsewhere
    from switch.pays.topups import TopUpRefused
    from switch.protocols.billers.base import BillerUnavailable
    from switch.provisioning.store import ProvisioningError
    from switch.settlement.calendar import CalendarError
    from switch.settlement.cases import CaseError
    from switch.settlement.reports import ReportError
    from switch.settlement.store import SettlementError

    return (
        ProvisioningError,
        LedgerError,
        SettlementError,
        CaseError,
        ReportError,
        CalendarError,
        TopUpRefused,
        click.ClickException,  # raised inside a command's trio function
        BillerUnavailable,
        RunElsewhere,
    )


def paise_of_rupees(value: str) -> int:
    """A command's rupees ('1,23,456.50') as whole paise, or a usage error saying so."""
    try:
        paise = Decimal(value.replace(",", "")) * 100
    except InvalidOperation:
        raise click.BadParameter(f"rupees, e.g. 1,23,456.50: {value!r}") from None
    if paise != int(paise) or paise < 0:
        raise click.BadParameter(f"whole paise, not negative: {value!r}")
    return int(paise)


def load_config(path: str | None) -> Config:
    try:
        return config_mod.load(path)
    except config_mod.ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


class Commands(click.Group):
    """A command group whose list shows each command's whole first sentence, wrapped,
    where click would cut it at the terminal's width with "..."."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=200)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def by_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--by NAME``: who the audit log records for this change (default: cli:<OS user>)."""
    return click.option(
        "--by",
        "actor",
        default=lambda: f"cli:{getpass.getuser()}",
        show_default="cli:<OS user>",
        help="Recorded in the audit log as who made the change.",
    )(fn)


def demo_config(path: str | None) -> Config:
    """The configuration ``switch demo`` wrote for its switch, on the demo's database
    (the same embedded servers and data directory): commands beside the demo see
    what it sees. Refused before any demo ran here."""
    from switch.demo.setup import DEMO_DB

    base = load_config(path)
    written = base.services.resolved_data_dir() / "demo" / "switch.toml"
    if not written.exists():
        raise click.ClickException(f"no demo has run with this data directory ({written})")
    cfg = load_config(str(written))
    services = dataclasses.replace(base.services, database_name=DEMO_DB)
    return cfg.replace(services=services)


def start_services(cfg: Config, *, migrate_schema: bool = True) -> ServiceUrls:
    """Start (or reuse) the services and bring the schema up to date."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
            urls = ensure_running(cfg.services)
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from exc
    if migrate_schema:
        with_connection(urls.database_url, migrate)
    return urls


def with_connection(url: str, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Run ``fn(conn)`` on a fresh connection, from synchronous CLI code."""

    async def run() -> T:
        conn = await asyncpg.connect(url, timeout=30)
        try:
            return await fn(conn)
        finally:
            await conn.close()

    try:
        return asyncio.run(run())
    except MigrationError as exc:
        raise click.ClickException(str(exc)) from exc
    except (OSError, asyncpg.PostgresError) as exc:
        raise click.ClickException(f"database error: {exc}") from exc


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def run_with_ledger(cfg: Config, fn: Callable[[Database, Ledger], Awaitable[T]]) -> T:
    """Start services, then run ``fn(db, ledger)`` under trio (for one-shot commands)."""
    urls = start_services(cfg)

    async def main() -> T:
        async with Database.open(urls.database_url, 2) as db, Ledger.open(db, cfg.ledger) as ledger:
            return await fn(db, ledger)

    try:
        return trio.run(main)
    except user_errors() as exc:
        raise click.ClickException(str(exc)) from exc
    except BaseExceptionGroup as group:
        # The ledger's and the database's nurseries wrap what ``fn`` raised.
        refusal = _only_user_error(group)
        if refusal is None:
            raise
        raise click.ClickException(str(refusal)) from group


def _only_user_error(group: BaseExceptionGroup[BaseException]) -> Exception | None:
    """The user error a group holds, if that is all it holds (nested groups too)."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending and len(leaves) < 2:  # bounded: stop at the second leaf
        e = pending.pop()
        if isinstance(e, BaseExceptionGroup):
            pending.extend(e.exceptions)
        else:
            leaves.append(e)
    if len(leaves) == 1 and not pending and isinstance(leaves[0], user_errors()):
        return leaves[0]
    return None
