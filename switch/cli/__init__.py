"""The ``switch`` command. Each subcommand group lives in its own module here."""

from __future__ import annotations

import click

from switch import __version__
from switch.cli.common import Commands, demo_config, load_config
from switch.cli.db import db
from switch.cli.demo import demo
from switch.cli.imports import imports
from switch.cli.ledger import ledger
from switch.cli.network import agent, terminal, wallet
from switch.cli.report import report
from switch.cli.serve import serve, sim
from switch.cli.settle import recon, settle
from switch.cli.users import user


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML config file (default: $SWITCH_CONFIG, then the user config dir).",
)
@click.option(
    "--demo",
    "beside_demo",
    is_flag=True,
    help="Work on the demo's database and configuration (the last `switch demo`): "
    "`switch --demo user add ...` while it runs, `switch --demo report biller` after.",
)
@click.version_option(__version__, prog_name="switch")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, beside_demo: bool) -> None:
    """A bill-payment transaction switch: e-POS terminals, billers, and a
    double-entry ledger that cannot lose a paisa.

    By default it runs on its own embedded PostgreSQL and Redis, kept in a data
    directory (see `switch db status`); set SWITCH_DATABASE_URL and SWITCH_REDIS_URL
    to use servers of your own. docs/configuration.md lists every setting.
    """
    ctx.obj = demo_config(config_path) if beside_demo else load_config(config_path)


for command in (
    db, ledger, agent, terminal, wallet, user, serve, sim, demo, settle, recon, report, imports,
):  # fmt: skip
    cli.add_command(command)


def main() -> None:
    cli(prog_name="switch")
