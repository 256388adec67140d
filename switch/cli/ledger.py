"""``switch ledger``: look at the books."""

from __future__ import annotations

import sys

import click

from switch.cli.common import Commands, start_services, with_connection
from switch.config import Config
from switch.ledger import invariants


@click.group(cls=Commands)
def ledger() -> None:
    """Inspect the double-entry ledger."""


@ledger.command()
@click.option(
    "--grace-s",
    default=invariants.DEFAULT_GRACE_S,
    show_default=True,
    help="How long past its deadline a pending transfer may stay pending.",
)
@click.pass_obj
def check(cfg: Config, grace_s: float) -> None:
    """Check the ledger's invariants. Exit 0 if all hold, 1 and a list if not.

    \b
    - the sum over all accounts is zero
    - no wallet (or other guarded account) is negative
    - every account's balance matches its journal
    - the in-flight account holds exactly the pending transfers
    - no pending transfer is past its deadline (beyond --grace-s)
    """
    urls = start_services(cfg)
    violations = with_connection(urls.database_url, lambda c: invariants.check(c, grace_s))
    if not violations:
        click.echo("ledger ok: all invariants hold")
        return
    click.echo(f"ledger NOT ok: {len(violations)} violation(s)", err=True)
    for line in violations:
        click.echo(f"  - {line}", err=True)
    sys.exit(1)
