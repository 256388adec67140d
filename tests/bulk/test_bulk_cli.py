"""``switch bulk`` against a running switch: a bill file taken in (once; a bad one
refused with its rows), a pay run planned from the command line and paid by the
switch that is serving, its report and the payer's MIS."""

from __future__ import annotations

import json
from pathlib import Path

import trio

from simulators.erp.simulator import ErpSimulator
from switch.services import ServiceUrls
from tests.admin.test_cli import env_for
from tests.bulk.conftest import SpecAdmin
from tests.bulk.test_bulk_flow import SITES, a_payer, bill_row, csv_of
from tests.helpers import switch_cli


async def test_bills_and_a_pay_run_from_the_command_line(
    admin: SpecAdmin,
    erp: tuple[ErpSimulator, int],
    database_url: str,
    services: ServiceUrls,
    tmp_path: Path,
) -> None:
    env = env_for(database_url, services, tmp_path)
    payer = await a_payer(admin, erp[0])
    good = tmp_path / "bills.csv"
    good.write_bytes(csv_of([bill_row(c, a) for c, a, *_ in SITES[:3]]))
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_of([bill_row("EXC-1", SITES[0][1], n=2, units="lots")]))

    def cli(*args: str) -> dict:
        done = switch_cli(env, "bulk", *args)
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout)) if done.stdout.strip().startswith("{") else {
            "rows": json.loads(done.stdout)}  # fmt: skip

    taken = await trio.to_thread.run_sync(cli, "intake", payer, str(good))
    assert taken["taken_in"] == 3 and taken["by_letter"] == {"D": 3}
    again = await trio.to_thread.run_sync(cli, "intake", payer, str(good))
    assert again["already_in"] == 3
    refused = await trio.to_thread.run_sync(switch_cli, env, "bulk", "intake", payer, str(bad))
    assert refused.returncode == 1 and "line 2, units: not a whole number" in refused.stderr

    # Booked bills (as the chain and the ERP would leave them), funded for all three.
    await admin.sw.db.execute(
        """UPDATE site_bills SET state = 'liability', approved_paise = gross_paise,
                  tds_paise = 0, net_payable_paise = gross_paise, liability_doc = 'D' || id
            WHERE payer_id = $1""",
        payer,
    )
    total = await admin.sw.db.fetchval(
        "SELECT sum(gross_paise)::bigint FROM site_bills WHERE payer_id = $1", payer
    )
    topup = {"amount_paise": total, "bank_ref": "UTRCLI0001"}
    r = await admin.call("finance", "POST", f"/v1/agents/{payer}/wallet/topups", json=topup)
    assert r.status_code == 201, r.text
    rupees = f"{total // 100}.{total % 100:02d}"
    planned = await trio.to_thread.run_sync(cli, "run", payer, "--funds", rupees)
    assert planned["state"] == "running" and planned["outcomes"]["to_pay"]["bills"] == 3
    with trio.fail_after(20):  # the serving switch's sweep finds the run and pays it
        while True:
            r = await admin.call("circlenodal1", "GET", f"/v1/payers/{payer}/runs/{planned['run']}")
            if r.json()["state"] == "done":
                break
            await trio.sleep(0.3)
    shown = await trio.to_thread.run_sync(cli, "report", str(planned["run"]))
    assert shown["paid_paise"] == total and shown["outcomes"] == {
        "paid": {"bills": 3, "paise": total}
    }
    mis = await trio.to_thread.run_sync(cli, "mis", payer, "--by", "state")
    assert mis["rows"] == [{"key": "paid", "bills": 3, "all_passed": 0, "dockets": 0,
                            "gross_paise": total, "approved_paise": total, "paid_paise": total,
                            "saved_paise": 0}]  # fmt: skip
