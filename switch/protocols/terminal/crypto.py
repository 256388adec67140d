"""The handshake's and the frames' cryptography, in one place.

Handshake (docs/protocol.md, "Handshake"), with CH and SH the exact wire bytes of the
hello and server_hello frames, length prefixes included:

    server signs   Ed25519(switch key,   SHA-256("bill-switch/v1/server" || CH || eph_s))
    terminal signs Ed25519(terminal key, SHA-256("bill-switch/v1/terminal" || CH || SH))
    keys           HKDF-SHA256(ikm = X25519(eph_t, eph_s), salt = SHA-256(CH || SH),
                               info = "bill-switch/v1/keys", length = 64)
                   k_t2s = keys[0:32], k_s2t = keys[32:64]

Every later frame: tag = HMAC-SHA256(k_direction, prefix || payload), appended to the
payload; the prefix counts the tag too.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

TAG_BYTES = 32
SERVER_LABEL = b"bill-switch/v1/server"
TERMINAL_LABEL = b"bill-switch/v1/terminal"
KEYS_INFO = b"bill-switch/v1/keys"


def server_transcript(client_hello: bytes, server_eph: bytes) -> bytes:
    return hashlib.sha256(SERVER_LABEL + client_hello + server_eph).digest()


def terminal_transcript(client_hello: bytes, server_hello: bytes) -> bytes:
    return hashlib.sha256(TERMINAL_LABEL + client_hello + server_hello).digest()


def session_keys(
    own_eph: X25519PrivateKey, peer_eph: bytes, client_hello: bytes, server_hello: bytes
) -> tuple[bytes, bytes]:
    """(k_t2s, k_s2t) from the X25519 exchange, bound to the whole handshake."""
    shared = own_eph.exchange(X25519PublicKey.from_public_bytes(peer_eph))
    okm = HKDF(
        algorithm=SHA256(),
        length=64,
        salt=hashlib.sha256(client_hello + server_hello).digest(),
        info=KEYS_INFO,
    ).derive(shared)
    return okm[:32], okm[32:]


def public_bytes(key: X25519PrivateKey | Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def tag(key: bytes, data: bytes) -> bytes:
    return hmac.digest(key, data, "sha256")


def tag_ok(key: bytes, data: bytes, received: bytes) -> bool:
    return hmac.compare_digest(hmac.digest(key, data, "sha256"), received)
