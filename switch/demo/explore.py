"""A demo that stays up to be explored (``switch demo --keep-running``): after its run
and its end of day, the billers, the SMS gateway and the switch keep serving until
Ctrl-C, with a staff login for the back office and the admin API, a
``prometheus.yml`` for its metrics, and the addresses printed. The fleet has stopped,
so a person's own terminal (or locust, with ``--spare-terminals`` credentials the
fleet never used) has the switch to itself.
"""

from __future__ import annotations

import json
import secrets
import signal
from pathlib import Path
from typing import Any

import trio
from rich.console import Console

from switch.config import Config
from switch.db.database import Database
from switch.demo.setup import DemoStack

STAFF_LOGIN = "demo-admin"


async def prepare(demo: DemoStack, cfg: Config) -> dict[str, Any]:
    """The staff login and the Prometheus configuration; what to print."""
    from switch.admin.auth import Auth  # FastAPI: only when the demo stays up
    from switch.admin.users import create_user

    password = secrets.token_urlsafe(12) + "9"
    async with Database.open(demo.database_url, 2) as db:
        await create_user(
            db, Auth(db, cfg.admin), "demo", STAFF_LOGIN, "admin", "9000000000", password
        )
    ports = demo.stack.ports
    return {
        "terminals": f"127.0.0.1:{demo.port}",
        "office": f"http://127.0.0.1:{ports['switch_admin']}/office/",
        "admin_api": f"http://127.0.0.1:{ports['switch_admin']}/v1/docs",
        "metrics": f"http://127.0.0.1:{demo.metrics_port}/metrics",
        "staff_login": {"username": STAFF_LOGIN, "password": password},
        "prometheus_yml": str(write_prometheus_yml(demo)),
        "credentials_dir": str(demo.credentials_dir),
        "spare_credentials_dir": str(demo.spare_credentials_dir or ""),
        "cli": "switch --demo <command>",
    }


def write_prometheus_yml(demo: DemoStack) -> Path:
    """A scrape configuration for every process of the demo, on its real ports."""
    config = {
        "global": {"scrape_interval": "5s"},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
            for job, port in demo.metrics_targets().items()
        ],
    }
    path = demo.workdir / "prometheus.yml"
    path.write_text(json.dumps(config, indent=2) + "\n")  # JSON is YAML: no YAML writer
    return path


def print_info(info: dict[str, Any], console: Console) -> None:
    login = info["staff_login"]
    lines = [
        "[bold]the demo stays up[/] until Ctrl-C:",
        f"  back office {info['office']}  (login {login['username']} / {login['password']})",
        f"  admin API   {info['admin_api']}  (the same login)",
        f"  metrics     {info['metrics']}  (--config.file={info['prometheus_yml']})",
        f"  terminals   {info['terminals']}  (credentials in {info['credentials_dir']})",
    ]
    if info["spare_credentials_dir"]:
        lines.append(f"  spare terminals the fleet never used: {info['spare_credentials_dir']}")
    lines += [f"  commands    {info['cli']}", "ready"]
    for line in lines:  # whole lines: a person copies the addresses out of them
        console.print(line, soft_wrap=True, highlight=False)


async def until_stopped() -> None:
    """Wait for SIGINT or SIGTERM."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            return
