"""The web pages' login: a cookie holding the same token the API's login gives, and
a CSRF token on every form.

The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's
page sends it) and ``Secure`` when ``[admin] secure_cookies``. Signing out revokes
the token in the database, as the API's logout does.

Every POST carries a ``csrf`` field, checked before anything else: for a signed-in
user it is an HMAC of the session's token (so it changes with each login and needs
no storage); the login form, which has no session yet, is a double submit (a random
value in a cookie of its own and in the form).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from switch.admin.auth import Principal
from switch.admin.common import deps_of
from switch.admin.errors import ApiError

COOKIE = "switch_session"
LOGIN_CSRF_COOKIE = "switch_login_csrf"


class SignInNeeded(Exception):
    """No valid session: the page answers with a redirect to the login form."""

    def __init__(self, login_path: str) -> None:
        super().__init__(login_path)
        self.login_path = login_path


def csrf_token(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"csrf", hashlib.sha256).hexdigest()[:32]


async def principal(request: Request, login_path: str) -> Principal:
    """The signed-in user, or SignInNeeded (the redirect remembers the page)."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise SignInNeeded(f"{login_path}?next={quote(request.url.path)}")
    try:
        return await deps_of(request).auth.principal(f"Bearer {token}")
    except ApiError:
        raise SignInNeeded(f"{login_path}?next={quote(request.url.path)}") from None


def form_csrf(request: Request) -> str:
    """The token this session's forms carry."""
    return csrf_token(request.cookies.get(COOKIE, ""))


def check_csrf(request: Request, sent: str | None) -> None:
    token = request.cookies.get(COOKIE, "")
    if not token or not sent or not hmac.compare_digest(csrf_token(token), sent):
        raise ApiError("forbidden", "this form is stale or did not come from this site")


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def check_login_csrf(request: Request, sent: str | None) -> None:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not sent or not hmac.compare_digest(cookie, sent):
        raise ApiError("forbidden", "this form is stale or did not come from this site")


def signed_in(request: Request, response: Response, token: str) -> Response:
    secure = deps_of(request).cfg.admin.secure_cookies
    ttl_s = int(deps_of(request).cfg.admin.token_ttl_s)
    response.set_cookie(
        COOKIE, token, max_age=ttl_s, httponly=True, samesite="strict", secure=secure, path="/"
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


def set_login_csrf(request: Request, response: Response, value: str) -> Response:
    secure = deps_of(request).cfg.admin.secure_cookies
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        value,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    return response


async def sign_out(request: Request, to: str) -> Response:
    token = request.cookies.get(COOKIE)
    if token:
        await deps_of(request).auth.logout(f"Bearer {token}")
    response = RedirectResponse(to, status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def safe_next(path: str | None, default: str) -> str:
    """Where to go after signing in: a path on this site, never another site."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return default
