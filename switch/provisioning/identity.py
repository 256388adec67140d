"""The switch's Ed25519 identity: it signs every handshake; terminals hold its public key.

Kept in a file (PEM, PKCS#8, mode 0600) created on first use. Losing it means
re-issuing every terminal's credentials file, so back it up with the database.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from switch.config import Config


def identity_path(cfg: Config) -> Path:
    if cfg.terminals.identity_key_file:
        return Path(cfg.terminals.identity_key_file).expanduser()
    return cfg.services.resolved_data_dir() / "switch-identity.key"


def load_or_create(path: Path) -> Ed25519PrivateKey:
    if path.exists():
        key = load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key
