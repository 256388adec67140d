"""The worked examples of docs/protocol.md, produced by the real codec.

    python -m switch.protocols.terminal.examples     # prints the examples section

Fixed test keys make every byte reproducible (Ed25519 signatures are deterministic;
the X25519 ephemeral keys are fixed here, random in real sessions). A test checks
that docs/protocol.md holds exactly what this prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from switch.catalogue import entries as catalogue
from switch.config import BillerConfig
from switch.protocols.terminal import crypto
from switch.protocols.terminal.session import (
    Authenticated,
    ClientSession,
    HelloReceived,
    Message,
    Request,
    ServerSession,
    ServerVerified,
    SessionLimits,
)

SWITCH_SEED = bytes(range(0, 32))
TERMINAL_SEED = bytes(range(32, 64))
TERMINAL_EPH = bytes(range(64, 96))
SWITCH_EPH = bytes(range(96, 128))
TERMINAL_ID = "T00000001"
WELCOME = {
    "type": "welcome",
    "terminal": TERMINAL_ID,
    "agent": "AG000001",
    "time_ms": 1767225600000,
}
FETCH = {"type": "fetch_bill", "rid": 1, "biller": "UPPCL", "account": "1234567890"}
BILL = {
    "type": "bill",
    "rid": 1,
    "biller": "UPPCL",
    "account": "1234567890",
    "name": "Consumer 7890",
    "amount_paise": 311500,
    "due_date": "2026-01-16",
    "bill_number": "B1234567890",
}


# A one-biller catalogue: the answer to a terminal that holds no version yet.
EXAMPLE_BILLER = BillerConfig(id="UPPCL", name="UP Power", kind="electricity", region="Purvanchal")
CATALOGUE = catalogue.build([EXAMPLE_BILLER])
ASK_CATALOGUE = {"type": "catalogue", "rid": 2}


@dataclass(frozen=True)
class Step:
    title: str
    direction: str
    wire: bytes


def transcript() -> tuple[list[Step], dict[str, bytes]]:
    switch_key = Ed25519PrivateKey.from_private_bytes(SWITCH_SEED)
    terminal_key = Ed25519PrivateKey.from_private_bytes(TERMINAL_SEED)
    server = ServerSession(
        switch_key, SessionLimits(30, 8, 16384), X25519PrivateKey.from_private_bytes(SWITCH_EPH)
    )
    client = ClientSession(
        TERMINAL_ID,
        terminal_key,
        crypto.public_bytes(switch_key),
        X25519PrivateKey.from_private_bytes(TERMINAL_EPH),
    )
    steps = []
    hello = client.start()
    steps.append(Step("hello", "terminal -> switch", hello))
    server.receive_data(hello)
    assert isinstance(server.next_event(), HelloReceived)
    server_hello = server.accept_hello(crypto.public_bytes(terminal_key))
    steps.append(Step("server_hello", "switch -> terminal", server_hello))
    client.receive_data(server_hello)
    verified = client.next_event()
    assert isinstance(verified, ServerVerified)
    steps.append(Step("auth", "terminal -> switch", verified.reply))
    server.receive_data(verified.reply)
    assert isinstance(server.next_event(), Authenticated)
    welcome = server.send(WELCOME)
    steps.append(Step("welcome (seq 1, first MACed frame)", "switch -> terminal", welcome))
    client.receive_data(welcome)
    assert isinstance(client.next_event(), Message)
    fetch = client.send(FETCH)
    steps.append(Step("fetch_bill (seq 1)", "terminal -> switch", fetch))
    server.receive_data(fetch)
    assert isinstance(server.next_event(), Request)
    bill = server.send(BILL)
    steps.append(Step("bill (seq 2)", "switch -> terminal", bill))
    client.receive_data(bill)
    assert isinstance(client.next_event(), Message)
    exchanges = [
        ("catalogue (seq 2)", ASK_CATALOGUE, "catalogue (seq 3)", CATALOGUE.answer(None)),
        (
            "catalogue with the version held (seq 3)",
            {**ASK_CATALOGUE, "rid": 3, "version": CATALOGUE.version},
            "catalogue, unchanged (seq 4)",
            CATALOGUE.answer(CATALOGUE.version),
        ),
    ]
    for ask_title, ask, answer_title, answer in exchanges:
        wire = client.send(ask)
        steps.append(Step(ask_title, "terminal -> switch", wire))
        server.receive_data(wire)
        assert isinstance(server.next_event(), Request)
        wire = server.send({**answer, "rid": ask["rid"]})
        steps.append(Step(answer_title, "switch -> terminal", wire))
        client.receive_data(wire)
        assert isinstance(client.next_event(), Message)
    t2s, s2t = crypto.session_keys(
        X25519PrivateKey.from_private_bytes(TERMINAL_EPH),
        crypto.public_bytes(X25519PrivateKey.from_private_bytes(SWITCH_EPH)),
        hello,
        server_hello,
    )
    keys = {
        "switch Ed25519 public key": crypto.public_bytes(switch_key),
        "terminal Ed25519 public key": crypto.public_bytes(terminal_key),
        "terminal X25519 ephemeral public key": crypto.public_bytes(
            X25519PrivateKey.from_private_bytes(TERMINAL_EPH)
        ),
        "switch X25519 ephemeral public key": crypto.public_bytes(
            X25519PrivateKey.from_private_bytes(SWITCH_EPH)
        ),
        # What Ed25519 signs: these 32-byte digests (section 4), not the transcripts.
        "digest the switch signs": crypto.server_transcript(
            hello, crypto.public_bytes(X25519PrivateKey.from_private_bytes(SWITCH_EPH))
        ),
        "digest the terminal signs": crypto.terminal_transcript(hello, server_hello),
        "k_t2s": t2s,
        "k_s2t": s2t,
    }
    return steps, keys


def hexdump(data: bytes) -> str:
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off : off + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:04x}  {hexes:<47}  {text}")
    return "\n".join(lines)


def render() -> str:
    steps, keys = transcript()
    out = [
        "Test keys (never use them for anything else): switch Ed25519 seed = bytes 00..1f,",
        "terminal Ed25519 seed = bytes 20..3f, terminal X25519 ephemeral private key =",
        "bytes 40..5f, switch X25519 ephemeral private key = bytes 60..7f; terminal id",
        f"`{TERMINAL_ID}`; limits hb_s=30, max_in_flight=8, max_frame=16384.",
        "",
        "```",
    ]
    out += [f"{name:<38} {value.hex()}" for name, value in keys.items()]
    out.append("```")
    out += [
        "",
        "The terminal's credentials file for these keys (section 8a):",
        "",
        "```json",
        json.dumps(
            {
                "terminal_id": TERMINAL_ID,
                "agent_id": "AG000001",
                "private_key": TERMINAL_SEED.hex(),
                "switch_public_key": keys["switch Ed25519 public key"].hex(),
                "address": "127.0.0.1:7400",
            },
            indent=2,
        ),
        "```",
    ]
    for step in steps:
        out += ["", f"**{step.title}** ({step.direction}, {len(step.wire)} bytes)", "", "```"]
        out.append(hexdump(step.wire))
        out.append("```")
    out += [
        "",
        "The body of the first catalogue answer, as JSON (its frame is above):",
        "",
        "```json",
        json.dumps({**CATALOGUE.answer(None), "rid": 2}, indent=2, ensure_ascii=False),
        "```",
    ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render(), end="")
