"""Bulk imports on real PostgreSQL: each row checked as the switch checks it by hand,
every rejection with its line, column and reason; control totals; a file imported
once; opening balances only through the ledger; the ledger's invariants after each."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switch.db.database import Database
from switch.imports import engine, mapping
from switch.imports.entities import ENTITIES
from switch.imports.report import protocol, protocol_csv
from switch.ledger import Ledger
from switch.ledger.types import MIGRATION_CODE
from switch.protocols.terminal.crypto import public_bytes
from switch.provisioning.fleet import provision_fleet
from switch.settlement import reports

ADULT = (dt.date.today() - dt.timedelta(days=365 * 30)).strftime("%d-%m-%Y")


def agent_row(n: int, **changes: str) -> dict[str, str]:
    row = {
        "legacy_ref": f"OLD-{n}",
        "name": f"Shop {n}",
        "email": f"shop{n}@example.in",
        "mobile": "9876543210",
        "date_of_birth": ADULT,
        "pan": f"ABCPE{n:04d}F",
        "fps_id": f"FPS-OLD-{n}",
        "residential_address": "1 Main Road, Ballia",
        "shop_address": "2 Bazaar, Ballia",
        "bank_account": "123456789012",
        "ifsc": "SBIN0001234",
        "region": "Purvanchal",
    }
    return row | changes


def write_csv(
    path: Path,
    rows: list[dict[str, str]],
    columns: list[str] | None = None,
    encoding: str = "utf-8",
) -> Path:
    with path.open("w", newline="", encoding=encoding) as f:
        w = csv.DictWriter(f, fieldnames=columns or list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with Database.open(database_url, 4) as database:
        yield database


@pytest.fixture
async def ledger(db: Database) -> AsyncIterator[Ledger]:
    async with Ledger.open(db) as led:
        yield led
        assert await led.check_invariants() == []


async def run(db: Database, entity: str, path: Path, m: Any = None, **opts: Any) -> dict:
    options = engine.Options("tester", **opts)
    run_id, before = await engine.run_import(
        db, entity, path, m or mapping.default(entity), options
    )
    found = await protocol(db, run_id)
    assert found is not None
    return found | {"before": before}


def reasons(p: dict) -> dict[int, tuple[str, str]]:
    return {r["line"]: (r["column"], r["reason"]) for r in p["rejections"]}


async def test_agents_are_checked_as_onboarding_checks_them(
    db: Database, ledger: Ledger, tmp_path: Path
) -> None:
    rows = [
        agent_row(1),
        agent_row(2, pan="ABC123"),  # line 3
        agent_row(3, date_of_birth=dt.date.today().strftime("%d-%m-%Y")),  # a child
        agent_row(4, ifsc="SBIN1234567"),
        agent_row(5, name=""),
        agent_row(6, pan="ABCPE0001F", fps_id="FPS-OLD-6", legacy_ref="OLD-6"),  # 1's PAN
        agent_row(7, date_of_birth="31-02-1990"),
        agent_row(8),
        agent_row(1),  # line 10: row 1 again
    ]
    path = write_csv(tmp_path / "agents.csv", rows)
    dry = await run(db, "agents", path, dry_run=True)  # says what the real run will do
    assert await db.fetchval("SELECT count(*) FROM agents") == 0
    p = await run(db, "agents", path)
    assert (dry["rows"], dry["rejections"]) == (p["rows"], p["rejections"])
    assert p["state"] == "done"
    assert p["rows"] == {
        "read": 9,
        "accepted": 2,
        "already_present": 1,
        "rejected": 6,
        "not_yet_written": 0,
    }
    why = reasons(p)
    assert why[3][0] == "pan" and why[4][0] == "date_of_birth" and why[5][0] == "ifsc"
    assert why[6][0] == "name"
    assert why[7][0] == "pan" and "registered to another agent" in why[7][1]
    assert why[8] == ("date_of_birth", "not a date as DD-MM-YYYY: '31-02-1990'")
    agents = await db.fetch(
        """SELECT a.state, a.legacy_ref, k.submitted_by, k.approved_by, c.balance_paise
             FROM agents a JOIN agent_kyc k ON k.agent_id = a.id
             JOIN accounts c ON c.id = a.wallet_account_id ORDER BY a.legacy_ref"""
    )
    assert [(a["legacy_ref"], a["state"]) for a in agents] == [
        ("OLD-1", "pending_kyc"),
        ("OLD-8", "pending_kyc"),
    ]
    assert {a["submitted_by"] for a in agents} == {f"import:{p['run']}"}
    assert {a["approved_by"] for a in agents} == {None}  # the four-eyes queue decides
    again = await run(db, "agents", tmp_path / "agents.csv")
    assert again["before"] and again["run"] == p["run"]
    assert await db.fetchval("SELECT count(*) FROM agents") == 2
    csv_form = "".join([part async for part in protocol_csv(db, p["run"])])
    assert "rows.rejected,6" in csv_form and "\n8,date_of_birth," in csv_form.replace("\r", "")


async def test_opening_balances_come_through_the_suspense_account_once(
    db: Database, ledger: Ledger, tmp_path: Path
) -> None:
    agents = await run(
        db, "agents", write_csv(tmp_path / "a.csv", [agent_row(1), agent_row(2)]), approved=True
    )
    states = await db.fetch("SELECT state FROM agents")
    assert {r["state"] for r in states} == {"approved"} and agents["rows"]["accepted"] == 2
    first = await db.fetchval("SELECT id FROM agents WHERE legacy_ref = 'OLD-1'")
    rows = [
        {"agent": "OLD-1", "amount": "1,25,000.50"},
        {"agent": "OLD-2", "amount": "999"},
        {"agent": "OLD-404", "amount": "10"},  # no such agent
        {"agent": first, "amount": "1"},  # OLD-1 again, by its switch id: another amount
    ]
    path = write_csv(tmp_path / "balances.csv", rows)
    without = await run(db, "balances", path)
    assert without["state"] == "refused" and "control totals" in without["refusal"]
    wrong = await run(db, "balances", path, control_count=4, control_paise=12_600_050)
    assert wrong["state"] == "refused" and "sum to 12601050 paise" in wrong["refusal"]
    assert await db.fetchval("SELECT count(*) FROM transfers") == 0  # refused: nothing moved
    dry = await run(db, "balances", path, control_count=4, control_paise=12_601_050, dry_run=True)
    assert dry["rows"]["accepted"] == 2 and dry["control"]["written_paise"] == 12_599_950
    assert await db.fetchval("SELECT count(*) FROM transfers") == 0  # a dry run writes nothing
    p = await run(db, "balances", path, control_count=4, control_paise=12_601_050)
    assert p["state"] == "done" and p["rows"]["accepted"] == 2 and p["rows"]["rejected"] == 2
    assert reasons(p)[4] == ("agent", "no such agent")
    assert reasons(p)[5] == ("amount", "another opening balance was imported")
    suspense = await ledger.account_by_code(MIGRATION_CODE)
    assert suspense.balance_paise == -12_599_950 == -p["control"]["written_paise"]
    wallet = await db.fetchval(
        "SELECT c.balance_paise FROM agents a JOIN accounts c ON c.id = a.wallet_account_id"
        " WHERE a.legacy_ref = 'OLD-1'"
    )
    assert wallet == 12_500_050
    more = write_csv(tmp_path / "b2.csv", [{"agent": "OLD-2", "amount": "999.00"}])
    same = await run(db, "balances", more, control_count=1, control_paise=99_900)
    assert same["rows"]["already_present"] == 1 and same["rows"]["accepted"] == 0
    assert (await ledger.account_by_code(MIGRATION_CODE)).balance_paise == -12_599_950


async def test_a_legacy_export_read_through_its_mapping(
    db: Database, ledger: Ledger, tmp_path: Path
) -> None:
    """Other column names, Windows-1252, DD/MM/YYYY, rupees with Indian commas."""
    (tmp_path / "legacy.toml").write_text(
        """entity = "history"
encoding = "cp1252"
date_format = "DD/MM/YYYY"
amounts = "rupees"
[columns]
legacy_ref = "Receipt No"
biller = "Board"
account = "Consumer No"
amount = "Amount (Rs)"
paid_at = "Paid On"
status = "Status"
agent = "Agent Code"
"""
    )
    m = mapping.load(tmp_path / "legacy.toml", "history", ENTITIES["history"].fields)
    cols = ["Receipt No", "Board", "Consumer No", "Amount (Rs)", "Paid On", "Status", "Agent Code"]
    rows = [
        dict(
            zip(
                cols,
                ["R1", "uppcl", "2001000001", "1,23,456.50", "07/11/2026 14:05", "Posted", "OLD-1"],
                strict=True,
            )
        ),
        dict(
            zip(
                cols,
                ["R2", "UPPCL", "2001000002", "250", "31/11/2026", "posted", "OLD-1"],
                strict=True,
            )
        ),
        dict(
            zip(
                cols,
                ["R3", "JALSEWA", "WS01000001", "12.345", "01/11/2026", "posted", ""],
                strict=True,
            )
        ),
        dict(
            zip(
                cols,
                ["R4", "JALSEWA", "WS01000002", "45", "01/11/2026", "refund", "é"],
                strict=True,
            )
        ),
        dict(
            zip(
                cols,
                ["R5", "JALSEWA", "WS01000003", "Rs. 99.5", "02/11/2026", "failed", "Gauré"],
                strict=True,
            )
        ),
    ]
    path = write_csv(tmp_path / "old.csv", rows, cols, encoding="cp1252")
    p = await run(db, "history", path, m)
    assert p["rows"]["accepted"] == 2 and p["rows"]["rejected"] == 3
    why = reasons(p)
    assert why[3][0] == "Paid On" and why[4][0] == "Amount (Rs)" and why[5][0] == "Status"
    kept = await db.fetch("SELECT * FROM legacy_pays ORDER BY legacy_ref")
    assert [(k["legacy_ref"], k["biller_id"], k["amount_paise"], k["status"]) for k in kept] == [
        ("R1", "UPPCL", 12_345_650, "posted"),
        ("R5", "JALSEWA", 9_950, "failed"),
    ]
    assert kept[0]["paid_at"] == dt.datetime(2026, 11, 7, 8, 35, tzinfo=dt.UTC)  # 14:05 IST
    assert kept[1]["agent_legacy_ref"] == "Gauré"  # read as Windows-1252
    assert await db.fetchval("SELECT count(*) FROM pays") == 0  # history is not pays
    november = (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    [imported] = await reports.totals(db, ("channel",), *november, ())
    assert imported == {
        "channel": "imported",
        "pays": 2,
        "posted": 1,
        "failed": 1,
        "pending": 0,
        "amount_posted_paise": 12_345_650,
        "commission_paise": 0,
        "imported": 2,
    }
    by_biller = await reports.totals(db, ("biller",), *november, ())
    assert [(r["biller"], r["posted"]) for r in by_biller] == [("JALSEWA", 0), ("UPPCL", 1)]
    missing = write_csv(tmp_path / "short.csv", [{"Receipt No": "R9"}])
    refused = await run(db, "history", missing, m)
    assert refused["state"] == "refused" and "no column Board" in refused["refusal"]


async def test_bank_statement_top_ups_each_reference_once_never_guessed(
    db: Database, ledger: Ledger, tmp_path: Path
) -> None:
    key = public_bytes(Ed25519PrivateKey.generate())
    await provision_fleet(db, ledger, key, "127.0.0.1:1", agents=3, prefix="BANK")
    ids = [r["id"] for r in await db.fetch("SELECT id FROM agents ORDER BY id")]
    await db.execute("UPDATE agents SET state = 'blocked' WHERE id = $1", ids[2])
    rows = [
        {"bank_ref": "UTR-0001", "agent": ids[0], "amount": "5,000"},
        {"bank_ref": "UTR-0002", "agent": ids[1], "amount": "2,500.75"},
        {"bank_ref": "UTR-0003", "agent": "AG999999", "amount": "100"},
        {"bank_ref": "UTR-0004", "agent": ids[2], "amount": "100"},  # blocked
        {"bank_ref": "UTR-0001", "agent": ids[0], "amount": "5,000"},  # the same line again
        {"bank_ref": "UTR-0002", "agent": ids[1], "amount": "9"},  # the same ref, another amount
        {"bank_ref": "UTR-0005", "agent": ids[0], "amount": "99,99,999"},  # over the ceiling
        {"bank_ref": "x", "agent": ids[0], "amount": "1"},
    ]
    unreadable = write_csv(tmp_path / "torn.csv", [*rows[:2], rows[2] | {"amount": "1.2.3"}])
    torn = await run(db, "topups", unreadable, control_count=3, control_paise=1)
    assert torn["state"] == "refused" and "amount of line 4 cannot be read" in torn["refusal"]
    path = write_csv(tmp_path / "statement.csv", rows)
    total = 500_000 + 250_075 + 10_000 + 10_000 + 500_000 + 900 + 999_999_900 + 100
    p = await run(db, "topups", path, control_count=8, control_paise=total)
    assert p["state"] == "done", p
    assert p["rows"] | {} == {
        "read": 8,
        "accepted": 2,
        "already_present": 1,
        "rejected": 5,
        "not_yet_written": 0,
    }
    why = reasons(p)
    assert why[4] == ("agent", "no such agent") and why[5][0] == "agent" and "blocked" in why[5][1]
    assert why[7][0] == "bank_ref" and why[8][0] == "amount" and why[9][0] == "bank_ref"
    balances = await db.fetch(
        "SELECT a.id, c.balance_paise FROM agents a JOIN accounts c ON c.id = a.wallet_account_id"
        " ORDER BY a.id"
    )
    assert [b["balance_paise"] for b in balances] == [500_000, 250_075, 0]
    audited = await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'wallet.topup'")
    assert audited == 2


async def test_consumer_accounts_and_open_complaints_come_in(
    db: Database, ledger: Ledger, tmp_path: Path
) -> None:
    consumers = [
        {"biller": "uppcl", "account": "2001000001", "mobile": "9876500001", "name": "Ram"},
        {"biller": "NOSUCH", "account": "1", "mobile": "9876500002", "name": ""},
        {"biller": "UPPCL", "account": "2001000002", "mobile": "12345", "name": ""},
        {"biller": "UPPCL", "account": "2001000001", "mobile": "9876500001", "name": "Ram"},
    ]
    p = await run(
        db,
        "consumers",
        write_csv(tmp_path / "c.csv", consumers),
        billers=frozenset({"UPPCL", "JALSEWA"}),
    )
    assert p["rows"]["accepted"] == 1 and p["rows"]["already_present"] == 1
    assert reasons(p) == {
        3: ("biller", "not a biller of this switch"),
        4: ("mobile", "a 10-digit mobile starting 6-9"),
    }
    await run(db, "agents", write_csv(tmp_path / "a.csv", [agent_row(1)]))
    complaints = [
        {
            "legacy_ref": "C-1",
            "category": "not_credited",
            "description": "paid, still due",
            "agent": "OLD-1",
            "payment_ref": "R77",
        },
        {
            "legacy_ref": "C-2",
            "category": "lost",
            "description": "x",
            "agent": "",
            "payment_ref": "",
        },
        {
            "legacy_ref": "C-3",
            "category": "other",
            "description": "y",
            "agent": "OLD-9",
            "payment_ref": "",
        },
    ]
    path = write_csv(tmp_path / "complaints.csv", complaints)
    c = await run(db, "complaints", path, complaint_tat_s=3600.0)
    assert c["rows"]["accepted"] == 1
    assert reasons(c)[3][0] == "category" and reasons(c)[4] == ("agent", "no such agent")
    row = await db.fetchrow("SELECT * FROM complaints")
    assert row["legacy_ref"] == "C-1" and row["state"] == "logged" and row["kind"] == "service"
    assert "payment R77" in row["description"] and row["raised_by"] == f"import:{c['run']}"
    assert await db.fetchval("SELECT action FROM complaint_events") == "log"
    again = await run(db, "complaints", write_csv(tmp_path / "c2.csv", complaints[:1]))
    assert again["rows"]["already_present"] == 1
