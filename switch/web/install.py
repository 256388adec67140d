"""The pages on the admin API's app: their routes, their static files (htmx, the
style sheet and Swagger UI for ``/v1/docs``, served from the package, never from a
CDN), their security headers, and errors as pages rather than JSON."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import Response

from switch.admin.errors import ApiError
from switch.web import (
    agent,
    agents,
    audit,
    billers,
    bills,
    complaints,
    consumer,
    imports,
    mis,
    office,
    payers,
    paylinks,
    recon,
    settlement,
    staff,
)
from switch.web.consumer_session import CONSUMER_PORTAL
from switch.web.session import SignInNeeded
from switch.web.templating import render

PAGE_PREFIXES = ("/office", "/agent", "/l/", "/me/")
# No inline script or style anywhere: a script injected into a page cannot run.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class HtmlErrors:
    """What the API's error handlers call for a page's path: the error as a page."""

    def serves(self, path: str) -> bool:
        return path.startswith(PAGE_PREFIXES)

    def __call__(self, request: Request, exc: ApiError) -> Response:
        path = request.url.path
        portal = (
            agent.PORTAL
            if path.startswith("/agent")
            else CONSUMER_PORTAL
            if path.startswith(("/l/", "/me/"))
            else staff.PORTAL
        )
        page = render(
            "error.html",
            status=exc.status,
            code=exc.code,
            message=exc.message,
            portal=portal,
            who=None,
            path=request.url.path,
        )
        return HTMLResponse(page, status_code=exc.status)


class SecurityHeaders:
    """ASGI middleware: the pages' and static files' headers."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith((*PAGE_PREFIXES, "/static/")):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                ]
                if not path.startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(packages=[("switch.web", "static")]), name="static")
    for module in (
        office,
        agents,
        complaints,
        billers,
        mis,
        settlement,
        recon,
        audit,
        agent,
        paylinks,
        consumer,
        imports,
        bills,
        payers,
    ):
        app.include_router(module.router)
    app.state.html_error = HtmlErrors()
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(SignInNeeded)
    async def sign_in(request: Request, exc: SignInNeeded) -> Response:
        return RedirectResponse(exc.login_path, status_code=303)

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse("/office/", status_code=303)

    @app.get("/v1/docs", include_in_schema=False)
    async def api_docs() -> Response:
        """Swagger UI on the spec, from the package's own copy: it works offline."""
        return HTMLResponse(render("api_docs.html", title=app.title, spec_url=app.openapi_url))
