"""Short signed links in SMS: a pay's receipt (``<base>/r/<txn>-<tag>``) and a bill's
payment link (``<base>/l/<link>-<tag>``).

A consumer has no login, so the link is the permission: the tag is an HMAC-SHA256 of
the txn id under a key derived from the switch's identity (every node sharing the
identity makes and reads the same links), cut to 12 base64url characters (72 bits:
guessing one for a given txn takes about 2^71 tries, each a request the switch
answers 404). It names a receipt only, never anything that moves money.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

TAG_CHARS = 12
CODE_RE = re.compile(r"([1-9][0-9]{0,17})-([A-Za-z0-9_-]{12})")


class SignedLinks:
    """Links ``<base>/<path>/<id>-<tag>`` for one purpose: the key is derived per
    purpose, so a receipt's tag never opens a payment link of the same number."""

    def __init__(
        self, identity_seed: bytes, base_url: str, purpose: str = "receipt", path: str = "r"
    ) -> None:
        label = f"{purpose} link key v1".encode()
        self._key = hmac.new(identity_seed, label, hashlib.sha256).digest()
        self._purpose = purpose
        self._path = path
        self.base_url = base_url.rstrip("/")

    def _tag(self, txn_id: int) -> str:
        message = f"{self._purpose}:{txn_id}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:TAG_CHARS]

    def code(self, txn_id: int) -> str:
        return f"{txn_id}-{self._tag(txn_id)}"

    def url(self, txn_id: int) -> str:
        return f"{self.base_url}/{self._path}/{self.code(txn_id)}"

    def read(self, code: str) -> int | None:
        """The txn a code names, or None (malformed, or a tag that is not ours)."""
        m = CODE_RE.fullmatch(code)
        if m is None:
            return None
        txn_id = int(m.group(1))
        return txn_id if hmac.compare_digest(m.group(2), self._tag(txn_id)) else None


ReceiptLinks = SignedLinks  # purpose "receipt", at /r/


def pay_links(identity_seed: bytes, base_url: str) -> SignedLinks:
    """The links a payment-link SMS carries: ``<base>/l/<link id>-<tag>``."""
    return SignedLinks(identity_seed, base_url, "pay", "l")
