"""/v1/users: staff logins (admin only). Agents' logins are made on activation."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Request

from switch.admin.auth import Auth, Principal
from switch.admin.common import After, Limit, deps_of, page
from switch.admin.errors import ApiError
from switch.admin.models import UserChangeIn, UserIn
from switch.admin.roles import allow
from switch.db import Connection
from switch.db.audit import audit
from switch.db.database import Database
from switch.db.rows import json_ready

router = APIRouter(prefix="/v1", tags=["users"])
USER_COLUMNS = "id, username, role, agent_id, circle_id, mobile, disabled, created_at"


async def create_user(
    db: Database,
    auth: Auth,
    actor: str,
    username: str,
    role: str,
    mobile: str,
    password: str,
    agent_id: str | None = None,
    circle_id: str | None = None,
) -> dict[str, Any]:
    """A login (staff, or an agent's with ``agent_id``); audited. 409 if taken."""
    hashed = await auth.passwords.hash(password)

    async def insert(conn: Connection) -> dict[str, Any]:
        async with conn.transaction():
            try:
                row = await conn.fetchrow(
                    f"""INSERT INTO users (username, role, mobile, password_hash, agent_id,
                                           circle_id)
                        VALUES ($1, $2, $3, $4, $5, $6) RETURNING {USER_COLUMNS}""",
                    username,
                    role,
                    mobile,
                    hashed,
                    agent_id,
                    circle_id,
                )
            except asyncpg.UniqueViolationError as exc:
                raise ApiError(
                    "duplicate", f"username {username} is taken", {"username": "already taken"}
                ) from exc
            except asyncpg.ForeignKeyViolationError as exc:
                why = f"no circle {circle_id} of {agent_id}"
                raise ApiError("invalid_request", why, {"circle_id": why}) from exc
            user = json_ready(row)
            await audit(conn, actor, "user.create", "user", username, None, user)
            return user

    return await db.run(insert)


@router.post("/users", status_code=201, summary="Create a staff login")
async def add(
    body: UserIn, request: Request, who: Annotated[Principal, Depends(allow("users.manage"))]
) -> dict[str, Any]:
    deps = deps_of(request)
    return await create_user(
        deps.db, deps.auth, who.username, body.username, body.role, body.mobile, body.password
    )


@router.get("/users", summary="List logins")
async def list_users(
    request: Request,
    who: Annotated[Principal, Depends(allow("users.read"))],
    limit: Limit = 50,
    after: After = None,
) -> dict[str, Any]:
    rows = await deps_of(request).db.fetch(
        f"SELECT {USER_COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT $2",
        after or 0,
        limit + 1,
    )
    return page([json_ready(r) for r in rows], limit)


@router.patch("/users/{username}", summary="Change a staff login's role, or disable it")
async def change(
    username: str,
    body: UserChangeIn,
    request: Request,
    who: Annotated[Principal, Depends(allow("users.manage"))],
) -> dict[str, Any]:
    if username == who.username and (body.disabled or body.role not in (None, "admin")):
        raise ApiError("invalid_state", "an admin cannot disable or demote their own login")

    async def update(conn: Connection) -> dict[str, Any]:
        async with conn.transaction():
            before = await conn.fetchrow(
                f"SELECT {USER_COLUMNS} FROM users WHERE username = $1 AND role <> 'agent' "
                "FOR UPDATE",
                username,
            )
            if before is None:
                raise ApiError("not_found", f"no staff user {username}")
            after = await conn.fetchrow(
                f"""UPDATE users SET role = coalesce($2, role), disabled = coalesce($3, disabled)
                     WHERE username = $1 RETURNING {USER_COLUMNS}""",
                username,
                body.role,
                body.disabled,
            )
            if body.disabled:
                await conn.execute("DELETE FROM user_tokens WHERE user_id = $1", before["id"])
            await audit(
                conn,
                who.username,
                "user.change",
                "user",
                username,
                json_ready(before),
                json_ready(after),
            )
            return json_ready(after)

    return await deps_of(request).db.run(update)
