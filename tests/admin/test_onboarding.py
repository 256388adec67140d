"""Agent onboarding: every KYC rule with its field-level error, duplicates, four-eyes
approval, documents, activation by SMS, blocking that cuts a live terminal."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import trio

from simulators.epos.connection import ConnectionLost, HandshakeRefused, connect
from switch.admin import kyc
from switch.provisioning.credentials import Credentials
from tests.admin.conftest import Admin, active_agent, agent_login, application
from tests.helpers import png_bytes

TODAY = dt.date.today()
UNDER_18 = (TODAY - dt.timedelta(days=365 * 17)).isoformat()
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("pan", "ABCDE12345", "PAN must be"),
        ("pan", "abcp1234ef", "PAN must be"),
        ("ifsc", "SBIN1234567", "IFSC must be"),
        ("gstin", "09ABCPE1234F1ZA", "check character"),
        ("gstin", "09ABCPE1234F", "at least 15"),
        ("mobile", "12345", "at least 10"),
        ("mobile", "5876543210", "mobile must be"),
        ("email", "ram-at-example", "email"),
        ("date_of_birth", UNDER_18, "at least 18"),
        ("date_of_birth", "2099-01-01", "future"),
        ("bank_account", "12AB5678901", "9 to 18 digits"),
        ("fps_id", "FPS 1!", "FPS id must be"),
        ("name", "", "at least 1"),
    ],
)
async def test_each_invalid_kyc_field_gets_its_own_error(
    admin: Admin, field: str, value: str, says: str
) -> None:
    r = await admin.call("onboarding", "POST", "/v1/agents", json=application(1, **{field: value}))
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "invalid_request" and list(error["fields"]) == [field]
    assert says.lower() in error["fields"][field].lower(), error
    assert await admin.sw.db.fetchval("SELECT count(*) FROM agents") == 0


async def test_missing_and_unknown_fields_are_named(admin: Admin) -> None:
    body = application(1)
    del body["pan"]
    r = await admin.call("onboarding", "POST", "/v1/agents", json=body | {"aadhaar": "x"})
    assert r.status_code == 422 and set(r.json()["error"]["fields"]) == {"pan", "aadhaar"}


def test_gstin_checksum() -> None:
    first14 = "09ABCPE1234F1Z"
    good = first14 + kyc.gstin_check_char(first14)
    assert kyc.gstin(good.lower()) == good
    assert kyc.gstin("27AAPFU0939F1ZV") == "27AAPFU0939F1ZV"  # a published example
    assert kyc.mobile("+91 98765-43210") == "9876543210"
    assert kyc.adult(dt.date(2000, 2, 29), today=dt.date(2018, 3, 1)) == dt.date(2000, 2, 29)
    with pytest.raises(ValueError, match="18"):
        kyc.adult(dt.date(2000, 3, 2), today=dt.date(2018, 3, 1))


async def test_duplicates_are_refused_by_pan_and_fps_id(admin: Admin) -> None:
    first14 = "09ABCPE0001F1Z"
    body = application(1, gstin=first14 + kyc.gstin_check_char(first14))
    assert (await admin.call("onboarding", "POST", "/v1/agents", json=body)).status_code == 201
    again = await admin.call(
        "onboarding", "POST", "/v1/agents", json=application(2, pan=body["pan"])
    )
    assert again.status_code == 409 and set(again.json()["error"]["fields"]) == {"pan"}
    again = await admin.call(
        "onboarding", "POST", "/v1/agents", json=application(3, fps_id=body["fps_id"])
    )
    assert again.status_code == 409 and set(again.json()["error"]["fields"]) == {"fps_id"}


async def test_four_eyes_approval(admin: Admin) -> None:
    r = await admin.call("onboarding", "POST", "/v1/agents", json=application(1))
    agent = r.json()["id"]
    assert r.json()["state"] == "pending_kyc"
    early = await admin.call("onboarding", "POST", f"/v1/agents/{agent}/activate")
    assert early.status_code == 409 and early.json()["error"]["code"] == "invalid_state"
    mine = await admin.call("onboarding", "POST", f"/v1/agents/{agent}/approve")
    assert mine.status_code == 409 and mine.json()["error"]["code"] == "four_eyes"
    # The database refuses it too, whatever the code above it does.
    with pytest.raises(asyncpg.CheckViolationError):
        await admin.sw.db.execute(
            "UPDATE agent_kyc SET approved_by = 'onboarding', approved_at = now()"
        )
    ok = await admin.call("onboarding2", "POST", f"/v1/agents/{agent}/approve")
    assert ok.status_code == 200 and ok.json()["approved_by"] == "onboarding2"
    assert ok.json()["state"] == "approved"


async def test_activation_sends_the_agents_login_by_sms(admin: Admin) -> None:
    agent = await active_agent(admin, 1)
    me = await agent_login(admin, agent)
    r = await admin.call(me, "GET", "/v1/me")
    assert r.json() == {"username": agent.lower(), "role": "agent", "agent_id": agent}
    r = await admin.call(me, "GET", f"/v1/agents/{agent}/wallet")
    assert r.status_code == 200 and r.json()["balance_paise"] == 0


async def upload(admin: Admin, agent: str, name: str, content: bytes, kind: str = "photo") -> Any:
    return await admin.call(
        "onboarding",
        "POST",
        f"/v1/agents/{agent}/documents",
        data={"kind": kind},
        files={"file": (name, content, "application/octet-stream")},
    )


async def test_documents_are_parsed_stored_by_sha256_and_checked(admin: Admin) -> None:
    r = await admin.call("onboarding", "POST", "/v1/agents", json=application(1))
    agent = r.json()["id"]
    r = await upload(admin, agent, "pan.png", png_bytes(), "pan_card")
    assert r.status_code == 201, r.text
    stored = Path(admin.cfg.admin.documents_dir) / r.json()["sha256"]
    kept = stored.read_bytes()  # what is kept is the image re-encoded, named by its hash
    assert hashlib.sha256(kept).hexdigest() == r.json()["sha256"]
    assert (r.json()["size_bytes"], r.json()["content_type"]) == (len(kept), "image/png")
    for name, content in (
        ("x.png", b"just text"),
        ("fake.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),  # the magic bytes and nothing
        ("page.pdf", b"%PDF-1.4\n<html><script>alert(1)</script></html>"),
    ):
        refused = await upload(admin, agent, name, content)
        assert refused.status_code == 415, (name, refused.text)
        assert refused.json()["error"]["code"] == "unsupported_type"
    big = b"%PDF-" + b"0" * admin.cfg.admin.max_upload_bytes
    large = await upload(admin, agent, "x.pdf", big, "other")
    assert large.status_code == 413 and large.json()["error"]["code"] == "too_large"
    listed = await admin.call("auditor", "GET", f"/v1/agents/{agent}/documents")
    assert [d["sha256"] for d in listed.json()["items"]] == [r.json()["sha256"]]


async def test_a_photo_loses_its_metadata_and_a_real_pdf_is_kept(admin: Admin) -> None:
    import io

    from PIL import Image
    from pypdf import PdfWriter

    r = await admin.call("onboarding", "POST", "/v1/agents", json=application(2))
    agent = r.json()["id"]
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x010E] = "taken at 25.3176N 82.9739E"  # what a phone puts there
    photo = io.BytesIO()
    Image.new("RGB", (16, 12), (10, 200, 30)).save(photo, format="JPEG", exif=exif)
    assert b"PhoneMaker" in photo.getvalue()
    r = await upload(admin, agent, "shop.jpg", photo.getvalue(), "shop_photo")
    assert r.status_code == 201 and r.json()["content_type"] == "image/jpeg", r.text
    kept = (Path(admin.cfg.admin.documents_dir) / r.json()["sha256"]).read_bytes()
    assert b"PhoneMaker" not in kept and not Image.open(io.BytesIO(kept)).getexif()
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    pdf = io.BytesIO()
    writer.write(pdf)
    r = await upload(admin, agent, "address.pdf", pdf.getvalue(), "address_proof")
    assert r.status_code == 201 and r.json()["content_type"] == "application/pdf", r.text
    assert r.json()["sha256"] == hashlib.sha256(pdf.getvalue()).hexdigest()  # as it came


async def test_a_document_for_no_agent_writes_nothing(admin: Admin) -> None:
    r = await upload(admin, "AG999999", "p.png", png_bytes())
    assert r.status_code == 404
    directory = Path(admin.cfg.admin.documents_dir)
    assert not directory.exists() or list(directory.iterdir()) == []  # noqa: ASYNC240


async def test_blocking_an_agent_cuts_its_live_terminal(admin: Admin) -> None:
    agent = await active_agent(admin, 1)
    r = await admin.call("operations", "POST", f"/v1/agents/{agent}/terminals")
    creds = Credentials.from_dict(r.json()["credentials"])
    async with connect(creds) as conn:
        assert (await conn.request("fetch_bill", biller="UPPCL", account="1234567890"))["rid"]
        blocked = await admin.call("operations", "POST", f"/v1/agents/{agent}/block")
        assert blocked.status_code == 200 and blocked.json()["state"] == "blocked"
        with trio.fail_after(5):
            while conn.lost is None:  # noqa: ASYNC110 (the read loop sets it)
                await trio.sleep(0.02)
        assert conn.lost.code == "agent_blocked"
    with pytest.raises(HandshakeRefused) as refused:
        async with connect(creds):
            pass
    assert refused.value.code == "agent_blocked"
    assert (
        await admin.call("operations", "POST", f"/v1/agents/{agent}/unblock")
    ).status_code == 200
    assert await serves(creds)


async def test_a_rotated_key_replaces_the_old_one(admin: Admin) -> None:
    agent = await active_agent(admin, 1)
    r = await admin.call("operations", "POST", f"/v1/agents/{agent}/terminals")
    old = Credentials.from_dict(r.json()["credentials"])
    r = await admin.call("operations", "POST", f"/v1/terminals/{old.terminal_id}/rotate-key")
    new = Credentials.from_dict(r.json()["credentials"])
    assert new.private_key != old.private_key
    with pytest.raises((HandshakeRefused, ConnectionLost)):
        async with connect(old):
            pass
    assert await serves(new)


async def test_an_agent_with_money_cannot_be_closed(admin: Admin) -> None:
    agent = await active_agent(admin, 1)
    await admin.call(
        "finance",
        "POST",
        f"/v1/agents/{agent}/wallet/topups",
        json={"amount_paise": 500, "bank_ref": "UTR-C1"},
    )
    r = await admin.call("operations", "POST", f"/v1/agents/{agent}/close")
    assert r.status_code == 409 and "500 paise" in r.json()["error"]["message"]


async def serves(creds: Credentials) -> bool:
    """The terminal can connect and be answered."""
    async with connect(creds) as conn:
        answer = await conn.request("fetch_bill", biller="UPPCL", account="1234567890")
    return bool(answer["type"] == "bill")


@pytest.mark.parametrize(
    "content_type", ["application/json", "Application/JSON", "application/vnd.api+json"]
)
async def test_a_nul_in_a_json_body_is_a_field_error_whatever_its_content_type(
    admin: Admin, content_type: str
) -> None:
    body = json.dumps(application(1, name="Ram\u0000Store")).encode()
    headers = {
        "Authorization": f"Bearer {admin.tokens['onboarding']}",
        "Content-Type": content_type,
    }
    r = await admin.http.request("POST", "/v1/agents", content=body, headers=headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", r.text
    assert await admin.sw.db.fetchval("SELECT count(*) FROM agents") == 0


async def test_every_body_has_a_size_limit_whatever_its_content_type(admin: Admin) -> None:
    """10 MB of text/plain (declared, and streamed in chunks without a length) is
    refused with 413 at the limit, never read whole into memory."""
    big = b"x" * (10 * 1024 * 1024)
    headers = {"Authorization": f"Bearer {admin.tokens['onboarding']}"}
    declared = await admin.http.post(
        "/v1/agents", content=big, headers=headers | {"Content-Type": "text/plain"}
    )
    assert declared.status_code == 413 and declared.json()["error"]["code"] == "too_large"

    async def chunks() -> Any:
        for _ in range(160):
            yield b"y" * 65536

    streamed = await admin.http.post(
        "/v1/agents", content=chunks(), headers=headers | {"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413, streamed.text
    ok = await admin.http.post("/v1/agents", json=application(3), headers=headers)
    assert ok.status_code == 201  # an ordinary body still passes
