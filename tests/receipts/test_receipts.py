"""Every posted pay has a receipt: a PDF in English and Hindi with all its
references, from the API, the agent portal, the partner API, and the short signed
link in the depositor's SMS; a failed pay, another agent's pay or an altered link
gets none."""

from __future__ import annotations

import datetime as dt
import io
import re

from pypdf import PdfReader

from simulators.epos.connection import connect
from switch.receipts.pdf import Receipt, render
from tests.admin.conftest import Admin, agent_login, last_sms
from tests.admin.test_wallets_complaints import funded_terminal
from tests.web.conftest import Browser, agent_password

PAID_AT = dt.datetime(2026, 12, 1, 16, 0, 5, tzinfo=dt.UTC)


def text_of(pdf: bytes) -> str:
    assert pdf.startswith(b"%PDF-")
    return PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


def test_the_pdf_says_every_reference_in_both_languages() -> None:
    r = Receipt(
        202612000000042,
        "UPPCL-42",
        "UPPCL",
        "UP Power",
        "2001000017",
        1234_50,
        PAID_AT,
        "partner",
        "PA000001",
        "ORDER-7",
        "Gramin Bank (PA000001)",
        "http://x/r/42-abcdefabcdef",
    )
    pdf = render(r)
    text = text_of(pdf)
    for expected in (
        "202612000000042",
        "UPPCL-42",
        "2001000017",
        "₹1,234.50",
        "01-12-2026 21:30:05",
        "PA000001 / ORDER-7",
        "Gramin Bank",
        "http://x/r/42-abcdefabcdef",
        "Payment receipt",
        "भुगतान रसीद",
        "उपभोक्ता खाता संख्या",
        "Partner / reference",
    ):
        assert expected in text, expected
    assert render(r) == pdf  # a pure function of the pay: the same bytes again


async def _pay(creds: object, ref: str, account: str) -> dict[str, object]:
    async with connect(creds) as conn:  # type: ignore[arg-type]
        return await conn.request(
            "pay",
            ref=ref,
            biller="UPPCL",
            account=account,
            amount_paise=250_00,
            mobile="9876512345",
        )


async def test_receipts_by_api_portal_and_the_sms_link(admin: Admin, browser: Browser) -> None:
    agent, creds = await funded_terminal(admin, 1)
    other, _ = await funded_terminal(admin, 2)
    paid = await _pay(creds, "R-1", "1234567890")
    failed = await _pay(creds, "R-2", "1234567899")  # the stub biller rejects it
    assert (paid["status"], failed["status"]) == ("success", "failed")
    txn = paid["txn"]

    sms = await last_sms(admin, f"%Txn {txn}%")
    assert sms is not None
    link = re.search(r"Receipt: (\S+)", sms)
    assert link is not None, sms
    path = "/" + link.group(1).split("/", 3)[3]
    assert re.fullmatch(rf"/r/{txn}-[A-Za-z0-9_-]{{12}}", path), path
    public = await browser.http.get(path)  # no login: the link is the permission
    assert public.status_code == 200 and public.headers["content-type"] == "application/pdf"
    shown = text_of(public.content)
    assert str(txn) in shown and f"UPPCL-{txn}" in shown and "₹250.00" in shown
    assert f"{creds.terminal_id} / R-1" in shown and "भुगतान रसीद" in shown
    for bad in (
        path[:-1] + ("A" if path[-1] != "A" else "B"),
        f"/r/{failed['txn']}-AAAAAAAAAAAA",
        "/r/nonsense",
    ):
        assert (await browser.http.get(bad)).status_code == 404, bad

    api = await admin.call("support", "GET", f"/v1/transactions/{txn}/receipt.pdf")
    assert api.status_code == 200 and str(txn) in text_of(api.content)
    none = await admin.call("support", "GET", f"/v1/transactions/{failed['txn']}/receipt.pdf")
    assert none.status_code == 404
    me = await agent_login(admin, agent)
    assert (await admin.call(me, "GET", f"/v1/transactions/{txn}/receipt.pdf")).status_code == 200
    them = await agent_login(admin, other)
    assert (await admin.call(them, "GET", f"/v1/transactions/{txn}/receipt.pdf")).status_code == 404

    signed = await browser.sign_in("/agent", agent.lower(), await agent_password(admin, agent))
    assert signed.status_code == 303, signed.text
    story = await browser.http.get(f"/agent/payments/{txn}")
    assert f"/agent/payments/{txn}/receipt.pdf" in story.text
    download = await browser.http.get(f"/agent/payments/{txn}/receipt.pdf")
    assert download.status_code == 200 and str(txn) in text_of(download.content)
