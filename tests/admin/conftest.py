"""The admin API of a running switch, over real HTTP, with a staff user per role."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from switch.actors.notifier import with_secret
from switch.admin.auth import Auth
from switch.admin.roles import STAFF_ROLES
from switch.admin.users import create_user
from switch.config import Config
from switch.server import RunningSwitch

PASSWORD = "correct-horse-42"
MOBILE = "9876500000"


@dataclass
class Admin:
    sw: RunningSwitch
    cfg: Config
    http: httpx.AsyncClient
    tokens: dict[str, str] = field(default_factory=dict)  # username -> token

    async def user(self, username: str, role: str, password: str = PASSWORD) -> None:
        await create_user(
            self.sw.db, Auth(self.sw.db, self.cfg.admin), "test", username, role, MOBILE, password
        )

    async def login(self, username: str, password: str = PASSWORD) -> str:
        r = await self.http.post(
            "/v1/auth/login", json={"username": username, "password": password}
        )
        assert r.status_code == 200, r.text
        self.tokens[username] = r.json()["token"]
        return self.tokens[username]

    async def call(self, who: str | None, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return await self.http.request(method, path, headers=headers, **kw)


def application(n: int = 1, **changes: Any) -> dict[str, Any]:
    """A valid agent application; ``n`` makes PAN and FPS id unique."""
    body = {
        "name": f"Ram General Store {n}",
        "email": f"ram{n}@example.in",
        "mobile": "9876543210",
        "date_of_birth": (dt.date.today() - dt.timedelta(days=365 * 30)).isoformat(),
        "pan": f"ABCPE{n:04d}F",
        "fps_id": f"FPS-UP-{n}",
        "residential_address": "12 Station Road, Varanasi",
        "shop_address": "Shop 4, Chowk, Varanasi",
        "region": "Purvanchal",
        "district": "Varanasi",
        "bank_account": "123456789012",
        "ifsc": "SBIN0001234",
    }
    return body | changes


@asynccontextmanager
async def admin_of(switch: RunningSwitch, cfg: Config) -> AsyncIterator[Admin]:
    """An HTTP client of ``switch``'s admin API, with a staff user per role logged in."""
    assert switch.admin_port is not None
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{switch.admin_port}", timeout=30
    ) as http:
        a = Admin(switch, cfg, http)
        for role in STAFF_ROLES:
            await a.user(role, role)
            await a.login(role)
        await a.user("onboarding2", "onboarding")
        await a.login("onboarding2")
        yield a


@pytest.fixture
async def admin(switch: RunningSwitch, switch_config: Config) -> AsyncIterator[Admin]:
    async with admin_of(switch, switch_config) as a:
        yield a


async def active_agent(a: Admin, n: int = 1) -> str:
    """An agent through the whole of onboarding: applied, approved, activated."""
    r = await a.call("onboarding", "POST", "/v1/agents", json=application(n))
    assert r.status_code == 201, r.text
    agent_id = r.json()["id"]
    assert (
        await a.call("onboarding2", "POST", f"/v1/agents/{agent_id}/approve")
    ).status_code == 200
    r = await a.call("onboarding2", "POST", f"/v1/agents/{agent_id}/activate")
    assert r.status_code == 200, r.text
    return str(agent_id)


async def last_sms(a: Admin, like: str = "%", mobile: str = "%") -> str | None:
    """The newest SMS whose stored text is ``like``, as the gateway would get it (its
    secret put in: the stored text holds only a mark)."""
    row = await a.sw.db.fetchrow(
        """SELECT body, secret FROM sms_outbox WHERE body LIKE $1 AND mobile LIKE $2
            ORDER BY id DESC LIMIT 1""",
        like,
        mobile,
    )
    return None if row is None else with_secret(row["body"], row["secret"])


async def agent_login(a: Admin, agent_id: str) -> str:
    """Log in as the agent with the password its activation SMS carried; the token is
    kept under the agent's username (its id in lower case)."""
    username = agent_id.lower()
    body = await last_sms(a, f"%Portal login: {username} %")
    assert body is not None, "no activation SMS"
    password = re.search(r"password: (\S+)", body).group(1)  # type: ignore[union-attr]
    await a.login(username, password)
    return username


async def service_complaint(a: Admin, agent_id: str, category: str, description: str) -> int:
    """A service complaint about ``agent_id``, registered by support; its id."""
    r = await a.call(
        "support",
        "POST",
        "/v1/complaints",
        json={
            "kind": "service",
            "category": category,
            "description": description,
            "agent_id": agent_id,
        },
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])
