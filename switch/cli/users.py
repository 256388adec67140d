"""``switch user``: staff logins for the admin API (the first admin is made here).
docs/admin-api.md."""

from __future__ import annotations

import secrets
from typing import Any

import click

from switch.admin.auth import Auth, check_password
from switch.admin.errors import ApiError
from switch.admin.roles import STAFF_ROLES
from switch.admin.users import create_user
from switch.cli.common import echo_json, run_with_ledger
from switch.config import Config
from switch.db.database import Database
from switch.ledger import Ledger


@click.group()
def user() -> None:
    """Staff logins for the admin API."""


@user.command("add")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(STAFF_ROLES))
@click.option("--mobile", required=True, help="For password-reset codes by SMS.")
@click.option("--by", "actor", default="cli", show_default=True, help="Recorded in the audit log.")
@click.option("--password", default=None, help="Default: a random one, printed once.")
@click.pass_obj
def user_add(
    cfg: Config, username: str, role: str, mobile: str, actor: str, password: str | None
) -> None:
    """Create a staff login (the first admin is made this way)."""
    password = password or secrets.token_urlsafe(12) + "9"
    try:
        check_password(password)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--password") from exc

    async def run(db: Database, ledger: Ledger) -> dict[str, Any]:
        try:
            return await create_user(
                db, Auth(db, cfg.admin), actor, username, role, mobile, password
            )
        except ApiError as exc:
            raise click.ClickException(exc.message) from exc

    echo_json(run_with_ledger(cfg, run) | {"password": password})


@user.command("list")
@click.pass_obj
def user_list(cfg: Config) -> None:
    """Every login, staff and agents."""

    async def run(db: Database, ledger: Ledger) -> list[dict[str, Any]]:
        rows = await db.fetch(
            "SELECT username, role, agent_id, disabled, locked_until FROM users ORDER BY id"
        )
        return [dict(r) for r in rows]

    echo_json(run_with_ledger(cfg, run))
