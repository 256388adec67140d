"""/v1/auth: log in and out, change or reset a password; /v1/me."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request

from switch.admin.auth import Principal
from switch.admin.common import client_ip, deps_of
from switch.admin.errors import ApiError
from switch.admin.models import LoginIn, PasswordChangeIn, ResetConfirmIn, ResetRequestIn
from switch.admin.roles import current
from switch.db.audit import audit

if TYPE_CHECKING:
    from switch.admin.app import AdminDeps

router = APIRouter(prefix="/v1", tags=["auth"])


@router.post("/auth/login", summary="Log in: a bearer token that expires")
async def login(body: LoginIn, request: Request) -> dict[str, Any]:
    return await deps_of(request).auth.login(body.username, body.password, client_ip(request))


@router.post("/auth/logout", summary="Revoke this token")
async def logout(request: Request, who: Annotated[Principal, Depends(current)]) -> dict[str, Any]:
    await deps_of(request).auth.logout(request.headers.get("authorization", ""))
    return {"status": "logged_out"}


@router.get("/me", summary="Who this token belongs to")
async def me(who: Annotated[Principal, Depends(current)]) -> dict[str, Any]:
    return {"username": who.username, "role": who.role, "agent_id": who.agent_id}


@router.post("/auth/password", summary="Change your own password")
async def change_password(
    body: PasswordChangeIn, request: Request, who: Annotated[Principal, Depends(current)]
) -> dict[str, Any]:
    await change_password_of(deps_of(request), who, body.old_password, body.new_password)
    return {"status": "changed"}


async def change_password_of(deps: AdminDeps, who: Principal, old: str, new: str) -> None:
    """Change a user's own password, with its audit entry (the API and the pages).
    ``new`` must already have passed the password rules (``check_password``)."""
    hashed = await deps.db.fetchval("SELECT password_hash FROM users WHERE id = $1", who.user_id)
    if not await deps.auth.passwords.verify(hashed, old):
        raise ApiError("bad_credentials", "the old password is wrong")
    new_hash = await deps.auth.passwords.hash(new)

    async def change(conn: Any) -> None:
        async with conn.transaction():
            await conn.execute(
                "UPDATE users SET password_hash = $2 WHERE id = $1", who.user_id, new_hash
            )
            await audit(
                conn, who.username, "user.password_changed", "user", who.username, None, None
            )

    await deps.db.run(change)


@router.post(
    "/auth/password-reset/request",
    status_code=202,
    summary="Send a reset code by SMS (the same answer whether or not the user exists)",
)
async def request_reset(body: ResetRequestIn, request: Request) -> dict[str, Any]:
    await deps_of(request).auth.request_reset(body.username, client_ip(request))
    return {"status": "if the user exists, a code was sent to its mobile"}


@router.post("/auth/password-reset/confirm", summary="Set a new password with the SMS code")
async def confirm_reset(body: ResetConfirmIn, request: Request) -> dict[str, Any]:
    deps = deps_of(request)
    await deps.auth.confirm_reset(body.username, body.code, body.new_password, client_ip(request))

    async def log(conn: Any) -> None:
        await audit(
            conn,
            body.username.lower(),
            "user.password_reset",
            "user",
            body.username.lower(),
            None,
            None,
        )

    await deps.db.run(log)
    return {"status": "changed"}
