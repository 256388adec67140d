"""The operator's commands for the back office: the first admin, wallet freezes."""

from __future__ import annotations

import json
import os
from pathlib import Path

from switch.services import ServiceUrls
from tests.admin.conftest import Admin, active_agent, last_sms
from tests.helpers import switch_cli


def env_for(database_url: str, services: ServiceUrls, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCH_")}
    return env | {
        "SWITCH_DATA_DIR": str(tmp_path / "data"),
        "SWITCH_DATABASE_URL": database_url,
        "SWITCH_REDIS_URL": services.redis_url,
    }


async def test_first_admin_and_wallet_freeze_from_the_command_line(
    admin: Admin, database_url: str, services: ServiceUrls, tmp_path: Path
) -> None:
    env = env_for(database_url, services, tmp_path)
    made = switch_cli(
        env, "user", "add", "--username", "asha", "--role", "admin", "--mobile", "9876512345"
    )
    assert made.returncode == 0, made.stderr
    password = json.loads(made.stdout)["password"]
    await admin.login("asha", password)
    assert (await admin.call("asha", "GET", "/v1/me")).json()["role"] == "admin"
    taken = switch_cli(
        env, "user", "add", "--username", "asha", "--role", "admin", "--mobile", "9876512345"
    )
    assert taken.returncode == 1 and "taken" in taken.stderr

    agent = await active_agent(admin, 1)
    frozen = switch_cli(env, "wallet", "freeze", "--agent", agent, "--by", "asha")
    assert frozen.returncode == 0 and json.loads(frozen.stdout)["frozen"] is True
    await admin.sw.policy.refresh()  # the running switch would within limits_refresh_s
    wallet = (await admin.call("finance", "GET", f"/v1/agents/{agent}/wallet")).json()
    assert wallet["frozen"] is True
    entry = await admin.sw.db.fetchrow(
        "SELECT actor, action FROM audit_log WHERE object_id = $1 ORDER BY id DESC LIMIT 1", agent
    )
    assert tuple(entry) == ("asha", "wallet.freeze")
    missing = switch_cli(env, "wallet", "limits", "--agent", "AG999999", "--per-txn-paise", "5")
    assert missing.returncode == 1 and "no agent" in missing.stderr


async def test_the_command_line_top_up_keeps_the_ceiling_and_the_audit(
    admin: Admin, database_url: str, services: ServiceUrls, tmp_path: Path
) -> None:
    env = env_for(database_url, services, tmp_path)
    agent = await active_agent(admin, 1)
    limits = ["--max-balance-paise", "100000", "--by", "asha"]
    assert switch_cli(env, "wallet", "limits", "--agent", agent, *limits).returncode == 0
    args = ["wallet", "topup", "--agent", agent, "--amount-paise", "80000", "--by", "asha"]
    first = switch_cli(env, *args, "--bank-ref", "UTR-CLI-1")
    again = switch_cli(env, *args, "--bank-ref", "UTR-CLI-1")
    over = switch_cli(env, *args, "--bank-ref", "UTR-CLI-2")
    assert first.returncode == 0 and json.loads(first.stdout)["replayed"] is False
    assert again.returncode == 0 and json.loads(again.stdout)["replayed"] is True
    assert over.returncode == 1 and "at most 100000 paise" in over.stderr
    assert "Traceback" not in over.stderr
    entries = await admin.sw.db.fetch(
        "SELECT actor FROM audit_log WHERE action = 'wallet.topup' AND object_id = $1", agent
    )
    assert [e["actor"] for e in entries] == ["asha"]


async def test_every_change_from_the_command_line_is_audited(
    admin: Admin, database_url: str, services: ServiceUrls, tmp_path: Path
) -> None:
    env = env_for(database_url, services, tmp_path)
    added = switch_cli(
        env,
        *("agent", "add", "--bootstrap", "--name", "Ram Store"),
        *("--mobile", "9876543210", "--fps-id", "FPS-77"),
    )
    assert added.returncode == 0, added.stderr
    agent = json.loads(added.stdout)["id"]
    creds = tmp_path / "creds"
    term = switch_cli(
        env, "terminal", "add", "--agent", agent, "--out-dir", str(creds), "--by", "asha"
    )
    terminal = term.stdout.split(":")[0]
    assert term.returncode == 0 and (creds / f"{terminal}.json").exists()
    assert switch_cli(env, "agent", "block", agent, "--by", "ravi").returncode == 0
    assert switch_cli(env, "terminal", "block", terminal, "--by", "ravi").returncode == 0
    listed = json.loads(switch_cli(env, "agent", "list", "--state", "blocked").stdout)
    assert [a["id"] for a in listed] == [agent]
    terminals = json.loads(switch_cli(env, "terminal", "list", "--agent", agent).stdout)
    assert terminals == [{"id": terminal, "agent_id": agent, "state": "blocked"}]
    entries = await admin.sw.db.fetch(
        "SELECT actor, action, object_id FROM audit_log WHERE object_kind IN ('agent', 'terminal')"
        " ORDER BY id"
    )
    assert [(e["action"], e["object_id"]) for e in entries] == [
        ("agent.add", agent),
        ("terminal.add", terminal),
        ("agent.block", agent),
        ("terminal.block", terminal),
    ]
    assert entries[0]["actor"].startswith("cli:") and entries[1]["actor"] == "asha"

    made = switch_cli(
        env, "user", "add", "--username", "mira", "--role", "support", "--mobile", "9876512340"
    )
    await admin.login("mira", json.loads(made.stdout)["password"])
    assert (await admin.call("mira", "GET", "/v1/me")).status_code == 200
    assert switch_cli(env, "user", "disable", "mira", "--by", "asha").returncode == 0
    assert (await admin.call("mira", "GET", "/v1/me")).status_code == 401  # its token too
    missing = switch_cli(env, "user", "disable", "nobody")
    assert missing.returncode == 1 and "no user nobody" in missing.stderr
    assert "Traceback" not in missing.stderr


async def test_onboarding_from_the_command_line_keeps_kyc_and_four_eyes(
    admin: Admin, database_url: str, services: ServiceUrls, tmp_path: Path
) -> None:
    env = env_for(database_url, services, tmp_path)
    kyc = {
        "--name": "Sita Kirana",
        "--email": "sita@example.in",
        "--mobile": "9876543211",
        "--date-of-birth": "1990-04-01",
        "--pan": "ABCPS1234K",
        "--fps-id": "FPS-88",
        "--residential-address": "12 Lanka, Varanasi",
        "--shop-address": "Shop 3, Lanka, Varanasi",
        "--bank-account": "123456789012",
        "--ifsc": "SBIN0001234",
    }
    args = [x for kv in kyc.items() for x in kv]
    bad = switch_cli(env, "agent", "apply", *args, "--pan", "NOTAPAN", "--by", "asha")
    assert bad.returncode == 1 and "pan" in bad.stderr and "Traceback" not in bad.stderr
    applied = switch_cli(env, "agent", "apply", *args, "--by", "asha")
    assert applied.returncode == 0, applied.stderr
    agent = json.loads(applied.stdout)
    assert agent["state"] == "pending_kyc"
    own = switch_cli(env, "agent", "approve", agent["id"], "--by", "asha")
    assert own.returncode == 1 and "second person" in own.stderr
    approved = switch_cli(env, "agent", "approve", agent["id"], "--by", "ravi")
    assert approved.returncode == 0 and json.loads(approved.stdout)["state"] == "approved"
    active = switch_cli(env, "agent", "activate", agent["id"], "--by", "ravi")
    assert active.returncode == 0 and json.loads(active.stdout)["state"] == "active"
    sms = await last_sms(admin, mobile="9876543211")
    assert sms is not None and "Portal login" in sms
    entries = await admin.sw.db.fetch(
        "SELECT actor, action FROM audit_log WHERE object_id = $1 ORDER BY id", agent["id"]
    )
    assert [(e["actor"], e["action"]) for e in entries] == [
        ("asha", "agent.apply"),
        ("ravi", "agent.approve"),
        ("ravi", "agent.activate"),
    ]
    bypass = ["--name", "X", "--mobile", "9876543212", "--fps-id", "FPS-99"]
    unasked = switch_cli(env, "agent", "add", *bypass)
    assert unasked.returncode == 2 and "--bootstrap" in unasked.stderr
    late = switch_cli(env, "agent", "add", "--bootstrap", *bypass)
    assert late.returncode == 1 and "first agent only" in late.stderr
