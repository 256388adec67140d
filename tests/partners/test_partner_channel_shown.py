"""A partner's pays are the switch's pays, told apart by their channel wherever pays
are counted: the MIS totals, the settlement file's lines, the metrics."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

from switch.settlement import files
from tests.admin.conftest import Admin
from tests.admin.test_wallets_complaints import funded_terminal, pay
from tests.ops.conftest import get
from tests.ops.test_metrics import sample
from tests.partners.conftest import Partner
from tests.settlement.conftest import calendar_cut_at, db_now, settlement_for


async def test_the_channel_in_mis_settlement_and_metrics(
    admin: Admin, partner: Partner, tmp_path: Path
) -> None:
    _, creds = await funded_terminal(admin, 1)
    assert (await pay(creds, "T-1", 100_00))["status"] == "success"
    for n in range(2):
        r = await partner.client.pay(f"P-{n}", "UPPCL", "1234567890", 200_00 + n)
        assert r.json()["status"] == "success", r.text
    r = await admin.call("finance", "GET", "/v1/reports/totals", params={"by": "channel"})
    assert r.status_code == 200, r.text
    rows = {row["channel"]: row for row in r.json()["rows"]}
    assert (rows["partner"]["posted"], rows["partner"]["amount_posted_paise"]) == (2, 400_01)
    assert (rows["terminal"]["posted"], rows["terminal"]["amount_posted_paise"]) == (1, 100_00)

    cut = await db_now(admin.sw)
    cal = calendar_cut_at(cut)
    day = cal.business_date(cut - dt.timedelta(seconds=1))
    w = await settlement_for(admin.sw, tmp_path, cal).close("UPPCL", day, now=cut)
    content = (tmp_path / "UPPCL" / files.file_name(w)).read_text()
    details = [row for row in csv.reader(io.StringIO(content)) if row[0] == "D"]
    by_channel = sorted((row[-1], row[3], row[4]) for row in details)
    assert by_channel == [
        ("partner", partner.id, "P-0"),
        ("partner", partner.id, "P-1"),
        ("terminal", creds.terminal_id, "T-1"),
    ]

    assert admin.sw.ops_port is not None
    _, body = await get(admin.sw.ops_port, "/metrics")
    text = body.decode()
    assert sample(text, "switch_pays_by_channel_total", channel="partner", state="posted") == 2
    assert sample(text, "switch_pays_by_channel_total", channel="terminal", state="posted") == 1
    assert sample(text, "switch_partner_requests_total", operation="pay", code="ok") == 2
