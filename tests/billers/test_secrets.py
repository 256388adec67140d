"""No secret outlives its use: after a day of staff work (logins, a wrong password, a
password reset by SMS, an agent onboarded and activated by SMS, a terminal provisioned,
pays), no password, token, reset code, password hash or terminal key is found in the
SMS outbox, the audit log, the metrics, or any error body the API answered."""

from __future__ import annotations

import re
from typing import Any

import httpx
import trio

from simulators.epos.connection import connect
from switch.provisioning.credentials import Credentials
from tests.admin.conftest import PASSWORD, Admin, active_agent, admin_of
from tests.billers.conftest import World


async def sms_to(world: World, mobile: str, like: str) -> str:
    with trio.fail_after(10):
        while True:
            found = [
                m["body"]
                for m in world.sms.messages.values()
                if m["to"] == mobile and like in m["body"]
            ]
            if found:
                return str(found[-1])
            await trio.sleep(0.05)


async def everything_stored(world: World) -> str:
    """The SMS outbox, the audit log and the metrics, as one text to search."""
    db = world.switch.db
    outbox = await db.fetch("SELECT * FROM sms_outbox")
    audit = await db.fetch("SELECT * FROM audit_log")
    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"http://127.0.0.1:{world.switch.ops_port}/metrics")).text
    return "\n".join([*(repr(dict(r)) for r in outbox), *(repr(dict(r)) for r in audit), metrics])


async def test_no_secret_is_kept_after_its_use(world: World) -> None:
    errors: list[str] = []
    async with admin_of(world.switch, world.cfg) as admin:
        secrets = await a_day_of_work(world, admin, errors)
        await wait_outbox_delivered(world)
        stored = await everything_stored(world)
    rows = await world.switch.db.fetch("SELECT body, secret, state FROM sms_outbox")
    assert rows and all(r["state"] == "sent" and r["secret"] is None for r in rows)
    hashes = await world.switch.db.fetch("SELECT password_hash FROM users")
    secrets += [h["password_hash"] for h in hashes] + ["$argon2"]
    found = {s for s in secrets if s in stored or any(s in e for e in errors)}
    assert not found, f"secrets kept: {sorted(found)}"


async def a_day_of_work(world: World, admin: Admin, errors: list[str]) -> list[str]:
    """Staff and agent work through the API; the secrets it handled, and each error
    body it got back (in ``errors``)."""

    async def post(who: str | None, path: str, **kw: Any) -> httpx.Response:
        r = await admin.call(who, "POST", path, **kw)
        if r.status_code >= 400:
            errors.append(r.text)
        return r

    wrong = "wrong-password-9"
    await post(None, "/v1/auth/login", json={"username": "finance", "password": wrong})
    await post(None, "/v1/auth/login", json={"username": "finance", "password": "short"})
    await post(None, "/v1/auth/password-reset/request", json={"username": "finance"})
    text = await sms_to(world, "9876500000", "reset code")
    code = re.search(r"code is ([0-9]{6})", text).group(1)  # type: ignore[union-attr]
    new = "after-the-reset-4"
    await post(
        None,
        "/v1/auth/password-reset/confirm",
        json={
            "username": "finance",
            "code": "000000" if code != "000000" else "111111",
            "new_password": new,
        },
    )
    r = await post(
        None,
        "/v1/auth/password-reset/confirm",
        json={"username": "finance", "code": code, "new_password": new},
    )
    assert r.status_code == 200, r.text
    finance_token = await admin.login("finance", new)
    agent = await active_agent(admin, 1)
    welcome = await sms_to(world, "9876543210", "Portal login")
    first = re.search(r"password: (\S+)", welcome).group(1)  # type: ignore[union-attr]
    agent_token = await admin.login(agent.lower(), first)
    r = await post("operations", f"/v1/agents/{agent}/terminals")
    creds = Credentials.from_dict(r.json()["credentials"])
    async with connect(creds) as conn:
        await conn.request("fetch_bill", biller="UPPCL", account="1234567890")
    await post("operations", "/v1/users", json={"username": "x", "password": "abc"})
    return [
        PASSWORD,
        wrong,
        code,
        new,
        first,
        finance_token,
        agent_token,
        admin.tokens["operations"],
        creds.private_key.hex(),
    ]


async def wait_outbox_delivered(world: World) -> None:
    with trio.fail_after(10):
        while await world.switch.db.fetchval(  # noqa: ASYNC110 (polls the database)
            "SELECT count(*) FROM sms_outbox WHERE state = 'pending'"
        ):
            await trio.sleep(0.05)
