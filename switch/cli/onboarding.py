"""``switch agent apply|approve|activate``: onboarding from the command line, through the
same steps (switch/admin/onboarding.py) and rules as the admin API: the application
with its KYC validated field by field, approval by a second person, activation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import click
from pydantic import ValidationError

from switch.cli.common import by_option, echo_json, run_with_ledger
from switch.config import Config
from switch.db.database import Database
from switch.ledger import Ledger

KYC_OPTIONS = [
    ("name", "Shop owner's name."),
    ("email", "E-mail address."),
    ("mobile", "10-digit mobile number (6-9 first)."),
    ("date-of-birth", "YYYY-MM-DD (18 or older)."),
    ("pan", "PAN, AAAAA9999A."),
    ("fps-id", "FPS outlet id (unique)."),
    ("residential-address", "Where the agent lives."),
    ("shop-address", "Where the shop is."),
    ("bank-account", "Bank account number (9-18 digits)."),
    ("ifsc", "The bank branch's IFSC, AAAA0XXXXXX."),
]


def kyc_options(fn: Any) -> Any:
    for name, help_text in reversed(KYC_OPTIONS):
        fn = click.option(f"--{name}", required=True, help=help_text)(fn)
    fn = click.option("--gstin", default=None, help="GSTIN, if registered.")(fn)
    fn = click.option("--region", default="", help="Region (MIS reports).")(fn)
    return click.option("--district", default="", help="District (MIS reports).")(fn)


def _refusal(exc: Exception) -> click.ClickException:
    from switch.admin.errors import ApiError

    if isinstance(exc, ApiError):
        fields = "; ".join(f"{k}: {v}" for k, v in (exc.fields or {}).items())
        return click.ClickException(f"{exc.message}" + (f" ({fields})" if fields else ""))
    assert isinstance(exc, ValidationError)
    lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    return click.ClickException("invalid application: " + "; ".join(lines))


def _step(cfg: Config, step: Callable[[Database, Ledger], Awaitable[dict[str, Any]]]) -> None:
    """Run one onboarding step and print its answer; a refusal is one line, exit 1."""
    from switch.admin.errors import ApiError

    async def run(db: Database, ledger: Ledger) -> dict[str, Any]:
        try:
            return await step(db, ledger)
        except ApiError as exc:
            raise _refusal(exc) from None

    echo_json(run_with_ledger(cfg, run))


def register(agent: click.Group) -> None:
    """Add the onboarding commands to ``switch agent``."""

    @agent.command("apply")
    @kyc_options
    @by_option
    @click.pass_obj
    def agent_apply(cfg: Config, /, actor: str, **fields: Any) -> None:
        """Enter an agent's application with its KYC (pending until a second person
        approves it). Prints the agent as JSON."""
        from switch.admin import onboarding
        from switch.admin.models import AgentIn

        try:
            body = AgentIn(**{k: v for k, v in fields.items() if v is not None})
        except ValidationError as exc:
            raise _refusal(exc) from None
        _step(cfg, lambda db, ledger: onboarding.apply(db, ledger, actor, body))

    @agent.command("approve")
    @click.argument("agent_id")
    @by_option
    @click.pass_obj
    def agent_approve(cfg: Config, agent_id: str, actor: str) -> None:
        """Approve an application's KYC: --by must be someone other than who entered it."""
        from switch.admin import onboarding

        _step(cfg, lambda db, ledger: onboarding.approve(db, actor, agent_id))

    @agent.command("activate")
    @click.argument("agent_id")
    @by_option
    @click.pass_obj
    def agent_activate(cfg: Config, agent_id: str, actor: str) -> None:
        """Activate an approved agent: its portal login is created and sent by SMS."""
        from switch.admin import onboarding
        from switch.admin.auth import Auth

        _step(cfg, lambda db, ledger: onboarding.activate(db, Auth(db, cfg.admin), actor, agent_id))
