"""How a partner signs a request, and how the switch checks it: pure functions.

Every request to ``/partner/v1`` carries four headers:

    X-Partner-Key    the key's id (a partner may hold several keys while it rolls them)
    X-Timestamp      milliseconds since the Unix epoch, when the request was signed
    X-Nonce          16-64 of A-Z a-z 0-9 _ -, never used before with this key
    X-Signature      base64 of Ed25519(private key, SHA-256 of the string to sign)

The string to sign binds everything that decides what the request does:

    "bill-switch/partner/v1" LF method LF path-and-query LF timestamp LF nonce LF
    key id LF hex(SHA-256(body))

so a signature cannot be moved to another path, another body, another key or
another moment. The body is hashed exactly as sent (the bytes, not a re-encoding of
its JSON). Rules, in the order they are checked:

1. All four headers present and well formed, else ``unsigned``.
2. The timestamp within ``max_skew_s`` of the switch's clock, else ``stale_request``
   (a partner whose clock drifts is told so, not silently refused).
3. The key known, active, and its partner active, else ``unknown_key`` or
   ``partner_blocked``.
4. The signature verifies, else ``bad_signature``.
5. The (key, nonce) pair not seen within the skew window, else ``replayed``: a
   request captured on the wire cannot be sent again. Only a request that passed
   1-4 spends its nonce, so a forger cannot burn a partner's nonces.

Ed25519 rather than HMAC: the switch stores only public keys (as for terminals), so a
copy of its database signs nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

LABEL = "bill-switch/partner/v1"
KEY_HEADER = "x-partner-key"
TIMESTAMP_HEADER = "x-timestamp"
NONCE_HEADER = "x-nonce"
SIGNATURE_HEADER = "x-signature"
KEY_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
NONCE_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
TIMESTAMP_RE = re.compile(r"[0-9]{1,15}")
SIGNATURE_BYTES = 64


class SignatureRefused(Exception):
    """A request whose signature headers fail one of the rules; ``code`` says which."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Signed:
    """The signature headers of a request, well formed (rule 1)."""

    key_id: str
    timestamp_ms: int
    nonce: str
    signature: bytes


def string_to_sign(
    method: str, path: str, timestamp_ms: int, nonce: str, key_id: str, body: bytes
) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join(
        (LABEL, method.upper(), path, str(timestamp_ms), nonce, key_id, digest)
    ).encode()


def sign(
    key: Ed25519PrivateKey,
    key_id: str,
    method: str,
    path: str,
    body: bytes,
    timestamp_ms: int,
    nonce: str,
) -> dict[str, str]:
    """The four headers for a request (what a partner's client does)."""
    message = hashlib.sha256(
        string_to_sign(method, path, timestamp_ms, nonce, key_id, body)
    ).digest()
    return {
        "X-Partner-Key": key_id,
        "X-Timestamp": str(timestamp_ms),
        "X-Nonce": nonce,
        "X-Signature": base64.b64encode(key.sign(message)).decode(),
    }


def parse(headers: Mapping[str, str]) -> Signed:
    """Rule 1: the four headers, well formed (``headers`` keyed in lower case)."""
    key_id = headers.get(KEY_HEADER)
    timestamp = headers.get(TIMESTAMP_HEADER)
    nonce = headers.get(NONCE_HEADER)
    signature = headers.get(SIGNATURE_HEADER)
    if key_id is None or timestamp is None or nonce is None or signature is None:
        missing = [
            h
            for h, v in (
                ("X-Partner-Key", key_id),
                ("X-Timestamp", timestamp),
                ("X-Nonce", nonce),
                ("X-Signature", signature),
            )
            if v is None
        ]
        raise SignatureRefused("unsigned", f"missing {', '.join(missing)}")
    if not KEY_ID_RE.fullmatch(key_id):
        raise SignatureRefused("unsigned", "X-Partner-Key: 1-32 of A-Z a-z 0-9 _ -")
    if not TIMESTAMP_RE.fullmatch(timestamp):
        raise SignatureRefused("unsigned", "X-Timestamp: milliseconds since the epoch")
    if not NONCE_RE.fullmatch(nonce):
        raise SignatureRefused("unsigned", "X-Nonce: 16-64 of A-Z a-z 0-9 _ -")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureRefused("unsigned", "X-Signature: base64 of 64 bytes") from exc
    if len(raw) != SIGNATURE_BYTES:
        raise SignatureRefused("unsigned", "X-Signature: base64 of 64 bytes")
    return Signed(key_id, int(timestamp), nonce, raw)


def check_time(signed: Signed, now_ms: int, max_skew_s: float) -> None:
    """Rule 2: signed within ``max_skew_s`` of now, either way."""
    skew_s = abs(now_ms - signed.timestamp_ms) / 1000
    if skew_s > max_skew_s:
        raise SignatureRefused(
            "stale_request",
            f"X-Timestamp is {skew_s:.0f} s from the switch's clock (at most {max_skew_s:.0f})",
        )


def check_signature(signed: Signed, public_key: bytes, method: str, path: str, body: bytes) -> None:
    """Rule 4: the signature is the key's, over this method, path, body and moment."""
    message = hashlib.sha256(
        string_to_sign(method, path, signed.timestamp_ms, signed.nonce, signed.key_id, body)
    ).digest()
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signed.signature, message)
    except InvalidSignature as exc:
        raise SignatureRefused("bad_signature", "the signature does not verify") from exc
