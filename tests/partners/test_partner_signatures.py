"""Every partner request is signed: unsigned, stale, forged, tampered, replayed,
revoked-key and blocked-partner requests are refused with their code, and move
nothing. The signing rules themselves are pure functions, tested first."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from simulators.partner.client import Answer, PartnerClient, PartnerCredentials
from switch.partners import signing
from switch.partners.signing import SignatureRefused
from switch.protocols.terminal.crypto import public_bytes
from tests.admin.conftest import Admin
from tests.partners.conftest import PREFUND_PAISE, Partner, balance

BODY = json.dumps({"biller": "UPPCL", "account": "1234567890", "amount_paise": 100_00}).encode()
NONCE = "n" * 16


def _signed(
    key: Ed25519PrivateKey,
    path: str = "/partner/v1/pays",
    body: bytes = BODY,
    ts: int = 1_800_000_000_000,
) -> signing.Signed:
    headers = signing.sign(key, "K1", "POST", path, body, ts, NONCE)
    return signing.parse({k.lower(): v for k, v in headers.items()})


def test_a_signature_binds_path_body_and_moment() -> None:
    key = Ed25519PrivateKey.generate()
    public = public_bytes(key)
    signed = _signed(key)
    signing.check_signature(signed, public, "POST", "/partner/v1/pays", BODY)  # verifies
    wrong = [
        ("POST", "/partner/v1/pays", BODY + b" "),  # another body
        ("POST", "/partner/v1/pays?x=1", BODY),  # another path
        ("GET", "/partner/v1/pays", BODY),  # another method
    ]
    for method, path, body in wrong:
        with pytest.raises(SignatureRefused) as refused:
            signing.check_signature(signed, public, method, path, body)
        assert refused.value.code == "bad_signature"
    other_key = public_bytes(Ed25519PrivateKey.generate())
    with pytest.raises(SignatureRefused):
        signing.check_signature(signed, other_key, "POST", "/partner/v1/pays", BODY)
    moved = signing.Signed(signed.key_id, signed.timestamp_ms + 1, signed.nonce, signed.signature)
    with pytest.raises(SignatureRefused):
        signing.check_signature(moved, public, "POST", "/partner/v1/pays", BODY)


def test_time_is_checked_both_ways_at_the_edge() -> None:
    signed = _signed(Ed25519PrivateKey.generate(), ts=1_000_000)
    signing.check_time(signed, 1_000_000 + 300_000, 300.0)
    signing.check_time(signed, 1_000_000 - 300_000, 300.0)
    for now in (1_000_000 + 300_001, 1_000_000 - 300_001):
        with pytest.raises(SignatureRefused) as refused:
            signing.check_time(signed, now, 300.0)
        assert refused.value.code == "stale_request"


@pytest.mark.parametrize(
    "headers, why",
    [
        ({}, "missing X-Partner-Key, X-Timestamp, X-Nonce, X-Signature"),
        (
            {"x-partner-key": "K1", "x-timestamp": "1", "x-nonce": "short", "x-signature": "AA=="},
            "X-Nonce",
        ),
        (
            {"x-partner-key": "K 1", "x-timestamp": "1", "x-nonce": NONCE, "x-signature": "AA=="},
            "X-Partner-Key",
        ),
        (
            {"x-partner-key": "K1", "x-timestamp": "-1", "x-nonce": NONCE, "x-signature": "AA=="},
            "X-Timestamp",
        ),
        (
            {"x-partner-key": "K1", "x-timestamp": "1", "x-nonce": NONCE, "x-signature": "AA=="},
            "X-Signature",
        ),
    ],
)
def test_malformed_headers_are_unsigned(headers: dict[str, str], why: str) -> None:
    with pytest.raises(SignatureRefused) as refused:
        signing.parse(headers)
    assert refused.value.code == "unsigned" and why in refused.value.message


async def _refused(r: object, status: int, code: str) -> None:
    assert isinstance(r, Answer)
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text


async def test_forged_and_replayed_requests_move_nothing(admin: Admin, partner: Partner) -> None:
    c = partner.client
    path = "/partner/v1/pays"
    headers = c.headers("POST", path, BODY) | {
        "Idempotency-Key": "R-1",
        "Content-Type": "application/json",
    }
    await _refused(
        await c.send_raw("POST", "/pays", BODY, {"Idempotency-Key": "R-1"}), 401, "unsigned"
    )
    tampered = BODY.replace(b"10000", b"99999")
    await _refused(await c.send_raw("POST", "/pays", tampered, headers), 401, "bad_signature")
    first = await c.send_raw("POST", "/pays", BODY, headers)
    assert first.status_code == 200 and first.json()["status"] == "success"
    # Captured on the wire and sent again, even unchanged: refused, the first stands.
    await _refused(await c.send_raw("POST", "/pays", BODY, headers), 401, "replayed")
    c.clock_offset_ms = -301_000
    await _refused(await c.pay("R-2", "UPPCL", "1234567890", 100_00), 401, "stale_request")
    c.clock_offset_ms = 0
    stranger = PartnerClient(
        PartnerCredentials(partner.id, partner.creds.key_id, Ed25519PrivateKey.generate()),
        c.base_url,
    )
    async with stranger:
        await _refused(
            await stranger.pay("R-3", "UPPCL", "1234567890", 100_00), 401, "bad_signature"
        )
    unknown = PartnerClient(
        PartnerCredentials(partner.id, "NOKEY", partner.creds.private_key), c.base_url
    )
    async with unknown:
        await _refused(await unknown.account(), 401, "unknown_key")
    assert await admin.sw.db.fetchval("SELECT count(*) FROM pays") == 1
    assert await balance(admin.sw, partner.id) == PREFUND_PAISE - 100_00


async def test_revoked_keys_and_blocked_partners_are_refused(
    admin: Admin, partner: Partner
) -> None:
    c = partner.client
    assert (await c.account()).status_code == 200
    r = await admin.call("onboarding", "POST", f"/v1/partners/{partner.id}/keys")
    assert r.status_code == 201, r.text
    second = PartnerClient(PartnerCredentials.from_answer(r.json()), c.base_url)
    revoked = await admin.call(
        "onboarding", "POST", f"/v1/partners/{partner.id}/keys/{partner.creds.key_id}/revoke"
    )
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    cfg = admin.cfg.partners
    async with second:
        assert (await second.account()).status_code == 200  # the new key works at once
        import trio

        await trio.sleep(cfg.key_refresh_s + 0.2)  # every process's cache has let it go
        await _refused(await c.account(), 401, "unknown_key")
        blocked = await admin.call("operations", "POST", f"/v1/agents/{partner.id}/block")
        assert blocked.status_code == 200, blocked.text
        await trio.sleep(cfg.key_refresh_s + 0.2)
        await _refused(
            await second.pay("X-1", "UPPCL", "1234567890", 100_00), 403, "partner_blocked"
        )
    listed = (await admin.call("auditor", "GET", "/v1/partners")).json()["items"]
    assert [(k["key_id"], k["state"]) for k in listed[0]["keys"]] == [
        (partner.creds.key_id, "revoked"),
        (f"{partner.id}-K2", "active"),
    ]
    forbidden = await admin.call(
        "support",
        "POST",
        "/v1/partners",
        json={"name": "X", "mobile": "9876501234", "institution": "bank"},
    )
    assert forbidden.status_code == 403
