"""Least privilege: every endpoint, every role, allowed or refused (and 401 without a
token); an agent's login sees only its own agent."""

from __future__ import annotations

import itertools
import re
from typing import Any

from switch.admin.roles import PAYER_ROLES, PERMISSIONS, ROLES
from tests.admin.conftest import (
    PASSWORD,
    Admin,
    active_agent,
    agent_login,
    application,
    service_complaint,
)
from tests.helpers import png_bytes

PNG = png_bytes()
_n = itertools.count(100)


def endpoints(
    a: str, b: str, pending: str, terminal: str, complaint: int, payer: str
) -> list[tuple[str, str, Any, str]]:
    """(method, path, body maker, permission) for every endpoint that needs one."""

    def unique_user() -> dict[str, Any]:
        return {
            "username": f"u{next(_n)}",
            "role": "support",
            "mobile": "9876500001",
            "password": "long-enough-1",
        }

    return [
        ("POST", "/v1/users", unique_user, "users.manage"),
        ("GET", "/v1/users", None, "users.read"),
        ("PATCH", "/v1/users/support", lambda: {"disabled": False}, "users.manage"),
        ("POST", "/v1/agents", lambda: application(next(_n)), "agents.create"),
        ("GET", "/v1/agents", None, "agents.read"),
        ("GET", f"/v1/agents/{a}", None, "agents.read"),
        ("POST", f"/v1/agents/{a}/documents", "upload", "agents.documents"),
        ("GET", f"/v1/agents/{a}/documents", None, "agents.read"),
        ("POST", f"/v1/agents/{pending}/approve", None, "agents.approve"),
        ("POST", f"/v1/agents/{pending}/activate", None, "agents.activate"),
        ("POST", f"/v1/agents/{b}/block", None, "agents.block"),
        ("POST", f"/v1/agents/{b}/unblock", None, "agents.block"),
        ("GET", f"/v1/agents/{a}/wallet", None, "wallets.read"),
        (
            "POST",
            f"/v1/agents/{a}/wallet/topups",
            lambda: {"amount_paise": 100, "bank_ref": f"UTR{next(_n)}"},
            "wallets.topup",
        ),
        ("GET", f"/v1/agents/{a}/wallet/statement", None, "wallets.read"),
        (
            "PUT",
            f"/v1/agents/{a}/wallet/limits",
            lambda: {"max_balance_paise": 10**8, "per_txn_paise": 10**6, "per_day_paise": 10**7},
            "wallets.limits",
        ),
        ("POST", f"/v1/agents/{a}/wallet/freeze", None, "wallets.limits"),
        ("POST", f"/v1/agents/{a}/wallet/unfreeze", None, "wallets.limits"),
        ("POST", f"/v1/agents/{a}/terminals", None, "terminals.manage"),
        ("GET", "/v1/terminals", None, "terminals.read"),
        ("GET", "/v1/billers", None, "billers.read"),
        ("POST", f"/v1/terminals/{terminal}/block", None, "terminals.manage"),
        ("POST", f"/v1/terminals/{terminal}/unblock", None, "terminals.manage"),
        ("POST", f"/v1/terminals/{terminal}/rotate-key", None, "terminals.manage"),
        (
            "POST",
            f"/v1/terminals/{terminal}/language",
            lambda: {"language": "hi"},
            "terminals.manage",
        ),
        ("GET", "/v1/links", None, "links.read"),
        ("POST", "/v1/imports/agents", "upload", "imports.agents"),
        ("POST", "/v1/imports/balances", "upload", "imports.money"),
        ("POST", "/v1/imports/history", "upload", "imports.history"),
        ("GET", "/v1/imports", None, "imports.read"),
        ("GET", "/v1/imports/1", None, "imports.read"),
        ("GET", "/v1/legacy-payments?account=2001000001", None, "legacy.read"),
        ("GET", "/v1/links/1", None, "links.read"),
        (
            "POST",
            "/v1/billers/UPPCL/demands",
            lambda: {"consumers": [{"account": "2001000001"}]},
            "links.send",
        ),
        (
            "POST",
            "/v1/complaints",
            lambda: {
                "kind": "service",
                "category": "terminal_fault",
                "description": "printer jams",
                "agent_id": a,
            },
            "complaints.create",
        ),
        ("GET", "/v1/complaints", None, "complaints.read"),
        ("GET", f"/v1/complaints/{complaint}", None, "complaints.read"),
        (
            "POST",
            f"/v1/complaints/{complaint}/assign",
            lambda: {"to": "support"},
            "complaints.handle",
        ),
        (
            "POST",
            f"/v1/complaints/{complaint}/escalate",
            lambda: {"note": "slow"},
            "complaints.handle",
        ),
        (
            "POST",
            f"/v1/complaints/{complaint}/resolve",
            lambda: {"resolution": "fixed"},
            "complaints.handle",
        ),
        (
            "POST",
            f"/v1/complaints/{complaint}/close",
            lambda: {"note": "done"},
            "complaints.create",
        ),
        ("GET", "/v1/transactions", None, "transactions.read"),
        ("GET", "/v1/partners", None, "partners.read"),
        ("POST", "/v1/partners/PA999999/keys", None, "partners.manage"),
        ("GET", "/v1/audit", None, "audit.read"),
        ("GET", f"/v1/reports/statement?agent_id={a}", None, "reports.statement"),
        ("GET", "/v1/reports/totals?by=region", None, "reports.totals"),
        ("GET", "/v1/reports/chart.png", None, "reports.totals"),
        ("GET", "/v1/settlement/open", None, "settlement.read"),
        ("GET", "/v1/settlement/windows", None, "settlement.read"),
        ("GET", "/v1/settlement/windows/1/file", None, "settlement.read"),
        ("POST", "/v1/settlement/close", lambda: {"biller_id": "NOPE"}, "settlement.run"),
        ("POST", "/v1/recon/run", lambda: {"biller_id": "NOPE"}, "settlement.run"),
        ("GET", "/v1/recon/cases", None, "recon.read"),
        ("GET", "/v1/recon/cases/1", None, "recon.read"),
        ("POST", "/v1/payers", lambda: {"name": "Org", "mobile": "9876500012"}, "payers.manage"),
        ("GET", "/v1/payers", None, "bulk.read"),
        (
            "POST",
            f"/v1/payers/{payer}/circles",
            lambda: {"id": f"C{next(_n)}", "name": "A circle"},
            "payers.manage",
        ),
        ("POST", f"/v1/payers/{payer}/bills", "upload", "bulk.intake"),
        ("GET", f"/v1/payers/{payer}/bills", None, "bulk.read"),
        (
            "POST",
            f"/v1/payers/{payer}/bills/decisions",
            lambda: {"action": "approve", "bill_ids": [1], "reason": "ok"},
            "bulk.decide",
        ),
        ("POST", f"/v1/payers/{payer}/erp", None, "bulk.erp"),
        ("POST", f"/v1/payers/{payer}/fetches", None, "bulk.intake"),
        ("GET", f"/v1/payers/{payer}/mis?by=month", None, "bulk.read"),
        ("POST", f"/v1/payers/{payer}/runs", lambda: {"funds_paise": 0}, "bulk.pay"),
        (
            "POST",
            "/v1/recon/cases/1/resolve",
            lambda: {"resolution": "no_money", "note": "settled by cheque"},
            "recon.resolve",
        ),
    ]


async def request(admin: Admin, who: str | None, method: str, path: str, body: Any) -> int:
    if body == "upload":
        r = await admin.call(
            who, method, path, data={"kind": "photo"}, files={"file": ("p.png", PNG, "image/png")}
        )
    else:
        r = await admin.call(who, method, path, json=body() if body else None)
    assert r.status_code < 500, (who, method, path, r.text)
    if r.status_code >= 400:
        error = r.json()["error"]
        assert re.fullmatch(r"[a-z_]+", error["code"]) and error["message"], r.text
    return r.status_code


async def test_every_role_on_every_endpoint(admin: Admin) -> None:
    a, b = await active_agent(admin, 1), await active_agent(admin, 2)
    await agent_login(admin, a)
    r = await admin.call("onboarding", "POST", "/v1/agents", json=application(3))
    pending = r.json()["id"]
    r = await admin.call("operations", "POST", f"/v1/agents/{a}/terminals")
    terminal = r.json()["id"]
    complaint = await service_complaint(admin, a, "wallet", "balance looks wrong")
    payer = await payer_with_staff(admin)
    table = endpoints(a, b, pending, terminal, complaint, payer)
    wrong = []
    for method, path, body, permission in table:
        assert await request(admin, None, method, path, body) == 401, path
        for role in ROLES:
            who = a.lower() if role == "agent" else role
            status = await request(admin, who, method, path, body)
            allowed = role in PERMISSIONS[permission]
            if allowed == (status == 403) or status == 401:
                wrong.append(f"{role:10} {method} {path} -> {status} ({permission})")
    assert wrong == [], "\n".join(wrong)
    # Every permission is exercised by the table.
    assert {p for *_, p in table} == set(PERMISSIONS) - {"complaints.refund"}


async def payer_with_staff(admin: Admin) -> str:
    """A payer organisation with a login of each of its staff roles, named by role."""
    body = {"name": "Bharat Telecom", "mobile": "9876500013"}
    payer = (await admin.call("onboarding", "POST", "/v1/payers", json=body)).json()["id"]
    for role in PAYER_ROLES:
        user = {"username": role.replace("_", "-"), "role": role, "mobile": "9876500014",
                "password": PASSWORD}  # fmt: skip
        r = await admin.call("onboarding", "POST", f"/v1/payers/{payer}/users", json=user)
        assert r.status_code == 201, r.text
        admin.tokens[role] = admin.tokens[user["username"]] = await admin.login(user["username"])
    return str(payer)


async def test_a_payers_staff_see_only_their_own_payer(admin: Admin) -> None:
    mine = await payer_with_staff(admin)
    body = {"name": "Another Org", "mobile": "9876500015"}
    other = (await admin.call("onboarding", "POST", "/v1/payers", json=body)).json()["id"]
    for role in PAYER_ROLES:
        assert (await admin.call(role, "GET", f"/v1/payers/{mine}/bills")).status_code == 200
        r = await admin.call(role, "GET", f"/v1/payers/{other}/bills")
        assert r.status_code == 404, r.text  # another payer does not exist for them
        listed = (await admin.call(role, "GET", "/v1/payers")).json()["payers"]
        assert [p["id"] for p in listed] == [mine]
        assert (await admin.call(role, "GET", "/v1/agents")).status_code == 403


async def test_an_agent_sees_only_its_own(admin: Admin) -> None:
    a, b = await active_agent(admin, 1), await active_agent(admin, 2)
    me = await agent_login(admin, a)
    for path in (
        f"/v1/agents/{b}",
        f"/v1/agents/{b}/wallet",
        f"/v1/agents/{b}/documents",
        f"/v1/agents/{b}/wallet/statement",
    ):
        r = await admin.call(me, "GET", path)
        assert r.status_code == 404, path  # not even "forbidden": others do not exist
    r = await admin.call(me, "GET", "/v1/agents")
    assert [x["id"] for x in r.json()["items"]] == [a]
    r = await admin.call(me, "GET", "/v1/transactions", params={"agent_id": b})
    assert r.status_code == 404
    r = await admin.call(me, "GET", f"/v1/agents/{a}")
    assert r.status_code == 200 and r.json()["pan"].startswith("******")
