"""The bill reference: what a fetch gives a terminal, and a pay brings back.

A bill reference is a short signed token, not a row: a fetch writes nothing to the
database (a fetch is as frequent as a pay, and most bills are never paid). It binds
the biller, the consumer (account and parameters), the amount the biller said was
due, and a deadline. The switch checks it at pay: its tag, then that it names this
biller and consumer, then the amount against the biller's amount rule. Its key is
derived from the switch's identity key, so every switch node sharing that identity
reads the others' references.

    v1.<base64url(msgpack([biller, account digest, due paise, expires at s]))>.<tag>

The tag is HMAC-SHA256 over the part before it, cut to 16 bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

import msgpack

TTL_S = 30 * 60  # a bill shown to a consumer stays payable for half an hour
TAG_BYTES = 16
PREFIX = "v1."


class BadBillRef(Exception):
    """Not a reference this switch issued, or altered since."""


@dataclass(frozen=True)
class BillRef:
    biller_id: str
    consumer: bytes  # params.digest of the account and parameters
    due_paise: int
    expires_at_s: int

    def expired(self, now_s: float) -> bool:
        return now_s >= self.expires_at_s


class BillRefs:
    def __init__(self, identity_seed: bytes) -> None:
        key = hmac.new(identity_seed, b"bill reference key v1", hashlib.sha256).digest()
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)  # copied per tag: no re-keying

    def issue(self, biller_id: str, consumer: bytes, due_paise: int, now_s: float) -> str:
        fields = [biller_id, consumer, due_paise, int(now_s) + TTL_S]
        body = PREFIX + _b64(msgpack.packb(fields))
        return f"{body}.{_b64(self._tag(body))}"

    def read(self, token: str) -> BillRef:
        body, _, tag = token.rpartition(".")
        if not body.startswith(PREFIX):
            raise BadBillRef("not a bill reference")
        try:
            given = _unb64(tag)
            fields = msgpack.unpackb(_unb64(body[len(PREFIX) :]))
        except (ValueError, binascii.Error, msgpack.UnpackException) as exc:
            raise BadBillRef("not a bill reference") from exc
        if not hmac.compare_digest(given, self._tag(body)):
            raise BadBillRef("the bill reference was altered")
        biller_id, consumer, due_paise, expires_at_s = fields
        return BillRef(biller_id, consumer, due_paise, expires_at_s)

    def _tag(self, body: str) -> bytes:
        mac = self._keyed.copy()
        mac.update(body.encode())
        return mac.digest()[:TAG_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
