"""Operations tests: the Prometheus tools come from Debian's `prometheus` package,
which .ci/run installs when apt is available. Without them those tests say so."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from switch.protocols.http11 import HttpClient
from tests.billers.conftest import (  # noqa: F401  (the switch with real simulators)
    biller_timeout_s,
    world,
)

OPS = Path(__file__).resolve().parents[2] / "ops"
NO_PROMETHEUS = "promtool/prometheus not installed: `apt-get install prometheus` (.ci/run does)"


@pytest.fixture
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip(NO_PROMETHEUS)
    return path


def promtool_check_metrics(promtool: str, exposition: bytes) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, "check", "metrics"],
        input=exposition.decode(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def get(port: int, path: str) -> tuple[int, bytes]:
    client = HttpClient(f"http://127.0.0.1:{port}", max_connections=1, timeout_s=10)
    try:
        r = await client.get(path)
        return r.status, r.body
    finally:
        await client.aclose()
