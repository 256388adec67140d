"""``switch bulk``: institutional bill payment from the command line (the same work
as ``/v1/payers/...``): a payer's bill file taken in, a round with its ERP, a pay run
planned (the running switch pays it), a run's report, the payer's MIS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from switch.bulk import intake, store, tariffs
from switch.bulk.service import BulkService, report
from switch.cli.common import Commands, echo_json, paise_of_rupees, run_with_ledger
from switch.config import Config
from switch.db.database import Database
from switch.ledger import Ledger

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("bulk", cls=Commands)
def bulk() -> None:
    """Institutional bill payment: an organisation's bills taken in and checked, its
    ERP's liabilities, pay runs by priority (docs/bulk-payments.md)."""


def _tariffs(cfg: Config) -> dict[tuple[str, str], tariffs.Tariff]:
    return tariffs.load([Path(p) for p in cfg.bulk.tariffs_files] or None)


@bulk.command("intake")
@click.argument("payer_id")
@click.argument("file", type=FILE)
@click.option("--date-format", default="DD-MM-YYYY", show_default=True,
              type=click.Choice(["DD-MM-YYYY", "DD/MM/YYYY", "YYYY-MM-DD"]))  # fmt: skip
@click.option("--by", "actor", default="cli", show_default=True, help="Who takes it in.")
@click.pass_obj
def take_in(cfg: Config, payer_id: str, file: Path, date_format: str, actor: str) -> None:
    """Take in a discom's bill file (CSV or XLSX) for PAYER_ID: whole, or refused with
    every bad row."""

    async def go(db: Database, ledger: Ledger) -> dict[str, Any]:
        sites = await store.site_codes(db, payer_id)
        if not sites:
            raise click.ClickException(f"payer {payer_id} has no sites")
        try:
            bills = intake.read_file(file, sites, date_format)
        except intake.FileRefused as exc:
            shown = [f"line {r.line}, {r.column}: {r.reason}" for r in exc.rejections[:50]]
            raise click.ClickException("\n".join([str(exc), *shown])) from None
        taken = await store.take_in(db, payer_id, [b for _, b in bills], f"file:{file.name}",
                                    _tariffs(cfg), actor)  # fmt: skip
        return taken.shown()

    echo_json(run_with_ledger(cfg, go))


@bulk.command("erp")
@click.argument("payer_id")
@click.pass_obj
def erp_round(cfg: Config, payer_id: str) -> None:
    """A round with PAYER_ID's ERP: approved bills booked, liabilities looked at again."""

    async def go(db: Database, ledger: Ledger) -> dict[str, int]:
        service = BulkService(db, None, cfg.bulk, {})  # type: ignore[arg-type]
        try:
            return await service.erp_round(payer_id)
        finally:
            await service.aclose()

    echo_json(run_with_ledger(cfg, go))


@bulk.command("run")
@click.argument("payer_id")
@click.option("--funds", required=True, help="The funds allocated, in rupees (1,23,456.50).")
@click.option("--by", "actor", default="cli", show_default=True, help="Who allocates them.")
@click.pass_obj
def plan_run(cfg: Config, payer_id: str, funds: str, actor: str) -> None:
    """Plan a pay run over the allocated funds; the running switch pays it (within
    seconds) and ``switch bulk report RUN`` follows it."""
    paise = paise_of_rupees(funds)

    async def go(db: Database, ledger: Ledger) -> dict[str, Any]:
        service = BulkService(db, None, cfg.bulk, {})  # type: ignore[arg-type]
        try:
            run_id = await service.start_run(payer_id, paise, actor)
        finally:
            await service.aclose()
        return await report(db, run_id)

    echo_json(run_with_ledger(cfg, go))


@bulk.command("report")
@click.argument("run_id", type=int)
@click.pass_obj
def run_report(cfg: Config, run_id: int) -> None:
    """A pay run's plan and each bill's outcome."""

    async def go(db: Database, ledger: Ledger) -> dict[str, Any]:
        found = await report(db, run_id)
        if not found:
            raise click.ClickException(f"no pay run {run_id}")
        return found

    echo_json(run_with_ledger(cfg, go))


@bulk.command("mis")
@click.argument("payer_id")
@click.option(
    "--by", "by", default="circle", show_default=True, type=click.Choice(list(store.MIS_BY))
)
@click.pass_obj
def mis(cfg: Config, payer_id: str, by: str) -> None:
    """PAYER_ID's bills by circle, site, category, month, letter or state: counts,
    gross, approved, paid and what the checks saved."""

    async def go(db: Database, ledger: Ledger) -> list[dict[str, Any]]:
        return await store.mis(db, payer_id, by)

    echo_json(run_with_ledger(cfg, go))
