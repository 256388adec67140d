"""Every success the admin API answers is the body its OpenAPI spec documents
(switch/admin/answers.py): a day of staff work through the API, each answer checked
against its operation's schema, no field undocumented. The fuzz test checks what it
generates; this one makes sure each operation is reached with a request that works."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema

from switch.admin.answers import ANSWERS, BULK_ROUTES, LINK_ROUTES
from tests.admin.conftest import Admin, application
from tests.admin.test_wallets_complaints import funded_terminal, pay

PASSWORD = "a-long-password-1"


async def test_each_answer_is_what_the_spec_documents(admin: Admin) -> None:
    spec = (await admin.http.get("/v1/openapi.json")).json()
    checked: set[tuple[str, str]] = set()

    async def call(who: str | None, method: str, path: str, template: str, **kw: Any) -> Any:
        r = await admin.call(who, method, path, **kw)
        status, _ = ANSWERS[(method, template)]
        assert r.status_code == status, (method, path, r.text)
        check(spec, method, template, status, r)
        checked.add((method, template))
        return r.json()

    agent, creds = await funded_terminal(admin, 1)
    txn = (await pay(creds, "S1", 100_00))["txn"]
    await call("admin", "GET", "/v1/me", "/v1/me")
    await call("admin", "GET", "/v1/users", "/v1/users")
    user = {"username": "newbie", "role": "support", "mobile": "9876543210", "password": PASSWORD}
    await call("admin", "POST", "/v1/users", "/v1/users", json=user)
    await call(
        "admin", "PATCH", "/v1/users/newbie", "/v1/users/{username}", json={"role": "finance"}
    )
    await call("operations", "GET", "/v1/agents", "/v1/agents")
    a = "/v1/agents/{agent_id}"
    await call("operations", "GET", f"/v1/agents/{agent}", a)
    pending = (await call("onboarding", "POST", "/v1/agents", "/v1/agents", json=application(5)))[
        "id"
    ]
    p = f"/v1/agents/{pending}"
    await call("onboarding2", "POST", f"{p}/send-back", f"{a}/send-back", json={"reason": "x"})
    await call("onboarding", "PUT", f"{p}/kyc", f"{a}/kyc", json=application(5))
    await call("onboarding2", "POST", f"{p}/approve", f"{a}/approve")
    await call("onboarding2", "POST", f"{p}/activate", f"{a}/activate")
    await call("operations", "POST", f"{p}/block", f"{a}/block")
    await call("operations", "POST", f"{p}/unblock", f"{a}/unblock")
    await call("operations", "POST", f"{p}/close", f"{a}/close")
    other = (await call("onboarding", "POST", "/v1/agents", "/v1/agents", json=application(6)))[
        "id"
    ]
    await call(
        "onboarding2", "POST", f"/v1/agents/{other}/reject", f"{a}/reject", json={"reason": "no"}
    )
    await call("operations", "GET", f"/v1/agents/{agent}/documents", f"{a}/documents")
    w = f"/v1/agents/{agent}/wallet"
    await call("finance", "GET", w, f"{a}/wallet")
    topup = {"amount_paise": 100, "bank_ref": "UTR-X1"}
    await call("finance", "POST", f"{w}/topups", f"{a}/wallet/topups", json=topup)
    await call("finance", "GET", f"{w}/statement", f"{a}/wallet/statement")
    limits = {"max_balance_paise": 10**8, "per_txn_paise": 10**6, "per_day_paise": 10**7}
    await call("finance", "PUT", f"{w}/limits", f"{a}/wallet/limits", json=limits)
    await call("finance", "POST", f"{w}/freeze", f"{a}/wallet/freeze")
    await call("finance", "POST", f"{w}/unfreeze", f"{a}/wallet/unfreeze")
    await call("operations", "GET", "/v1/terminals", "/v1/terminals")
    await call("operations", "POST", f"/v1/agents/{agent}/terminals", f"{a}/terminals")
    t, tid = "/v1/terminals/{terminal_id}", creds.terminal_id
    await call("operations", "POST", f"/v1/terminals/{tid}/block", f"{t}/block")
    await call("operations", "POST", f"/v1/terminals/{tid}/unblock", f"{t}/unblock")
    await call("operations", "POST", f"/v1/terminals/{tid}/rotate-key", f"{t}/rotate-key")
    await call(
        "operations",
        "POST",
        f"/v1/terminals/{tid}/language",
        f"{t}/language",
        json={"language": "hi"},
    )
    complaint = {
        "kind": "transaction",
        "category": "not_credited",
        "description": "d",
        "pay_id": txn,
    }
    cid = (await call("support", "POST", "/v1/complaints", "/v1/complaints", json=complaint))["id"]
    c, cp = "/v1/complaints/{complaint_id}", f"/v1/complaints/{cid}"
    await call("support", "GET", "/v1/complaints", "/v1/complaints")
    await call("support", "GET", cp, c)
    await call("support", "POST", f"{cp}/assign", f"{c}/assign", json={"to": "operations"})
    await call("support", "POST", f"{cp}/escalate", f"{c}/escalate", json={"note": "late"})
    await call("support", "POST", f"{cp}/resolve", f"{c}/resolve", json={"resolution": "done"})
    await call("support", "POST", f"{cp}/close", f"{c}/close", json={"note": "closed"})
    bank = {"name": "Gramin Bank", "mobile": "9876501234", "institution": "bank"}
    partner = (await call("onboarding", "POST", "/v1/partners", "/v1/partners", json=bank))["id"]
    p = "/v1/partners/{partner_id}"
    await call("onboarding", "POST", f"/v1/partners/{partner}/keys", f"{p}/keys")
    revoke = f"/v1/partners/{partner}/keys/{partner}-K1/revoke"
    await call("onboarding", "POST", revoke, f"{p}/keys/{{key_id}}/revoke")
    await call("auditor", "GET", "/v1/partners", "/v1/partners")
    await call("operations", "GET", "/v1/transactions", "/v1/transactions")
    await call("operations", "GET", f"/v1/transactions/{txn}", "/v1/transactions/{txn_id}")
    params = {"agent_id": agent}
    await call("finance", "GET", "/v1/reports/statement", "/v1/reports/statement", params=params)
    await call("finance", "GET", "/v1/reports/totals", "/v1/reports/totals")
    await call("finance", "GET", "/v1/settlement/open", "/v1/settlement/open")
    await call("finance", "POST", "/v1/settlement/close", "/v1/settlement/close", json={})
    await call("finance", "GET", "/v1/settlement/windows", "/v1/settlement/windows")
    case_id = await admin.sw.db.fetchval(
        """INSERT INTO recon_cases (kind, pay_id, biller_id, amount_paise, detail, suggested_action)
           VALUES ('amount_mismatch', $1, 'UPPCL', 100, 'test', 'look') RETURNING id""",
        txn,
    )
    r = "/v1/recon/cases/{case_id}"
    await call("finance", "GET", "/v1/recon/cases", "/v1/recon/cases")
    await call("finance", "GET", f"/v1/recon/cases/{case_id}", r)
    resolve = {"resolution": "no_money", "note": "agreed"}
    await call(
        "finance", "POST", f"/v1/recon/cases/{case_id}/resolve", f"{r}/resolve", json=resolve
    )
    await call("finance", "POST", "/v1/recon/run", "/v1/recon/run", json={})
    balances = f"agent,amount\n{agent},100.00\n".encode()
    started = await call(
        "finance",
        "POST",
        "/v1/imports/balances",
        "/v1/imports/{entity}",
        files={"file": ("opening.csv", balances, "text/csv")},
        data={"control_count": "1", "control_total_paise": "10000", "dry_run": "true"},
    )
    await call("auditor", "GET", "/v1/imports", "/v1/imports")
    await call("auditor", "GET", f"/v1/imports/{started['run']}", "/v1/imports/{run_id}")
    await admin.sw.db.execute(
        """INSERT INTO legacy_pays (legacy_ref, biller_id, consumer_account, amount_paise,
               paid_at, status, run_id) VALUES ('OLD-1', 'UPPCL', '2001000001', 100, now(),
               'posted', $1)""",
        started["run"],
    )
    found = await call(
        "support",
        "GET",
        "/v1/legacy-payments",
        "/v1/legacy-payments",
        params={"account": "2001000001"},
    )
    assert [x["legacy_ref"] for x in found["items"]] == ["OLD-1"]
    await call("auditor", "GET", "/v1/audit", "/v1/audit")
    await call("operations", "GET", "/v1/billers", "/v1/billers")
    catalogue = await call("operations", "GET", "/v1/catalogue", "/v1/catalogue")
    assert catalogue["version"] and catalogue["billers"]
    await call(
        None,
        "POST",
        "/v1/auth/password-reset/request",
        "/v1/auth/password-reset/request",
        json={"username": "nobody"},
    )
    # The rest of the auth group: a login of its own, its password changed, then out.
    login = await admin.http.post(
        "/v1/auth/login", json={"username": "newbie", "password": PASSWORD}
    )
    check(spec, "POST", "/v1/auth/login", 200, login)
    admin.tokens["newbie"] = login.json()["token"]
    body = {"old_password": PASSWORD, "new_password": "another-long-one-2"}
    await call("newbie", "POST", "/v1/auth/password", "/v1/auth/password", json=body)
    await call("newbie", "POST", "/v1/auth/logout", "/v1/auth/logout")
    checked |= {("POST", "/v1/auth/login")}
    missing = (
        set(ANSWERS)
        - checked
        - LINK_ROUTES  # with the gateway on: tests/links/test_link_answers.py
        - BULK_ROUTES  # with the ERP: tests/bulk/test_bulk_flow.py
        - {
            (
                "POST",
                "/v1/agents/{agent_id}/documents",
            ),  # an upload: tests/admin/test_onboarding.py
            (
                "POST",
                "/v1/auth/password-reset/confirm",
            ),  # needs the SMS code: tests/admin/test_auth.py
        }
    )
    assert missing == set(), sorted(missing)


def check(spec: dict[str, Any], method: str, path: str, status: int, r: httpx.Response) -> None:
    """The answer's JSON against its operation's documented schema."""
    content = spec["paths"][path][method.lower()]["responses"][str(status)]["content"]
    schema = content["application/json"]["schema"] | {"components": spec["components"]}
    jsonschema.Draft202012Validator(schema).validate(r.json())
