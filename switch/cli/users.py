"""``switch user``: staff logins for the admin API (the first admin is made here).
docs/admin-api.md."""

from __future__ import annotations

import secrets
from typing import Any

import click

from switch.admin.auth import Auth
from switch.admin.errors import ApiError
from switch.admin.passwords import check_password
from switch.admin.roles import STAFF_ROLES
from switch.admin.users import create_user
from switch.cli.common import Commands, by_option, echo_json, run_with_ledger
from switch.config import Config
from switch.db import Connection
from switch.db.audit import audit
from switch.db.database import Database
from switch.ledger import Ledger


@click.group(cls=Commands)
def user() -> None:
    """Staff logins for the admin API."""


@user.command("add")
@click.option("--username", required=True, help="The login name (lower case).")
@click.option(
    "--role", required=True, type=click.Choice(STAFF_ROLES), help="What the login may do."
)
@click.option("--mobile", required=True, help="For password-reset codes by SMS.")
@by_option
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
        rows = await db.fetch("SELECT username, role, agent_id, disabled FROM users ORDER BY id")
        return [dict(r) for r in rows]

    echo_json(run_with_ledger(cfg, run))


@user.command("disable")
@click.argument("username")
@by_option
@click.pass_obj
def user_disable(cfg: Config, username: str, actor: str) -> None:
    """Disable a login: its password and every token it holds stop working at once."""
    _set_disabled(cfg, username, actor, disabled=True)


@user.command("enable")
@click.argument("username")
@by_option
@click.pass_obj
def user_enable(cfg: Config, username: str, actor: str) -> None:
    """Enable a disabled login again."""
    _set_disabled(cfg, username, actor, disabled=False)


def _set_disabled(cfg: Config, username: str, actor: str, *, disabled: bool) -> None:
    async def run(db: Database, ledger: Ledger) -> dict[str, Any]:
        async def change(conn: Connection) -> dict[str, Any]:
            async with conn.transaction():
                row = await conn.fetchrow(
                    """UPDATE users SET disabled = $2 WHERE username = $1
                       RETURNING username, role, agent_id, disabled""",
                    username,
                    disabled,
                )
                if row is None:
                    raise click.ClickException(f"no user {username}")
                action = "user.disable" if disabled else "user.enable"
                await audit(conn, actor, action, "user", username, None, dict(row))
                return dict(row)

        return await db.run(change)

    echo_json(run_with_ledger(cfg, run))
