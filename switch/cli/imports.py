"""``switch import``: agents, opening balances, bank statement top-ups and payment
history from CSV or XLSX files, each run with its protocol of transfer.

docs/imports.md explains mappings, control totals, chunks and resuming.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from switch.cli.common import Commands, echo_json, paise_of_rupees, run_with_ledger
from switch.config import Config
from switch.db.database import Database
from switch.imports import engine, mapping, report
from switch.imports.entities import ENTITIES
from switch.ledger import Ledger
from switch.ops.gc import tune_gc
from switch.protocols.terminal.crypto import public_bytes
from switch.provisioning.identity import identity_path, load_or_create

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("import", cls=Commands)
def imports() -> None:
    """Bring in agents, balances, top-ups and history from files (CSV, XLSX), with a
    protocol of each run: rows read, accepted, rejected (line, column, reason), control
    totals and the file's SHA-256."""


def _rupees(value: str | None) -> int | None:
    return None if value is None else paise_of_rupees(value)


def _options(fn: Any) -> Any:
    decorators = [
        click.argument("file", type=FILE),
        click.option("--mapping", "mapping_file", type=FILE, help="A TOML column mapping."),
        click.option("--dry-run", is_flag=True, help="Check and report; write nothing."),
        click.option("--control-count", type=int, help="The rows the file's sender declares."),
        click.option(
            "--control-total", help="The amount the sender declares, in rupees (1,23,456.50)."
        ),
        click.option("--by", "actor", default="cli", show_default=True, help="Who runs it."),
        click.option(
            "--chunk-rows",
            type=int,
            default=engine.CHUNK_ROWS,
            show_default=True,
            help="Rows written per transaction (a killed run resumes after its last).",
        ),
        click.option(
            "--chunk-pause-ms",
            type=float,
            default=0.0,
            hidden=True,
            help="A pause after each chunk (drills that kill a run mid-file).",
        ),
        click.option("--json", "as_json", is_flag=True, help="The protocol as JSON."),
    ]
    for decorate in reversed(decorators):
        fn = decorate(fn)
    return fn


def _run(
    cfg: Config,
    entity: str,
    file: Path,
    mapping_file: Path | None,
    *,
    dry_run: bool,
    control_count: int | None,
    control_total: str | None,
    actor: str,
    chunk_rows: int,
    chunk_pause_ms: float,
    as_json: bool,
    approved: bool = False,
    credentials_dir: Path | None = None,
    address: str | None = None,
) -> None:
    try:
        m = (
            mapping.load(mapping_file, entity, ENTITIES[entity].fields)
            if mapping_file
            else mapping.default(entity)
        )
    except mapping.MappingError as exc:
        raise click.ClickException(str(exc)) from exc
    opts = engine.Options(
        actor,
        dry_run=dry_run,
        control_count=control_count,
        control_paise=_rupees(control_total),
        approved=approved,
        chunk_rows=max(1, chunk_rows),
        chunk_pause_s=chunk_pause_ms / 1000,
        default_ceiling_paise=cfg.admin.default_max_balance_paise,
        billers=frozenset(b.id for b in cfg.billers),
        complaint_tat_s=cfg.admin.complaint_tat_service_h * 3600,
        credentials_dir=credentials_dir,
        switch_public_key=public_bytes(load_or_create(identity_path(cfg)))
        if credentials_dir
        else b"",
        terminal_address=address or f"{cfg.terminals.host}:{cfg.terminals.port}",
    )

    async def go(db: Database, ledger: Ledger) -> dict[str, Any]:
        run_id, before = await engine.run_import(db, entity, file, m, opts)
        found = await report.protocol(db, run_id)
        assert found is not None
        return found | {"imported_before": before}

    # A chunk holds 5,000 parsed rows: young collections would walk them again and again.
    tune_gc(cfg.ops.gc_gen0_threshold, cfg.ops.gc_freeze_after_start)
    p = run_with_ledger(cfg, go)
    if as_json:
        echo_json(p)
    else:
        _print(p)
    if p["state"] == "refused":
        raise SystemExit(1)


def _print(p: dict[str, Any]) -> None:
    rows, control = p["rows"], p["control"]
    head = f"run {p['run']} ({p['entity']}{', dry run' if p['dry_run'] else ''}): {p['state']}"
    click.echo(head + (f": {p['refusal']}" if p["refusal"] else ""))
    if p["imported_before"]:
        click.echo(f"  this file was imported before, in run {p['run']}: nothing written now")
    click.echo(
        f"  file {p['file']['name']} ({p['file']['bytes']:,} bytes) sha256 {p['file']['sha256']}"
    )
    click.echo(
        f"  rows read {rows['read']:,}: accepted {rows['accepted']:,}, already present "
        f"{rows['already_present']:,}, rejected {rows['rejected']:,}"
    )
    if control["declared_count"] is not None or control["file_paise"]:
        click.echo(
            f"  control: declared {control['declared_count']} rows / {control['declared_paise']} "
            f"paise; file {control['file_count']} / {control['file_paise']}; written "
            f"{control['written_count']} / {control['written_paise']}"
        )
    for r in p["rejections"][:20]:
        click.echo(f"  line {r['line']}: {r['column']}: {r['reason']}")
    if rows["rejected"] > 20:
        click.echo(f"  ... every rejected row: switch import report {p['run']} --csv")


@imports.command("agents")
@_options
@click.option(
    "--approved",
    is_flag=True,
    help="A migration of agents the legacy system had approved: imported approved, the "
    "import recorded as the approval's basis (else: pending KYC, the four-eyes queue).",
)
@click.pass_obj
def import_agents(
    cfg: Config, /, file: Path, mapping_file: Path | None, approved: bool, **kw: Any
) -> None:
    """Agents with their KYC (each checked as onboarding checks it) and a wallet."""
    _run(cfg, "agents", file, mapping_file, approved=approved, **kw)


@imports.command("balances")
@_options
@click.pass_obj
def import_balances(cfg: Config, /, file: Path, mapping_file: Path | None, **kw: Any) -> None:
    """Agents' opening balances, through the ledger from the migration suspense account
    (--control-count and --control-total required)."""
    _run(cfg, "balances", file, mapping_file, **kw)


@imports.command("topups")
@_options
@click.pass_obj
def import_topups(cfg: Config, /, file: Path, mapping_file: Path | None, **kw: Any) -> None:
    """Wallet top-ups from a bank statement: each line's bank reference once
    (--control-count and --control-total required)."""
    _run(cfg, "topups", file, mapping_file, **kw)


@imports.command("history")
@_options
@click.pass_obj
def import_history(cfg: Config, /, file: Path, mapping_file: Path | None, **kw: Any) -> None:
    """Payments the legacy system made: read-only history, never sent to a biller."""
    _run(cfg, "history", file, mapping_file, **kw)


@imports.command("consumers")
@_options
@click.pass_obj
def import_consumers(cfg: Config, /, file: Path, mapping_file: Path | None, **kw: Any) -> None:
    """Consumer accounts of this switch's billers with their registered mobiles."""
    _run(cfg, "consumers", file, mapping_file, **kw)


@imports.command("complaints")
@_options
@click.pass_obj
def import_complaints(cfg: Config, /, file: Path, mapping_file: Path | None, **kw: Any) -> None:
    """Complaints still open in the old system (logged here, their turnaround from now)."""
    _run(cfg, "complaints", file, mapping_file, **kw)


@imports.command("terminals")
@_options
@click.option(
    "--out-dir",
    "credentials_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Where each terminal's credentials file goes (<legacy id>.json, its private key).",
)
@click.option("--address", default=None, help="host:port the terminals dial.")
@click.pass_obj
def import_terminals(cfg: Config, /, file: Path, mapping_file: Path | None, **kw: Any) -> None:
    """The old system's terminals (legacy ids kept), each with a new key pair and its
    credentials file for the device."""
    _run(cfg, "terminals", file, mapping_file, **kw)


@imports.command("report")
@click.argument("run_id", type=int)
@click.option("--csv", "as_csv", is_flag=True, help="CSV: the figures, then every rejected row.")
@click.pass_obj
def import_report(cfg: Config, run_id: int, as_csv: bool) -> None:
    """A run's protocol of transfer (JSON, or CSV with every rejected row)."""

    async def go(db: Database, ledger: Ledger) -> dict[str, Any] | None:
        if as_csv:
            async for part in report.protocol_csv(db, run_id):
                click.echo(part, nl=False)
            return {}
        return await report.protocol(db, run_id)

    found = run_with_ledger(cfg, go)
    if found is None:
        raise click.ClickException(f"no import run {run_id}")
    if found:
        echo_json(found)


@imports.command("runs")
@click.pass_obj
def import_runs(cfg: Config) -> None:
    """Every import run, newest first."""

    async def go(db: Database, ledger: Ledger) -> list[dict[str, Any]]:
        rows = await db.fetch(
            """SELECT id, entity, file_name, state, dry_run, rows_read, written, present,
                      rejected, started_by, started_at FROM import_runs ORDER BY id DESC"""
        )
        return [dict(r) for r in rows]

    echo_json(run_with_ledger(cfg, go))
