"""Small helpers shared by the embedded PostgreSQL and Redis managers."""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# sun_path is 108 bytes on Linux including the terminating NUL.
MAX_UNIX_SOCKET_PATH = 100


class ServiceError(Exception):
    """An embedded server could not be started, reached or stopped."""


def socket_dir_for(data_dir: Path, name: str) -> Path:
    """A directory for a unix socket whose full path fits in sun_path.

    Prefer the data directory itself; when its path is too long (deep test temp
    dirs), use a short directory under /tmp named after a hash of the data dir, so
    the same data dir always maps to the same socket.
    """
    if len(str(data_dir / name)) <= MAX_UNIX_SOCKET_PATH:
        return data_dir
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    short = Path(tempfile.gettempdir()) / f"bsw-{digest}"
    short.mkdir(mode=0o777, exist_ok=True)
    short.chmod(0o777)
    return short


def free_tcp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def port_or_free(preferred: int, host: str = "127.0.0.1") -> int:
    """``preferred`` if nothing listens there now, else any free port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, preferred))
        except OSError:
            return free_tcp_port(host)
    return preferred


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs. A zombie (dead, not yet reaped by whoever adopted it:
    a SIGKILLed server's postmaster, say) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here: signal 0 is all we know
    return stat[stat.rindex(")") + 2 :][:1] not in ("Z", "X")


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``predicate`` every 50 ms until it holds or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise ServiceError(f"timed out after {timeout_s:.0f}s waiting for {what}")
