"""``switch demo``."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console

from switch.config import Config
from switch.demo.run import DemoOptions, print_summary, run_demo


@click.command(
    short_help="Everything on this machine, under load and checked; then its end of day."
)
@click.option(
    "--duration",
    "duration_s",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds the terminals pay bills.",
)
@click.option(
    "--terminals",
    type=int,
    default=200,
    show_default=True,
    help="Simulated e-POS terminals (one agent each).",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Consumers and choices.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option(
    "--keep-running",
    is_flag=True,
    help="After the run, keep everything up until Ctrl-C to explore it: fixed ports "
    "(terminals 7400, admin 8080, metrics 9400, billers 7501-7503) where free, a staff "
    "login, a prometheus.yml.",
)
@click.option(
    "--spare-terminals",
    type=click.IntRange(0, 1000),
    default=0,
    show_default=True,
    help="Terminals the fleet never uses (credentials in <demo dir>/spare-credentials): "
    "for your own client or locust.",
)
@click.pass_obj
def demo(
    cfg: Config,
    duration_s: float,
    terminals: int,
    seed: int,
    as_json: bool,
    keep_running: bool,
    spare_terminals: int,
) -> None:
    """The whole system on this machine: embedded PostgreSQL and Redis, a discom and a
    water-scheme simulator, the SMS gateway, the switch, and TERMINALS e-POS terminals
    fetching and paying bills for DURATION seconds. Ends with a summary: throughput,
    latency, the ledger's invariants, and whether the switch's books agree with the
    billers'; then the day is closed: each biller settled and reconciled against its
    own report. Exit status 1 if anything does not square. Ctrl-C stops everything
    cleanly."""
    if not 1 <= terminals <= 5000:
        raise click.BadParameter("must be 1..5000", param_hint="--terminals")
    if not 1 <= duration_s <= 3600:
        raise click.BadParameter("must be 1..3600 seconds", param_hint="--duration")

    def report(result: dict[str, object]) -> None:
        if as_json:
            click.echo(json.dumps(result))
        else:
            print_summary(result, Console())

    opts = DemoOptions(duration_s, terminals, seed, as_json, keep_running, spare_terminals)
    result = run_demo(cfg, opts, report)
    day = result["end_of_day"]
    square = day["settled_all"] and day["reconciled_clean"]
    if not (result["invariants_ok"] and result["billers_agree"] and square):
        sys.exit(1)
