"""A partner's client of the switch's partner API: every request signed with the
partner's Ed25519 key (switch/partners/signing.py has the rules), a fresh nonce each.
It speaks HTTP/1.1 through the switch's own small client (llhttp, a keep-alive pool):
a load of it costs far less than the switch it loads, where httpx cost about as much.

    async with PartnerClient.from_file(path, url) as partner:
        bill = await partner.fetch("UPPCL", "UP0000000001")
        r = await partner.pay("ORDER-1", "UPPCL", bill.json()["account"], 120_00,
                              bill_ref=bill.json()["bill_ref"])
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switch.partners.signing import sign
from switch.protocols.http11 import HttpClient

PREFIX = "/partner/v1"


@dataclass(frozen=True)
class PartnerCredentials:
    partner_id: str
    key_id: str
    private_key: Ed25519PrivateKey

    @classmethod
    def from_answer(cls, key: dict[str, Any]) -> PartnerCredentials:
        """From the admin API's answer to onboarding (its ``key``) or to a new key."""
        raw = base64.b64decode(key["private_key_b64"])
        return cls(key["partner_id"], key["key_id"], Ed25519PrivateKey.from_private_bytes(raw))

    @classmethod
    def from_file(cls, path: Path) -> PartnerCredentials:
        return cls.from_answer(json.loads(path.read_text()))


@dataclass(frozen=True)
class Answer:
    """The switch's answer: its status and JSON body."""

    status_code: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


class PartnerClient:
    def __init__(self, creds: PartnerCredentials, base_url: str, timeout_s: float = 30.0) -> None:
        self.creds = creds
        self.base_url = base_url
        self._http = HttpClient(base_url, max_connections=256, timeout_s=timeout_s)
        self.clock_offset_ms = 0  # tests move the partner's clock

    async def __aenter__(self) -> PartnerClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._http.aclose()

    def headers(
        self, method: str, path: str, body: bytes, nonce: str | None = None
    ) -> dict[str, str]:
        now_ms = int(time.time() * 1000) + self.clock_offset_ms
        return sign(
            self.creds.private_key,
            self.creds.key_id,
            method,
            path,
            body,
            now_ms,
            nonce or secrets.token_urlsafe(18),
        )

    async def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Answer:
        raw = b"" if body is None else json.dumps(body).encode()
        headers = self.headers(method, PREFIX + path, raw)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return await self.send_raw(method, path, raw, headers)

    async def send_raw(
        self, method: str, path: str, content: bytes, headers: dict[str, str]
    ) -> Answer:
        """A request exactly as given (tests: tampered, replayed, unsigned); a body is
        sent as application/json."""
        extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        r = await self._http.request(method, PREFIX + path, content, extra)
        return Answer(r.status, r.body)

    async def catalogue(self, version: str | None = None) -> Answer:
        return await self.request("GET", "/catalogue" + (f"?version={version}" if version else ""))

    async def fetch(
        self, biller: str, account: str, params: dict[str, str] | None = None
    ) -> Answer:
        body = {"biller": biller, "account": account, "params": params or {}}
        return await self.request("POST", "/bills/fetch", body)

    async def pay(
        self,
        key: str,
        biller: str,
        account: str,
        amount_paise: int,
        *,
        bill_ref: str | None = None,
        params: dict[str, str] | None = None,
        mobile: str | None = None,
    ) -> Answer:
        body: dict[str, Any] = {"biller": biller, "account": account, "amount_paise": amount_paise}
        if bill_ref is not None:
            body["bill_ref"] = bill_ref
        if params:
            body["params"] = params
        if mobile is not None:
            body["mobile"] = mobile
        return await self.request("POST", "/pays", body, idempotency_key=key)

    async def status(self, key: str) -> Answer:
        return await self.request("GET", f"/pays/{key}")

    async def account(self) -> Answer:
        return await self.request("GET", "/account")

    async def complain(self, key: str, ref: str, category: str, description: str) -> Answer:
        body = {"ref": ref, "category": category, "description": description}
        return await self.request("POST", "/complaints", body, idempotency_key=key)

    async def complaint(self, complaint_id: int) -> Answer:
        return await self.request("GET", f"/complaints/{complaint_id}")
