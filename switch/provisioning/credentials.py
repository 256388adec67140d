"""A terminal's credentials file: what a device needs to reach and prove itself.

JSON, mode 0600: terminal id, agent id, the terminal's Ed25519 private key (hex),
the switch's public key (hex) and the switch's address (host:port).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat


@dataclass(frozen=True)
class Credentials:
    terminal_id: str
    agent_id: str
    private_key: bytes
    switch_public_key: bytes
    address: str

    @property
    def signing_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.private_key)

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.address.rpartition(":")
        return host, int(port)

    @classmethod
    def issue(
        cls,
        terminal_id: str,
        agent_id: str,
        key: Ed25519PrivateKey,
        switch_key: bytes,
        address: str,
    ) -> Credentials:
        raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return cls(terminal_id, agent_id, raw, switch_key, address)

    def as_dict(self) -> dict[str, str]:
        """The file's content (the admin API hands it out for the device)."""
        return {
            "terminal_id": self.terminal_id,
            "agent_id": self.agent_id,
            "private_key": self.private_key.hex(),
            "switch_public_key": self.switch_public_key.hex(),
            "address": self.address,
        }

    def write(self, path: Path) -> None:
        body = self.as_dict()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(body, f, indent=2)
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> Credentials:
        return cls.from_dict(json.loads(path.read_text()))

    @classmethod
    def from_dict(cls, body: dict[str, str]) -> Credentials:
        """The inverse of ``as_dict`` (a file's content, or the admin API's answer)."""
        return cls(
            body["terminal_id"],
            body["agent_id"],
            bytes.fromhex(body["private_key"]),
            bytes.fromhex(body["switch_public_key"]),
            body["address"],
        )

    @classmethod
    def read_dir(cls, folder: Path) -> list[Credentials]:
        return [cls.read(p) for p in sorted(folder.glob("*.json"))]
