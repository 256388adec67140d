"""A partner onboarded through the admin API of a running switch, with its client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from simulators.partner.client import PartnerClient, PartnerCredentials
from switch.config import Config
from switch.server import RunningSwitch
from tests.admin.conftest import Admin, admin_of

PREFUND_PAISE = 50_000_00  # ₹50,000


@dataclass
class Partner:
    id: str
    creds: PartnerCredentials
    client: PartnerClient


async def onboard(admin: Admin, name: str = "Gramin Bank", paise: int = PREFUND_PAISE) -> Partner:
    """A bank onboarded (its first key) and prefunded through the admin API."""
    r = await admin.call(
        "onboarding",
        "POST",
        "/v1/partners",
        json={"name": name, "mobile": "9876501234", "institution": "bank"},
    )
    assert r.status_code == 201, r.text
    creds = PartnerCredentials.from_answer(r.json()["key"])
    partner_id = r.json()["id"]
    if paise:
        r = await admin.call(
            "finance",
            "POST",
            f"/v1/agents/{partner_id}/wallet/topups",
            json={"amount_paise": paise, "bank_ref": f"UTR-{partner_id}"},
        )
        assert r.status_code == 201, r.text
    sw = admin.sw
    assert sw.partner_port is not None
    client = PartnerClient(creds, f"http://127.0.0.1:{sw.partner_port}")
    return Partner(partner_id, creds, client)


@pytest.fixture
async def admin(switch: RunningSwitch, switch_config: Config) -> AsyncIterator[Admin]:
    async with admin_of(switch, switch_config) as a:
        yield a


@pytest.fixture
async def partner(admin: Admin) -> AsyncIterator[Partner]:
    p = await onboard(admin)
    async with p.client:
        yield p


async def balance(sw: RunningSwitch, partner_id: str) -> int:
    account_id = await sw.db.fetchval(
        "SELECT wallet_account_id FROM agents WHERE id = $1", partner_id
    )
    return int(await sw.ledger.balance(account_id))
