"""Wallets (top-up, statement, limits, freeze: applied to terminals' pays), complaints
(states, turnaround escalation, refund through the ledger), search and the audit log."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
import trio

from simulators.epos.connection import connect
from switch.admin.complaints import Escalator
from switch.provisioning.credentials import Credentials
from tests.admin.conftest import Admin, active_agent, agent_login, service_complaint


async def funded_terminal(
    admin: Admin, n: int = 1, paise: int = 5_000_00
) -> tuple[str, Credentials]:
    agent = await active_agent(admin, n)
    r = await admin.call(
        "finance",
        "POST",
        f"/v1/agents/{agent}/wallet/topups",
        json={"amount_paise": paise, "bank_ref": f"UTR-{agent}"},
    )
    assert r.status_code == 201, r.text
    r = await admin.call("operations", "POST", f"/v1/agents/{agent}/terminals")
    return agent, Credentials.from_dict(r.json()["credentials"])


async def pay(
    creds: Credentials, ref: str, amount: int, account: str = "1234567890"
) -> dict[str, Any]:
    async with connect(creds) as conn:
        return await conn.request(
            "pay", ref=ref, biller="UPPCL", account=account, amount_paise=amount
        )


async def test_top_up_is_idempotent_on_the_bank_reference(admin: Admin) -> None:
    agent = await active_agent(admin, 1)
    body = {"amount_paise": 1000_00, "bank_ref": "UTR-777"}
    first = await admin.call("finance", "POST", f"/v1/agents/{agent}/wallet/topups", json=body)
    again = await admin.call("finance", "POST", f"/v1/agents/{agent}/wallet/topups", json=body)
    assert first.json()["replayed"] is False and again.json()["replayed"] is True
    assert again.json()["balance_paise"] == 1000_00
    other = await admin.call(
        "finance",
        "POST",
        f"/v1/agents/{agent}/wallet/topups",
        json={"amount_paise": 5, "bank_ref": "UTR-777"},
    )
    assert other.status_code == 409 and other.json()["error"]["fields"] == {
        "bank_ref": "already used"
    }
    lines = (await admin.call("finance", "GET", f"/v1/agents/{agent}/wallet/statement")).json()
    assert [(x["amount_paise"], x["reference"]) for x in lines["items"]] == [
        (1000_00, "topup:UTR-777")
    ]
    audits = await admin.sw.db.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'wallet.topup' AND object_id = $1", agent
    )
    assert audits == 1


async def test_limits_and_freeze_apply_to_terminals(admin: Admin) -> None:
    agent, creds = await funded_terminal(admin)
    r = await admin.call(
        "finance",
        "PUT",
        f"/v1/agents/{agent}/wallet/limits",
        json={"max_balance_paise": 10_000_00, "per_txn_paise": 1_000_00, "per_day_paise": 1_500_00},
    )
    assert r.status_code == 200 and r.json()["own_limits"]
    assert (await pay(creds, "L1", 1_000_01))["code"] == "limit_exceeded"  # per transaction
    assert (await pay(creds, "L2", 1_000_00))["status"] == "success"
    assert (await pay(creds, "L3", 600_00))["code"] == "limit_exceeded"  # per day
    assert (await pay(creds, "L3", 600_00))["code"] == "limit_exceeded"  # the same answer again
    assert (
        await admin.call("finance", "POST", f"/v1/agents/{agent}/wallet/freeze")
    ).status_code == 200
    assert (await pay(creds, "F1", 100_00))["code"] == "wallet_frozen"
    await admin.call("finance", "POST", f"/v1/agents/{agent}/wallet/unfreeze")
    assert (await pay(creds, "F2", 100_00))["status"] == "success"
    over = await admin.call(
        "finance",
        "POST",
        f"/v1/agents/{agent}/wallet/topups",
        json={"amount_paise": 9_000_00, "bank_ref": "UTR-BIG"},
    )
    assert over.status_code == 409 and over.json()["error"]["code"] == "limit_exceeded"
    wallet = (await admin.call("finance", "GET", f"/v1/agents/{agent}/wallet")).json()
    assert wallet["balance_paise"] == 5_000_00 - 1_100_00
    bad = await admin.call(
        "finance",
        "PUT",
        f"/v1/agents/{agent}/wallet/limits",
        json={"max_balance_paise": 10, "per_txn_paise": 100, "per_day_paise": 50},
    )
    assert bad.status_code == 422 and "per_txn_paise" in bad.json()["error"]["fields"]


async def set_ceiling(admin: Admin, agent: str, paise: int) -> None:
    limits = {"max_balance_paise": paise, "per_txn_paise": 10_000_00, "per_day_paise": 50_000_00}
    r = await admin.call("finance", "PUT", f"/v1/agents/{agent}/wallet/limits", json=limits)
    assert r.status_code == 200, r.text


async def test_a_retried_top_up_near_the_ceiling_is_its_first_answer(admin: Admin) -> None:
    agent = await active_agent(admin, 1)
    await set_ceiling(admin, agent, 1_000_00)
    url = f"/v1/agents/{agent}/wallet/topups"
    body = {"amount_paise": 800_00, "bank_ref": "UTR-NEAR"}
    first = await admin.call("finance", "POST", url, json=body)
    again = await admin.call("finance", "POST", url, json=body)  # the answer was lost
    assert first.status_code == 201 and first.json()["replayed"] is False
    assert again.status_code == 201 and again.json()["replayed"] is True
    assert again.json()["transfer_id"] == first.json()["transfer_id"]
    over = await admin.call("finance", "POST", url, json={**body, "bank_ref": "UTR-MORE"})
    assert over.status_code == 409 and over.json()["error"]["fields"]["amount_paise"] == (
        "at most 20000 now"
    )


async def test_concurrent_top_ups_never_pass_the_ceiling(admin: Admin) -> None:
    """Ten top-ups of ₹300 at once into a wallet that may hold ₹1,000: three land,
    each with its audit entry; none lands without one."""
    agent = await active_agent(admin, 1)
    await set_ceiling(admin, agent, 1_000_00)
    url = f"/v1/agents/{agent}/wallet/topups"
    codes: list[int] = []

    async def top_up(n: int) -> None:
        body = {"amount_paise": 300_00, "bank_ref": f"UTR-C{n}"}
        codes.append((await admin.call("finance", "POST", url, json=body)).status_code)

    async with trio.open_nursery() as nursery:
        for n in range(10):
            nursery.start_soon(top_up, n)
    assert sorted(codes) == [201] * 3 + [409] * 7
    wallet = (await admin.call("finance", "GET", f"/v1/agents/{agent}/wallet")).json()
    assert wallet["balance_paise"] == 900_00
    audited = await admin.sw.db.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'wallet.topup' AND object_id = $1", agent
    )
    assert audited == 3


async def test_a_complaint_from_logged_to_closed_with_a_refund(admin: Admin) -> None:
    agent, creds = await funded_terminal(admin)
    result = await pay(creds, "C1", 300_00)
    me = await agent_login(admin, agent)
    r = await admin.call(
        me,
        "POST",
        "/v1/complaints",
        json={
            "kind": "transaction",
            "category": "not_credited",
            "pay_id": result["txn"],
            "description": "consumer says the bill still shows due",
        },
    )
    assert r.status_code == 201 and r.json()["agent_id"] == agent
    complaint = r.json()["id"]
    assert (
        await admin.call(
            "support", "POST", f"/v1/complaints/{complaint}/assign", json={"to": "support"}
        )
    ).json()["state"] == "assigned"
    with_refund = {"resolution": "credited by goodwill", "refund_paise": 300_00, "write_off": True}
    r = await admin.call("support", "POST", f"/v1/complaints/{complaint}/resolve", json=with_refund)
    assert r.status_code == 403  # support resolves, but only finance refunds
    too_much = {"resolution": "x", "refund_paise": 300_01, "write_off": True}
    r = await admin.call("finance", "POST", f"/v1/complaints/{complaint}/resolve", json=too_much)
    assert r.status_code == 422 and "refund_paise" in r.json()["error"]["fields"]
    before = (await admin.call("finance", "GET", f"/v1/agents/{agent}/wallet")).json()[
        "balance_paise"
    ]
    r = await admin.call("finance", "POST", f"/v1/complaints/{complaint}/resolve", json=with_refund)
    assert r.status_code == 200 and r.json()["refund_paise"] == 300_00
    after = (await admin.call("finance", "GET", f"/v1/agents/{agent}/wallet")).json()[
        "balance_paise"
    ]
    assert after == before + 300_00
    again = await admin.call(
        "finance", "POST", f"/v1/complaints/{complaint}/resolve", json=with_refund
    )
    assert again.status_code == 409  # resolved once, refunded once
    assert (
        await admin.call(me, "POST", f"/v1/complaints/{complaint}/close", json={"note": "thanks"})
    ).json()["state"] == "closed"
    history = (await admin.call("auditor", "GET", f"/v1/complaints/{complaint}")).json()["history"]
    assert [h["action"] for h in history] == ["log", "assign", "resolve", "close"]
    with pytest.raises(asyncpg.IntegrityConstraintViolationError):
        await admin.sw.db.execute("DELETE FROM complaint_events")
    assert await admin.sw.ledger.check_invariants() == []


async def complain(admin: Admin, who: str, pay_id: int) -> dict[str, Any]:
    body = {
        "kind": "transaction",
        "category": "not_credited",
        "pay_id": pay_id,
        "description": "the bill still shows due",
    }
    r = await admin.call(who, "POST", "/v1/complaints", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_one_pay_is_never_refunded_beyond_its_amount(admin: Admin) -> None:
    """Five complaints about one posted ₹1,000 pay, each resolved with a full refund:
    the first is refunded, the others are refused (the bound is in the database);
    each later complaint points at the first; a refund is a declared write-off."""
    agent, creds = await funded_terminal(admin, paise=5_000_00)
    paid = await pay(creds, "R1", 1_000_00)
    me = await agent_login(admin, agent)
    complaints = [await complain(admin, me, paid["txn"]) for _ in range(5)]
    first = complaints[0]["id"]
    assert complaints[0]["linked_to"] is None
    assert {c["linked_to"] for c in complaints[1:]} == {first}
    full = {"resolution": "refund", "refund_paise": 1_000_00}
    url = f"/v1/complaints/{first}/resolve"
    undeclared = await admin.call("finance", "POST", url, json=full)
    assert undeclared.status_code == 422 and "write_off" in undeclared.json()["error"]["fields"]
    answers = [
        await admin.call(
            "finance", "POST", f"/v1/complaints/{c['id']}/resolve", json=full | {"write_off": True}
        )
        for c in complaints
    ]
    assert [a.status_code for a in answers] == [200, 422, 422, 422, 422]
    assert "0 left" in answers[1].json()["error"]["fields"]["refund_paise"]
    wallet = (await admin.call("finance", "GET", f"/v1/agents/{agent}/wallet")).json()
    assert wallet["balance_paise"] == 5_000_00  # paid 1,000, refunded 1,000 once
    with pytest.raises(asyncpg.CheckViolationError):  # the database keeps the bound too
        await admin.sw.db.execute(
            "UPDATE pay_refunds SET refunded_paise = refunded_paise + 1 WHERE pay_id = $1",
            paid["txn"],
        )


async def test_a_voided_pay_is_not_refunded(admin: Admin) -> None:
    agent, creds = await funded_terminal(admin, paise=5_000_00)
    refused = await pay(creds, "R1", 1_000_00, account="1234567899")  # the biller refuses
    assert refused["status"] == "failed"
    complaint = await complain(admin, await agent_login(admin, agent), refused["txn"])
    r = await admin.call(
        "finance",
        "POST",
        f"/v1/complaints/{complaint['id']}/resolve",
        json={"resolution": "refund", "refund_paise": 1_000_00, "write_off": True},
    )
    assert r.status_code == 409 and "voided" in r.json()["error"]["message"]
    wallet = (await admin.call("finance", "GET", f"/v1/agents/{agent}/wallet")).json()
    assert wallet["balance_paise"] == 5_000_00


async def test_complaints_past_their_turnaround_are_escalated(admin: Admin) -> None:
    agent = await active_agent(admin, 1)
    complaint = await service_complaint(admin, agent, "terminal_fault", "no paper")
    escalator = Escalator(admin.sw.db, admin.cfg.admin)
    assert await escalator.escalate_due() == 0
    await admin.sw.db.execute("UPDATE complaints SET due_at = now() - interval '1 minute'")
    assert await escalator.escalate_due() == 1
    c = (await admin.call("support", "GET", f"/v1/complaints/{complaint}")).json()
    assert (c["state"], c["escalations"]) == ("escalated", 1)
    assert c["history"][-1]["actor"] == "system" and c["due_at"] > c["created_at"]
    assert await escalator.escalate_due() == 0  # a new deadline


async def test_search_transactions(admin: Admin) -> None:
    agent, creds = await funded_terminal(admin, 1)
    _, other_creds = await funded_terminal(admin, 2)
    ids = [(await pay(creds, f"S{n}", 100_00 + n))["txn"] for n in range(5)]
    await pay(other_creds, "S0", 100_00)

    async def find(**params: Any) -> list[int]:
        r = await admin.call("support", "GET", "/v1/transactions", params=params)
        assert r.status_code == 200, r.text
        return [t["txn_id"] for t in r.json()["items"]]

    assert await find(agent_id=agent) == ids[::-1]
    assert await find(txn_id=ids[2]) == [ids[2]]
    biller_txn = (await admin.call("support", "GET", f"/v1/transactions/{ids[3]}")).json()[
        "biller_txn_id"
    ]
    assert await find(biller_txn_id=biller_txn) == [ids[3]]
    assert len(await find(terminal_ref="S0")) == 2
    assert len(await find(terminal_id=creds.terminal_id, terminal_ref="S0")) == 1
    assert len(await find(account="1234567890", state="posted")) == 6
    assert await find(agent_id=agent, state="voided") == []
    page1 = (
        await admin.call(
            "support", "GET", "/v1/transactions", params={"agent_id": agent, "limit": 2}
        )
    ).json()
    page2 = (
        await admin.call(
            "support",
            "GET",
            "/v1/transactions",
            params={"agent_id": agent, "limit": 2, "before": page1["next"]},
        )
    ).json()
    assert [t["txn_id"] for t in page1["items"] + page2["items"]] == ids[::-1][:4]
    backwards = await admin.call(
        "support", "GET", "/v1/transactions", params={"from": "2026-12-02", "to": "2026-12-01"}
    )
    assert backwards.status_code == 422


async def test_sensitive_actions_are_audited_and_the_log_cannot_change(admin: Admin) -> None:
    agent, _ = await funded_terminal(admin)
    await admin.call("finance", "POST", f"/v1/agents/{agent}/wallet/freeze")
    r = await admin.call("auditor", "GET", "/v1/audit", params={"object_id": agent})
    actions = [e["action"] for e in r.json()["items"]]
    assert actions == [
        "agent.apply",
        "agent.approve",
        "agent.activate",
        "wallet.topup",
        "wallet.freeze",
    ]
    entry = r.json()["items"][1]
    assert entry["actor"] == "onboarding2" and entry["before"]["state"] == "pending_kyc"
    assert entry["after"]["state"] == "approved"  # objects, not JSON text inside JSON
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        r = await admin.call("admin", method, "/v1/audit")
        assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    for sql in ("UPDATE audit_log SET actor = 'someone'", "DELETE FROM audit_log"):
        with pytest.raises(asyncpg.IntegrityConstraintViolationError):
            await admin.sw.db.execute(sql)
