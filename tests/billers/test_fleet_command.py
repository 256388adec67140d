"""``switch sim fleet`` as the README runs it by hand: against a discom simulator, it
pays the simulator's own consumers; when nothing can be paid it says why and fails."""

from __future__ import annotations

import json
import os
from pathlib import Path

import trio

from tests.billers.conftest import World
from tests.helpers import agent_with_terminals, switch_cli


async def fleet(world: World, creds_dir: Path, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCH_")}
    done = await trio.to_thread.run_sync(
        lambda: switch_cli(
            env, "sim", "fleet", "--credentials-dir", str(creds_dir), "--duration", "3", *args
        )
    )
    return done.returncode, done.stdout, done.stderr


async def test_the_fleet_pays_the_simulators_own_consumers(world: World, tmp_path: Path) -> None:
    await agent_with_terminals(world.switch, 2, wallet_paise=50_000_00, out_dir=tmp_path / "creds")
    rc, out, err = await fleet(world, tmp_path / "creds", "--accounts", "200")
    figures = json.loads(out)
    assert rc == 0, err
    assert figures["pays_ok"] > 0 and figures["fetch_failures"].get("unknown_consumer", 0) == 0
    rc, out, err = await fleet(world, tmp_path / "creds", "--biller", "NOSUCH")
    assert rc == 1 and json.loads(out)["pays_ok"] == 0
    assert "no pay succeeded" in err and "unknown_biller" in err and "Traceback" not in err
