"""The demo's world, ready for load: services, two billers and an SMS gateway, the
switch, and provisioned terminals with funded wallets (credentials files written).

``switch demo`` drives it with the trio fleet; load tests (locust) and the operations
tests (a real Prometheus scraping it) use the same stack. Everything started here is
stopped on the way out, Ctrl-C included; the embedded PostgreSQL and Redis too if
this was the one to start them.
"""

from __future__ import annotations

import json
import secrets
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import trio
from rich.console import Console

from switch.config import Config
from switch.db.database import Database
from switch.db.migrate import migrate
from switch.demo.stack import Stack
from switch.ledger import Ledger
from switch.partners.store import PARTNER_MAX_BALANCE_PAISE, add_partner
from switch.pays.topups import top_up
from switch.protocols.terminal.crypto import public_bytes
from switch.provisioning.credentials import Credentials
from switch.provisioning.fleet import provision_fleet
from switch.provisioning.identity import load_or_create
from switch.services import ensure_running, postgres
from switch.services import redis as redis_service
from switch.services import stop as stop_services
from switch.services.common import port_or_free

DEMO_DB = "switch_demo"
DISCOM_ACCOUNTS = 50_000
WATER_ACCOUNTS = 20_000
WALLET_PAISE = 5_00_000_00  # ₹5 lakh per agent
PARTNER_PREFUND_PAISE = 5_00_00_000_00  # ₹5 crore: the demo's bank


@dataclass(frozen=True)
class DemoStack:
    stack: Stack
    workdir: Path
    database_url: str
    port: int  # terminals
    metrics_port: int  # the switch's /metrics, /healthz, /readyz
    credentials: list[Credentials]
    credentials_dir: Path
    config_file: Path  # the switch's configuration, as the demo wrote it
    spare_credentials_dir: Path | None = None  # terminals the fleet never uses
    partner_credentials: Path | None = None  # the demo bank's key (partner.json)
    partner_port: int | None = None  # the partner API

    def metrics_targets(self) -> dict[str, int]:
        """Every process with a /metrics endpoint, by job name."""
        ports = self.stack.ports
        return {
            "switch": self.metrics_port,
            "discom": ports["discom"],
            "water": ports["water"],
            "sms": ports["sms"],
            "gateway": ports["gateway"],
        }


# The ports a demo that stays up (--keep-running) asks for first: the same as the
# README's by-hand path, so bookmarks and a prometheus.yml keep working across runs.
FIXED_PORTS = {
    "discom": 7501,
    "water": 7502,
    "sms": 7503,
    "gateway": 7504,
    "switch": 7400,
    "switch_metrics": 9400,
    "switch_admin": 8080,
    "switch_partner": 8443,
}


@contextmanager
def demo_stack(
    cfg: Config,
    *,
    seed: int,
    terminals: int,
    console: Console | None = None,
    fixed_ports: bool = False,
    spare_terminals: int = 0,
    workers: int = 1,
) -> Iterator[DemoStack]:
    """The demo's world; with ``fixed_ports`` on FIXED_PORTS where they are free, with
    ``spare_terminals`` more terminals (credentials in ``spare-credentials/``) that the
    fleet leaves alone, for a person's own client or locust."""
    console = console or Console(stderr=True, quiet=True)
    services = cfg.services
    were_running = (
        services.embedded_postgres and postgres.running_pid(services) is not None
    ) or not services.embedded_postgres
    redis_was_running = (
        not services.embedded_redis or redis_service.running_pid(services) is not None
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        urls = ensure_running(services)
    workdir = services.resolved_data_dir() / "demo"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    stack = Stack(workdir)
    try:
        url = _fresh_database(cfg, urls.database_url)
        console.print(f"[bold]demo[/] in {workdir}: starting billers, SMS gateway and the switch")
        wanted = {k: port_or_free(v) for k, v in FIXED_PORTS.items()} if fixed_ports else {}
        stack.ports.update({k: v for k, v in wanted.items() if k.startswith("switch_")})
        stack.start_simulator(
            "discom", seed=seed, accounts=DISCOM_ACCOUNTS, port=wanted.get("discom")
        )
        stack.start_simulator("water", seed=seed, accounts=WATER_ACCOUNTS, port=wanted.get("water"))
        stack.start_simulator("sms", seed=seed, port=wanted.get("sms"))
        gateway_secret = secrets.token_hex(16)
        stack.start_simulator(
            "gateway", seed=seed, port=wanted.get("gateway"), secret=gateway_secret
        )
        config_file = _write_config(workdir, stack, gateway_secret)
        port = stack.start_switch(
            config_file, url, urls.redis_url, wanted.get("switch"), workers=workers
        )
        console.print(
            f"switch: terminals on 127.0.0.1:{port}, "
            f"metrics on http://127.0.0.1:{stack.ports['switch_metrics']}/metrics, "
            f"admin API on http://127.0.0.1:{stack.ports['switch_admin']}/v1/docs"
        )
        console.print(
            "commands beside the demo (and after it) see its data with --demo: "
            "`switch --demo user add ...`, `switch --demo report biller`"
        )
        console.print(f"provisioning {terminals} agents with a terminal and ₹5 lakh each")
        creds_dir = workdir / "credentials"
        identity = public_bytes(load_or_create(workdir / "switch.key"))
        creds = trio.run(_provision, url, identity, port, terminals, creds_dir, "DEMO")
        spare_dir = workdir / "spare-credentials" if spare_terminals else None
        if spare_dir is not None:
            trio.run(_provision, url, identity, port, spare_terminals, spare_dir, "SPARE")
        partner_file = workdir / "partner.json"
        partner_file.write_text(json.dumps(trio.run(_provision_partner, url), indent=2))
        partner_file.chmod(0o600)
        console.print(
            f"partner API on http://127.0.0.1:{stack.ports['switch_partner']}/partner/v1 "
            f"(a bank prefunded with ₹5 crore; its key in {partner_file})"
        )
        yield DemoStack(
            stack,
            workdir,
            url,
            port,
            stack.ports["switch_metrics"],
            creds,
            creds_dir,
            config_file,
            spare_dir,
            partner_file,
            stack.ports["switch_partner"],
        )
    finally:
        stack.stop()
        if (services.embedded_postgres and not were_running) or not redis_was_running:
            stop_services(services)


async def _provision(
    url: str, switch_key: bytes, port: int, terminals: int, out_dir: Path, prefix: str
) -> list[Credentials]:
    async with Database.open(url, 4) as db, Ledger.open(db) as ledger:
        return await provision_fleet(
            db,
            ledger,
            switch_key,
            f"127.0.0.1:{port}",
            agents=terminals,
            wallet_paise=WALLET_PAISE,
            prefix=prefix,
            out_dir=out_dir,
        )


async def _provision_partner(url: str) -> dict[str, str]:
    """The demo's bank: onboarded, prefunded; its key as the admin API's answer to
    onboarding gives it (what a partner keeps)."""
    async with Database.open(url, 4) as db, Ledger.open(db) as ledger:
        partner, key = await add_partner(
            db, ledger, "Demo Gramin Bank", "9876501234", "bank", "demo"
        )
        await db.run(
            lambda conn: top_up(
                conn,
                agent_id=partner["id"],
                wallet_account_id=partner["wallet_account_id"],
                amount_paise=PARTNER_PREFUND_PAISE,
                bank_ref=f"DEMO-{partner['id']}",
                ceiling_paise=PARTNER_MAX_BALANCE_PAISE,
                actor="demo",
            )
        )
    return key.shown()


def _fresh_database(cfg: Config, default_url: str) -> str:
    if not cfg.services.embedded_postgres:
        return default_url  # a server of the user's own: use its database as configured
    postgres.psql(cfg.services, f'DROP DATABASE IF EXISTS "{DEMO_DB}" WITH (FORCE)')
    postgres.psql(cfg.services, f'CREATE DATABASE "{DEMO_DB}"')
    url = postgres.url(cfg.services, DEMO_DB)

    async def run() -> None:
        async with Database.open(url, 1) as db:
            await db.run(migrate)

    trio.run(run)
    return url


def _write_config(workdir: Path, stack: Stack, gateway_secret: str) -> Path:
    path = workdir / "switch.toml"
    path.write_text(
        f"""[terminals]
identity_key_file = "{workdir / "switch.key"}"

[sms]
endpoint = "http://127.0.0.1:{stack.ports["sms"]}"

[gateway]  # payment links, paid through the simulated UPI gateway
enabled = true
endpoint = "http://127.0.0.1:{stack.ports["gateway"]}"
secret = "{gateway_secret}"

[settlement]
files_dir = "{workdir / "settlement"}"
auto_close = false  # the demo closes its own day when the fleet stops (demo/endofday.py)

[[billers]]
id = "UPPCL"
name = "Uttar Pradesh Power Corporation (simulated)"
kind = "electricity"
endpoint = "http://127.0.0.1:{stack.ports["discom"]}"
commission_bps = 50
fee_paise = 100
region = "Purvanchal"
district = "Varanasi"

[[billers]]
id = "JALSEWA"
name = "Gram Panchayat Water Scheme (simulated)"
kind = "water"
endpoint = "http://127.0.0.1:{stack.ports["water"]}"
commission_bps = 100
region = "Purvanchal"
district = "Mau"
"""
    )
    load_or_create(workdir / "switch.key")
    return path
