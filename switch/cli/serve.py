"""``switch serve`` and ``switch sim``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click
import trio

from switch.cli.common import Commands, start_services
from switch.config import Config
from switch.ops.logs import setup_logging
from switch.ops.workers import Workers
from switch.provisioning.identity import identity_path, load_or_create
from switch.server import serve as serve_switch
from switch.services.common import free_tcp_port


@click.command()
@click.option("--port", type=int, default=None, help="Terminal listener port (default: config).")
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="/metrics, /healthz, /readyz port (default: config; 0: any free one).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Switch processes sharing the terminal port (SO_REUSEPORT), each on its own core.",
)
@click.pass_obj
def serve(cfg: Config, port: int | None, metrics_port: int | None, workers: int) -> None:
    """Run the switch: terminals (port 7400), the admin API (8080, [admin] port or
    SWITCH_ADMIN_PORT), metrics/health (9400), ledger, settlement.

    SIGINT/SIGTERM stop it cleanly: stop accepting, let in-flight requests finish
    (bounded), exit."""
    if port is not None:
        cfg = cfg.replace(terminals=dataclasses.replace(cfg.terminals, port=port))
    if metrics_port is not None:
        cfg = cfg.replace(ops=dataclasses.replace(cfg.ops, metrics_port=metrics_port))
    try:
        setup_logging(cfg.ops.log_format, cfg.ops.log_level)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    urls = start_services(cfg)
    if workers > 1:
        raise SystemExit(_supervise(cfg, workers))
    trio.run(serve_switch, cfg, urls.database_url, urls.redis_url)


def _supervise(cfg: Config, count: int) -> int:
    """Start ``count`` workers on one terminal port, and watch them (switch/ops/workers.py)."""
    root = click.get_current_context().find_root().params
    args = ["--config", root["config_path"]] if root.get("config_path") else []
    if root.get("beside_demo"):
        args.append("--demo")
    load_or_create(identity_path(cfg))  # made once, here: not by two workers at once
    port = cfg.terminals.port or free_tcp_port()
    return Workers(count, port, cfg.ops.metrics_port, args).run()


@click.group(cls=Commands)
def sim() -> None:
    """Simulators of the outside world."""


@sim.command("fleet")
@click.option(
    "--credentials-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Where the terminals' credentials files are (switch terminal add --out-dir).",
)
@click.option(
    "--duration",
    "duration_s",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds the terminals pay bills.",
)
@click.option("--biller", default="UPPCL", show_default=True, help="The switch's biller id.")
@click.option(
    "--kind",
    type=click.Choice(["discom", "water"]),
    default="discom",
    show_default=True,
    help="Which simulator stands behind the biller: its consumers are the ones asked for.",
)
@click.option(
    "--accounts",
    type=int,
    default=1000,
    show_default=True,
    help="Distinct consumer accounts (the simulator's first N; it knows 5000 discom, 2000 water).",
)
@click.option("--seed", default=1, show_default=True, help="The simulator's --seed.")
def sim_fleet(
    credentials_dir: Path, duration_s: float, biller: str, kind: str, accounts: int, seed: int
) -> None:
    """Run every terminal in CREDENTIALS_DIR against the switch: fetch, then pay.

    Prints one JSON line of figures; exits 1 with the reason when no pay succeeded."""
    from simulators.epos.fleet import Consumer, run_fleet
    from simulators.run import consumer_accounts
    from switch.provisioning.credentials import Credentials

    creds = Credentials.read_dir(credentials_dir)
    if not creds:
        raise click.ClickException(f"no *.json credentials in {credentials_dir}")
    consumers = [Consumer(biller, a) for a in consumer_accounts(kind, seed, accounts)]
    stats, _ = trio.run(run_fleet, creds, consumers, duration_s)
    click.echo(
        json.dumps(
            {
                "terminals": len(creds),
                "fetches": stats.fetches,
                "pays_ok": stats.pays_ok,
                "pays_failed": stats.pays_failed,
                "pays_pending": stats.pays_pending,
                "pays_per_s": round(stats.pays_ok / duration_s, 1),
                "p50_ms": stats.percentile_ms(0.5),
                "p99_ms": stats.percentile_ms(0.99),
                "failures": stats.failures,
                "fetch_failures": stats.fetch_failures,
                "reconnects": stats.reconnects,
            }
        )
    )
    if stats.pays_ok == 0:
        why = {**stats.fetch_failures, **stats.failures} or {"no answer": stats.reconnects}
        raise click.ClickException(f"no pay succeeded in {duration_s:g} s: {why}")


@sim.command("biller")
@click.argument("kind", type=click.Choice(["discom", "water", "sms", "gateway", "erp"]))
@click.option("--port", type=int, required=True, help="The port its HTTP API listens on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address it binds.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Where the simulator keeps its durable payment log.",
)
@click.option("--seed", default=1, show_default=True, help="Consumers are generated from it.")
@click.option(
    "--accounts",
    type=int,
    default=None,
    help="How many consumers (billers only; default 5000 discom, 2000 water). Seed 1's "
    "discom accounts are 2001000000 upwards, its water ones WS01000000 upwards.",
)
@click.option(
    "--latency-ms",
    type=float,
    default=0.0,
    show_default=True,
    help="Added before every answer (a slow biller; faults are set at run time instead).",
)
@click.option(
    "--secret",
    envvar="GATEWAY_SECRET",
    default="gateway-secret",
    help="The gateway's callback signing secret (the switch's [gateway] secret).",
)
def sim_biller(
    kind: str,
    port: int,
    host: str,
    data_dir: Path,
    seed: int,
    accounts: int | None,
    latency_ms: float,
    secret: str,
) -> None:
    """Run a biller (discom, water), the SMS gateway, the payment gateway or an ERP simulator
    until SIGINT/SIGTERM."""
    import signal

    from simulators.run import start_simulator

    options: dict[str, object] = {}
    if kind in ("discom", "water"):
        options = {"seed": seed, "accounts": accounts, "latency_s": latency_ms / 1000}
    elif kind == "gateway":
        options = {"seed": seed, "secret": secret}

    async def main() -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                _, bound = await start_simulator(
                    nursery, kind, data_dir, host=host, port=port, **options
                )
                click.echo(f"{kind} simulator on {host}:{bound}")
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break

    trio.run(main)
