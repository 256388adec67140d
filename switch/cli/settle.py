"""``switch settle`` and ``switch recon``: close business days, match billers, resolve breaks.

docs/settlement.md explains windows, files, reconciliation and cases.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from switch.cli.common import Commands, echo_json, run_with_ledger
from switch.config import Config
from switch.db.database import Database
from switch.ledger import Ledger
from switch.settlement import cases as cases_mod
from switch.settlement.recon import report_connector
from switch.settlement.service import Settlement, settlement_for

T = TypeVar("T")
DATE = click.DateTime(formats=["%Y-%m-%d"])


def with_settlement(cfg: Config, fn: Callable[[Settlement], Awaitable[T]]) -> T:
    async def run(db: Database, ledger: Ledger) -> T:
        connectors = {b.id: report_connector(b, cfg.settlement) for b in cfg.billers}
        settlement = settlement_for(cfg, db, connectors)
        try:
            return await fn(settlement)
        finally:
            for connector in connectors.values():
                await connector.aclose()

    return run_with_ledger(cfg, run)


def _billers(cfg: Config, chosen: tuple[str, ...]) -> list[str]:
    known = [b.id for b in cfg.billers]
    unknown = [b for b in chosen if b not in known]
    if unknown:
        raise click.BadParameter(f"unknown biller(s) {unknown}; configured: {known}")
    return list(chosen) or known


@click.group(cls=Commands)
def settle() -> None:
    """Close business days and settle each biller (windows, ledger transfers, files)."""


@settle.command("close")
@click.option("--biller", "billers", multiple=True, help="Only this biller (repeatable).")
@click.option("--date", "day", type=DATE, help="This business day (default: every due one).")
@click.pass_obj
def settle_close(cfg: Config, billers: tuple[str, ...], day: dt.datetime | None) -> None:
    """Close and settle windows whose cut-off has passed. Idempotent: a settled
    window is shown as it is, never settled twice."""
    chosen = _billers(cfg, billers)

    async def run(s: Settlement) -> list[dict[str, Any]]:
        if day is None:
            return [w.as_dict() for w in await s.close_due() if w.biller_id in chosen]
        return [(await s.close(b, day.date())).as_dict() for b in chosen]

    echo_json(with_settlement(cfg, run))


@settle.command("status")
@click.option("--biller", "billers", multiple=True, help="Only this biller (repeatable).")
@click.option(
    "--limit", default=20, show_default=True, type=click.IntRange(1, 1000), help="Windows shown."
)
@click.pass_obj
def settle_status(cfg: Config, billers: tuple[str, ...], limit: int) -> None:
    """The open window of each biller (what it holds so far) and the latest closed ones."""
    chosen = _billers(cfg, billers)

    async def run(s: Settlement) -> dict[str, Any]:
        now = await s.now()
        return {
            "open": [await s.open_window(b, now) for b in chosen],
            "closed": [w.as_dict() for w in await s.windows(limit) if w.biller_id in chosen],
        }

    echo_json(with_settlement(cfg, run))


@settle.command("files")
@click.option("--biller", "billers", multiple=True, help="Only this biller (repeatable).")
@click.option("--date", "day", type=DATE, help="Only this business day.")
@click.option("--verify", is_flag=True, help="Check files and checksums; do not write.")
@click.pass_obj
def settle_files(
    cfg: Config, billers: tuple[str, ...], day: dt.datetime | None, verify: bool
) -> None:
    """Write (again) the settlement files of settled windows, or verify them: the
    file matches its .sha256 and the digest recorded when the window was settled."""
    chosen = _billers(cfg, billers)

    async def run(s: Settlement) -> list[dict[str, object]]:
        found = await s.files(day.date() if day else None, verify)
        return [f for f in found if f["biller_id"] in chosen]

    results = with_settlement(cfg, run)
    echo_json(results)
    if verify and results and all(r["missing"] for r in results):
        # Nothing of this database's is here: another data directory or database
        # (the demo's: `switch --demo ...`), not a broken file.
        click.echo(
            f"no settlement files of this database's {len(results)} settled windows in "
            f"{cfg.settlement.files_dir or 'the data directory'}: `switch settle files` "
            "writes them (or point --config / --demo at the setup that settled them)",
            err=True,
        )
        return
    if not all(r["ok"] for r in results):
        sys.exit(1)


@click.group(cls=Commands)
def recon() -> None:
    """Match settled days against each biller's own report; handle the breaks."""


@recon.command("run")
@click.option("--biller", "billers", multiple=True, help="Only this biller (repeatable).")
@click.option(
    "--date",
    "day",
    type=DATE,
    help="This business day (default: every settled day not yet reconciled).",
)
@click.pass_obj
def recon_run(cfg: Config, billers: tuple[str, ...], day: dt.datetime | None) -> None:
    """Fetch each biller's report, match it, and open a case per break."""
    chosen = _billers(cfg, billers)

    async def run(s: Settlement) -> list[dict[str, Any]]:
        assert s.reconciler is not None
        if day is None:
            return [r.as_dict() for r in await s.reconcile_pending() if r.biller_id in chosen]
        return [(await s.reconciler.run(b, day.date())).as_dict() for b in chosen]

    echo_json(with_settlement(cfg, run))


@recon.command("cases")
@click.option(
    "--state",
    type=click.Choice(["open", "resolved", "all"]),
    default="open",
    show_default=True,
    help="Which cases.",
)
@click.option("--biller", default=None, help="Only this biller.")
@click.option(
    "--limit", default=100, show_default=True, type=click.IntRange(1, 10_000), help="Cases shown."
)
@click.pass_obj
def recon_cases(cfg: Config, state: str, biller: str | None, limit: int) -> None:
    """List reconciliation cases."""

    async def run(db: Database, ledger: Ledger) -> list[dict[str, Any]]:
        return await cases_mod.list_cases(db, None if state == "all" else state, biller, limit)

    echo_json(run_with_ledger(cfg, run))


@recon.command("resolve")
@click.argument("case_id", type=int)
@click.option(
    "--action",
    required=True,
    type=click.Choice(cases_mod.RESOLUTIONS),
    help="refund_agent, force_post (both move money through the ledger) or no_money.",
)
@click.option("--by", "actor", required=True, help="Who resolves it (recorded in the audit log).")
@click.option("--note", required=True, help="Why: recorded with the case and in the audit log.")
@click.pass_obj
def recon_resolve(cfg: Config, case_id: int, action: str, actor: str, note: str) -> None:
    """Resolve a case; money moves only through the ledger, and the biller's next
    settlement nets it."""

    async def run(db: Database, ledger: Ledger) -> dict[str, Any]:
        done = await cases_mod.resolve(db, case_id, action, actor, note, cfg.billers)
        return done.as_dict()

    echo_json(run_with_ledger(cfg, run))
