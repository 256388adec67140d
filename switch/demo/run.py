"""Run the demo: services, simulators, switch, a fleet; live table; checked summary.

Everything the demo starts it stops, Ctrl-C included. The embedded PostgreSQL and
Redis are stopped too if the demo was the one to start them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import trio
from rich.console import Console
from rich.live import Live
from rich.table import Table

from simulators.epos.fleet import Consumer, FleetStats, pay_part, run_fleet
from simulators.partner.client import PartnerClient, PartnerCredentials
from simulators.partner.load import run_load
from simulators.run import consumer_accounts
from switch.config import Config
from switch.config import load as load_config
from switch.db.database import Database
from switch.demo import explore
from switch.demo import links as demo_links
from switch.demo.endofday import end_of_day
from switch.demo.setup import DISCOM_ACCOUNTS, WATER_ACCOUNTS, DemoStack, demo_stack
from switch.demo.stack import Stack
from switch.ledger import Ledger
from switch.money import count, rupees

PARTNER_CONCURRENCY = 8  # the bank's requests in flight at once
PARTNER_GRACE_S = 30.0  # for its last pays after the fleet stops


@dataclass(frozen=True)
class DemoOptions:
    duration_s: float = 30.0
    terminals: int = 200
    seed: int = 1
    as_json: bool = False
    keep_running: bool = False  # stay up to be explored until Ctrl-C (switch/demo/explore.py)
    spare_terminals: int = 0


def run_demo(
    cfg: Config, opts: DemoOptions, report: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Run the demo; ``report`` is given the result as soon as it is known (before a
    demo that keeps running waits for Ctrl-C)."""
    console = Console(stderr=opts.as_json)
    with demo_stack(
        cfg,
        seed=opts.seed,
        terminals=opts.terminals,
        console=console,
        fixed_ports=opts.keep_running,
        spare_terminals=opts.spare_terminals,
    ) as demo:
        result: dict[str, Any] = trio.run(_drive, demo, opts, console)
        if report is not None:
            report(result)
        if opts.keep_running:
            result["explore"] = info = trio.run(explore.prepare, demo, cfg)
            explore.print_info(info, console)
            trio.run(explore.until_stopped)
    return result


async def _drive(demo: DemoStack, opts: DemoOptions, console: Console) -> dict[str, Any]:
    async with Database.open(demo.database_url, 4) as db, Ledger.open(db) as ledger:
        creds = demo.credentials
        consumers = [
            Consumer("UPPCL", a) for a in consumer_accounts("discom", opts.seed, DISCOM_ACCOUNTS)
        ]
        water = consumer_accounts("water", opts.seed, WATER_ACCOUNTS)
        by_link = water[-demo_links.CONSUMERS :]  # theirs paid by payment link only
        consumers += [Consumer("JALSEWA", a) for a in water[: -demo_links.CONSUMERS]]
        stats = FleetStats()
        started = time.perf_counter()
        partner: dict[str, Any] = {}
        links: dict[str, Any] = {}
        async with trio.open_nursery() as nursery:
            if not opts.as_json:
                nursery.start_soon(_live, stats, started, opts, console)
            nursery.start_soon(_partner_load, demo, consumers, opts, partner)
            nursery.start_soon(_link_payments, db, demo, by_link, links)
            await run_fleet(
                creds,
                consumers,
                opts.duration_s,
                seed=opts.seed,
                stats=stats,
                amount=pay_part(random.Random(opts.seed)),
            )
            with trio.move_on_after(PARTNER_GRACE_S):  # the bank's and links' last pays
                while not (partner and links):  # noqa: ASYNC110 (bounded: their deadlines)
                    await trio.sleep(0.1)
            nursery.cancel_scope.cancel()
        elapsed = time.perf_counter() - started
        console.print("fleet and partner stopped; checking the books")
        result = await _summary(db, ledger, demo.stack, stats, elapsed, opts)
        result["partner"] = partner
        result["links"] = links
        result["by_channel"] = await _by_channel(db)
        console.print("closing the day: settlement and reconciliation with each biller")
        billers = load_config(demo.config_file, environ={}).billers
        files_dir = demo.workdir / "settlement"
        result["end_of_day"] = await end_of_day(db, ledger, billers, files_dir)
        return result


async def _partner_load(
    demo: DemoStack, consumers: list[Consumer], opts: DemoOptions, out: dict[str, Any]
) -> None:
    """The demo's bank paying bills through the partner API beside the terminals, with
    a share of its pays sent twice at once (each must be one pay)."""
    if demo.partner_credentials is None or demo.partner_port is None:
        return
    creds = PartnerCredentials.from_file(demo.partner_credentials)
    pairs = [(c.biller, c.account) for c in consumers[:: max(1, len(consumers) // 2000)]]
    async with PartnerClient(creds, f"http://127.0.0.1:{demo.partner_port}") as client:
        result = await run_load(
            client,
            pairs,
            duration_s=opts.duration_s,
            concurrency=PARTNER_CONCURRENCY,
            duplicate_share=0.05,
            key_prefix="DEMO",
            seed=opts.seed,
        )
    out.update(result.summary())


async def _link_payments(
    db: Database, demo: DemoStack, accounts: list[str], out: dict[str, Any]
) -> None:
    """Payment links for a few water consumers, each paid on the "phone"."""
    admin = f"http://127.0.0.1:{demo.stack.ports['switch_admin']}"
    gateway = f"http://127.0.0.1:{demo.stack.ports['gateway']}"
    out.update(await demo_links.pay_by_links(db, admin, gateway, accounts))


async def _by_channel(db: Database) -> dict[str, dict[str, int]]:
    rows = await db.fetch(
        """SELECT channel, count(*) FILTER (WHERE state = 'posted') AS posted,
                  coalesce(sum(amount_paise) FILTER (WHERE state = 'posted'), 0)::bigint
                      AS posted_paise,
                  count(*) FILTER (WHERE state = 'voided') AS voided
             FROM pays GROUP BY channel ORDER BY channel"""
    )
    return {
        r["channel"]: {
            "posted": r["posted"],
            "posted_paise": r["posted_paise"],
            "voided": r["voided"],
        }
        for r in rows
    }


async def _live(stats: FleetStats, started: float, opts: DemoOptions, console: Console) -> None:
    last_ok, last_t = 0, time.perf_counter()
    with Live(_table(stats, started, 0.0, opts), console=console, auto_refresh=False) as live:
        while True:
            await trio.sleep(1.0)
            now = time.perf_counter()
            rate = (stats.pays_ok - last_ok) / (now - last_t)
            last_ok, last_t = stats.pays_ok, now
            live.update(_table(stats, started, rate, opts), refresh=True)


def _table(stats: FleetStats, started: float, rate: float, opts: DemoOptions) -> Table:
    elapsed = time.perf_counter() - started
    table = Table(
        title=f"switch demo: {opts.terminals} terminals, {elapsed:.0f}/{opts.duration_s:.0f} s",
        caption="as the terminals see it, refreshed each second; final figures when it stops",
    )
    for column in (
        "fetches",
        "pays ok",
        "failed",
        "pending",
        "pays/s now",
        "p50 ms",
        "p99 ms",
        "reconnects",
    ):
        table.add_column(column, justify="right")
    table.add_row(
        f"{stats.fetches:,}",
        f"{stats.pays_ok:,}",
        f"{stats.pays_failed:,}",
        f"{stats.pays_pending:,}",
        f"{rate:,.0f}",
        f"{stats.percentile_ms(0.5):.1f}",
        f"{stats.percentile_ms(0.99):.1f}",
        f"{stats.reconnects}",
    )
    return table


async def _summary(
    db: Database, ledger: Ledger, stack: Stack, stats: FleetStats, elapsed: float, opts: DemoOptions
) -> dict[str, Any]:
    with trio.move_on_after(15):  # let pays in flight and the SMS outbox finish
        while await _unsettled(db):  # noqa: ASYNC110 (polls the database, not a task)
            await trio.sleep(0.5)
    violations = await ledger.check_invariants()
    per_biller = {}
    async with httpx.AsyncClient(timeout=10) as client:
        for biller_id, kind in (("UPPCL", "discom"), ("JALSEWA", "water")):
            row = await db.fetchrow(
                """SELECT count(*) AS n, coalesce(sum(amount_paise), 0)::bigint AS paise
                     FROM pays WHERE biller_id = $1 AND state = 'posted'""",
                biller_id,
            )
            assert row is not None
            theirs = (await client.get(f"http://127.0.0.1:{stack.ports[kind]}/v1/totals")).json()
            per_biller[biller_id] = {
                "switch_posted": row["n"],
                "switch_paise": row["paise"],
                "biller_applied": theirs["applied_count"],
                "biller_paise": theirs["applied_paise"],
                "agree": (row["n"], row["paise"])
                == (theirs["applied_count"], theirs["applied_paise"]),
            }
        sms_received = len(
            (await client.get(f"http://127.0.0.1:{stack.ports['sms']}/v1/messages")).json()[
                "messages"
            ]
        )
    sms_sent = await db.fetchval("SELECT count(*) FROM sms_outbox WHERE state = 'sent'")
    pending = await db.fetchval("SELECT count(*) FROM pays WHERE state NOT IN ('posted','voided')")
    return {
        "terminals": opts.terminals,
        "duration_s": round(elapsed, 1),
        "fetches": stats.fetches,
        "nothing_due": stats.nothing_due,
        "pays_ok": stats.pays_ok,
        "pays_failed": stats.pays_failed,
        "pays_pending": stats.pays_pending,
        "pays_unfinished_in_switch": pending,
        "pays_per_s": round(stats.pays_ok / elapsed, 1),
        "p50_ms": stats.percentile_ms(0.50),
        "p95_ms": stats.percentile_ms(0.95),
        "p99_ms": stats.percentile_ms(0.99),
        "failures": stats.failures,
        "fetch_failures": stats.fetch_failures,
        "reconnects": stats.reconnects,
        "invariants_ok": not violations,
        "violations": violations,
        "billers_agree": all(b["agree"] for b in per_biller.values()),
        "billers": per_biller,
        "sms_sent": sms_sent,
        "sms_received": sms_received,
    }


async def _unsettled(db: Database) -> int:
    return int(
        await db.fetchval(
            """SELECT (SELECT count(*) FROM sms_outbox WHERE state = 'pending')
                    + (SELECT count(*) FROM pays WHERE state NOT IN ('posted', 'voided'))"""
        )
    )


def _counts(by_code: dict[str, int]) -> str:
    """{"biller_rejected": 3} -> "biller_rejected 3" (most first); "none" when empty."""
    ranked = sorted(by_code.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{code} {count(n)}" for code, n in ranked) or "none"


def _channels(by_channel: dict[str, dict[str, int]]) -> str:
    return (
        ", ".join(
            f"{channel} {count(v['posted'])} ({rupees(v['posted_paise'])})"
            for channel, v in by_channel.items()
        )
        or "none"
    )


def print_summary(result: dict[str, Any], console: Console) -> None:
    table = Table(title="demo summary", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("terminals / duration", f"{result['terminals']} / {result['duration_s']} s"),
        ("fetches", count(result["fetches"])),
        (
            "pays ok / failed / pending (the terminals' answers)",
            f"{count(result['pays_ok'])} / {count(result['pays_failed'])} / "
            f"{count(result['pays_pending'])}",
        ),
        (
            "posted by the switch (with pays a terminal stopped waiting for)",
            count(sum(b["switch_posted"] for b in result["billers"].values())),
        ),
        ("pays/s", f"{result['pays_per_s']:,}"),
        (
            "latency p50 / p95 / p99",
            f"{result['p50_ms']} / {result['p95_ms']} / {result['p99_ms']} ms",
        ),
        ("pay failures", _counts(result["failures"])),
        ("fetch failures", _counts(result["fetch_failures"])),
        ("reconnects", count(result["reconnects"])),
        ("posted by channel", _channels(result.get("by_channel", {}))),
        (
            "partner API: pays ok / failed, sent twice at once, p99",
            f"{count(result['partner'].get('success', 0))} / "
            f"{count(result['partner'].get('failed', 0))}, "
            f"{count(result['partner'].get('duplicates', 0))}, "
            f"{result['partner'].get('p99_ms')} ms",
        ),
        (
            "payment links: sent / paid (declined by the payer's bank, tried again), median",
            f"{count(result['links'].get('sent', 0))} / {count(result['links'].get('paid', 0))} "
            f"({count(result['links'].get('declined', 0))}), {result['links'].get('median_s')} s",
        ),
        ("ledger invariants", "ok" if result["invariants_ok"] else "BROKEN"),
        ("switch and billers agree", "yes" if result["billers_agree"] else "NO"),
        ("SMS sent / received", f"{result['sms_sent']:,} / {result['sms_received']:,}"),
    ]
    for what, value in rows:
        table.add_row(what, value)
    console.print(table)
    for biller, figures in result["billers"].items():
        console.print(
            f"  {biller}: switch posted {count(figures['switch_posted'])} "
            f"({rupees(figures['switch_paise'])}), biller applied "
            f"{count(figures['biller_applied'])} ({rupees(figures['biller_paise'])})"
        )
    _print_end_of_day(result["end_of_day"], console)


def _print_end_of_day(day: dict[str, Any], console: Console) -> None:
    rs = rupees
    console.print(f"[bold]end of day {day['business_date']}[/]: settlement and reconciliation")
    for biller, b in day["billers"].items():
        console.print(
            f"  {biller}: {b['pays']:,} pays settled, gross {rs(b['gross_paise'])} = "
            f"commission {rs(b['commission_paise'])} + fee {rs(b['fee_paise'])} + "
            f"net to the biller {rs(b['net_paise'])}; reconciled with the biller's report: "
            f"{b['breaks']} breaks; file {b['file']}"
        )
    square = day["settled_all"] and day["reconciled_clean"]
    console.print(
        "  every posted pay settled, no break, payables back to zero"
        if square
        else "  [bold red]NOT SQUARE[/]: see the figures above"
    )
