"""The README's by-hand path, run as a newcomer would paste it: the commands are read
from the README itself (only the fleet's duration is shortened), so the two cannot
drift apart. It must end with pays made, and leave no process behind."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def by_hand_commands() -> list[str]:
    text = README.read_text()
    block = text.split("By hand, the same path as the demo:", 1)[1].split("```sh", 1)[1]
    block = block.split("```", 1)[0]
    lines = [line.split("#", 1)[0].rstrip() for line in block.splitlines()]
    return [line for line in lines if line.strip()]


def test_the_by_hand_path_pays_bills(tmp_path: Path) -> None:
    commands = by_hand_commands()
    assert commands[0].startswith("switch agent add") and "sim fleet" in commands[-1]
    fleet = re.sub(r"--duration \d+", "--duration 8", commands[-1])
    script = "\n".join(
        [
            "set -e",
            "trap 'kill $(jobs -p) 2>/dev/null; wait; switch db stop >/dev/null' EXIT",
            *commands[:-1],
            f"{fleet} > fleet.json",
        ]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCH_")}
    env["SWITCH_DATA_DIR"] = str(tmp_path / "data")
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    figures = json.loads((tmp_path / "fleet.json").read_text())
    assert figures["terminals"] == 10 and figures["pays_ok"] > 0, figures
