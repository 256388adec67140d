"""The pages' tests: a browser-like client (cookies, forms with their CSRF field) on
the switch's admin port, and the staff and agents of tests/admin."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from switch.provisioning.credentials import Credentials
from tests.admin.conftest import PASSWORD, Admin, active_agent, admin, last_sms  # noqa: F401
from tests.admin.test_wallets_complaints import funded_terminal

__all__ = ["admin"]
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Browser:
    """Cookies kept, redirects not followed (the tests look at them)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def sign_in(self, portal: str, username: str, password: str) -> httpx.Response:
        form = await self.http.get(f"{portal}/login")
        return await self.http.post(
            f"{portal}/login",
            data={"csrf": csrf_of(form.text), "username": username, "password": password},
        )

    async def post_form(self, page: str, path: str, data: dict[str, str]) -> httpx.Response:
        """Submit a form from ``page`` with the CSRF field that page carries."""
        shown = await self.http.get(page)
        return await self.http.post(path, data={"csrf": csrf_of(shown.text), **data})


def csrf_of(html: str) -> str:
    m = CSRF.search(html)
    assert m is not None, "no CSRF field in the form"
    return m.group(1)


@pytest.fixture
async def browser(admin: Admin) -> AsyncIterator[Browser]:
    assert admin.sw.admin_port is not None
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{admin.sw.admin_port}", timeout=30
    ) as http:
        yield Browser(http)


async def agent_password(a: Admin, agent_id: str) -> str:
    body = await last_sms(a, f"%Portal login: {agent_id.lower()} %")
    assert body is not None, "no activation SMS"
    m = re.search(r"password: (\S+)", body)
    assert m is not None
    return m.group(1)


async def agent_with_a_payment(a: Admin, n: int = 1) -> tuple[str, Credentials, int]:
    """An active, funded agent whose terminal made one ₹1,234.50 pay; its txn id."""
    from tests.admin.test_wallets_complaints import pay

    agent, creds = await funded_terminal(a, n)
    done = await pay(creds, f"W{n}", 1234_50)
    assert done["status"] == "success", done
    return agent, creds, int(done["txn"])
