"""The ``switch`` command. Each subcommand group lives in its own module here, imported
only when it is run: ``switch ledger check`` does not load the web framework, the
server or the importers (every command loading every module took 1.6 s to start)."""

from __future__ import annotations

import importlib

import click

from switch import __version__
from switch.cli.common import Commands, demo_config, load_config

# The command's name: the module and object that define it.
COMMANDS = {
    "db": "switch.cli.db:db",
    "ledger": "switch.cli.ledger:ledger",
    "agent": "switch.cli.network:agent",
    "terminal": "switch.cli.network:terminal",
    "wallet": "switch.cli.network:wallet",
    "user": "switch.cli.users:user",
    "serve": "switch.cli.serve:serve",
    "sim": "switch.cli.serve:sim",
    "demo": "switch.cli.demo:demo",
    "settle": "switch.cli.settle:settle",
    "recon": "switch.cli.settle:recon",
    "report": "switch.cli.report:report",
    "import": "switch.cli.imports:imports",
    "bulk": "switch.cli.bulk:bulk",
}


class LazyCommands(Commands):
    """The top-level group: each command's module is imported when it is looked up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, name = target.partition(":")
        command = getattr(importlib.import_module(module), name)
        assert isinstance(command, click.Command) and command.name == cmd_name, target
        return command


@click.group(cls=LazyCommands, context_settings={"help_option_names": ["-h", "--help"]})
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


def main() -> None:
    cli(prog_name="switch")
