"""docs/protocol.md is the contract: its generated parts match the code, and its
worked examples verify with nothing but the formulas the document states."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path

import msgpack
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from switch.protocols.terminal.docs import fill

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def test_the_document_holds_what_the_code_produces_byte_for_byte() -> None:
    text = DOC.read_text()
    assert fill(text) == text, "run: python -m switch.protocols.terminal.docs docs/protocol.md"


def frames_from_doc() -> dict[str, bytes]:
    text = DOC.read_text().split("<!-- examples:begin -->")[1]
    frames = {}
    for title, dump in re.findall(r"\*\*(\w+)[^*]*\*\* \([^)]*\)\n\n```\n(.*?)```", text, re.S):
        hexes = "".join(line[6:53] for line in dump.splitlines())
        frames[title] = bytes.fromhex(hexes.replace(" ", ""))
    keys = dict(re.findall(r"^(k_t2s|k_s2t|digest the \w+ signs)\s+([0-9a-f]{64})$", text, re.M))
    frames |= {name: bytes.fromhex(value) for name, value in keys.items()}
    return frames


def test_a_third_party_can_verify_the_examples_from_the_spec_alone() -> None:
    f = frames_from_doc()
    ch, sh, auth = f["hello"], f["server_hello"], f["auth"]
    hello = msgpack.unpackb(ch[4:])
    server_hello = msgpack.unpackb(sh[4:])
    # Public keys derived from the documented test seeds.
    switch_key = Ed25519PrivateKey.from_private_bytes(bytes(range(32))).public_key()
    terminal_key = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64))).public_key()
    switch_key.verify(
        server_hello["sig"],
        hashlib.sha256(b"bill-switch/v1/server" + ch + server_hello["eph"]).digest(),
    )
    terminal_key.verify(
        msgpack.unpackb(auth[4:])["sig"],
        hashlib.sha256(b"bill-switch/v1/terminal" + ch + sh).digest(),
    )
    shared = X25519PrivateKey.from_private_bytes(bytes(range(64, 96))).exchange(
        X25519PublicKey.from_public_bytes(server_hello["eph"])
    )
    okm = HKDF(SHA256(), 64, hashlib.sha256(ch + sh).digest(), b"bill-switch/v1/keys").derive(
        shared
    )
    assert (okm[:32], okm[32:]) == (f["k_t2s"], f["k_s2t"])
    assert hello["tid"] == "T00000001" and hello["v"] == 1
    # The digests shown are exactly what the signatures are over.
    assert (
        f["digest the switch signs"]
        == hashlib.sha256(b"bill-switch/v1/server" + ch + server_hello["eph"]).digest()
    )
    assert (
        f["digest the terminal signs"]
        == hashlib.sha256(b"bill-switch/v1/terminal" + ch + sh).digest()
    )
    # MACed frames: tag over prefix || payload with the direction's key; seq counts per side.
    for name, key, seq in (
        ("welcome", okm[32:], 1),
        ("fetch_bill", okm[:32], 1),
        ("bill", okm[32:], 2),
    ):
        wire = f[name]
        assert int.from_bytes(wire[:4], "big") == len(wire) - 4
        assert hmac.compare_digest(hmac.digest(key, wire[:-32], "sha256"), wire[-32:]), name
        assert msgpack.unpackb(wire[4:-32])["seq"] == seq


def test_the_documented_credentials_file_holds_the_example_keys() -> None:
    text = DOC.read_text().split("<!-- examples:begin -->")[1]
    creds = json.loads(re.search(r"```json\n(.*?)```", text, re.S)[1])
    seed = bytes.fromhex(creds["private_key"])
    assert len(seed) == 32 and seed == bytes(range(32, 64))  # the Ed25519 seed itself
    switch_pub = Ed25519PrivateKey.from_private_bytes(bytes(range(32))).public_key()
    assert bytes.fromhex(creds["switch_public_key"]) == switch_pub.public_bytes_raw()
    assert set(creds) == {"terminal_id", "agent_id", "private_key", "switch_public_key", "address"}
    from switch.provisioning.credentials import Credentials

    assert Credentials.from_dict(creds).terminal_id == "T00000001"  # the switch's own reader
