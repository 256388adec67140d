"""Chaos: the fleet pays while everything fails; then every paisa is accounted for.

    python -m loadtests.chaos [--duration-s 60] [--kills 3] [--seed 1] [--terminals 40]
    python -m loadtests.chaos --duration-s 600 --kills 20 --server-rounds 3   # the long form

Runs on an embedded PostgreSQL and Redis of its own (a temporary data directory), a
discom simulator and the switch as child processes, and a fleet in this process.
While the fleet pays, a seeded schedule: injects every biller fault (latency, hang,
lose_reply, error_5xx, garbage, reset, duplicate_reply, slow_drip, down, and answers
that lie: other_txn_reply, other_amount_reply, other_account_reply, refuse_reversal)
on fetch, pay, status and reversal; SIGKILLs the switch and restarts it (``--kills``;
0 for none); restarts PostgreSQL cleanly and SIGKILLs its postmaster; flushes and
restarts Redis, SIGKILLs it, and freezes it with SIGSTOP; and, while consumers pay bills
by payment link, makes the payment gateway's callbacks go missing, late or doubled,
its payers' banks fail approvals, and its status inquiries answer 503
(loadtests/chaos_links.py). The switch is restarted only
after its own SIGKILLs: after every other fault the run checks that the switch is the
same process and serves a pay (loadtests/chaos_services.py), and it records how long
after the server came back the first pay was served. Then it clears the faults, waits
for every pay to settle, and checks:

- the ledger's invariants;
- every pay is posted or voided;
- posted at the switch <=> applied (and not reversed) at the biller, pay by pay;
- every receipt a terminal printed is a posted pay;
- no (terminal, reference) was debited twice; every wallet = funding - its posted pays;
- every rupee the gateway kept is a posted link pay; its settlement account is empty;
  no link is paid twice;
- the switch never exited by itself, and served a pay after every server fault.

It prints a table (fault, times set and fired, then outcomes and paise lost/doubled, which
must be 0) and exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import warnings
from collections import Counter, deque
from pathlib import Path
from typing import Any

import trio

from loadtests import chaos_links
from loadtests.accounting import account_for_every_paisa, settle
from loadtests.chaos_services import SERVICE_FAULTS, Liveness
from simulators.common.faults import BOOK_KINDS, KINDS
from simulators.common.faults import OPS as FAULT_OPS
from simulators.discom.simulator import discom_account
from simulators.epos.fleet import Consumer, FleetStats, pay_part, run_fleet
from switch.config import ServicesConfig
from switch.db.database import Database
from switch.db.migrate import migrate
from switch.demo.stack import Stack
from switch.ledger import Ledger
from switch.protocols.http11 import HttpClient
from switch.protocols.terminal.crypto import public_bytes
from switch.provisioning.fleet import provision_fleet
from switch.provisioning.identity import load_or_create
from switch.services import ensure_running, stop
from switch.services.common import free_tcp_port

# Transport faults only: book faults (a biller whose books are wrong) are for
# reconciliation to find, not something the switch could survive unseen.
FAULT_KINDS = [k for k in KINDS if k not in BOOK_KINDS]
OPS = [op for op in FAULT_OPS if op != "any"]
# The operations where a kind can happen at all (the others: any operation).
KIND_OPS = {
    "other_txn_reply": ["pay", "status"],
    "other_amount_reply": ["pay", "status"],
    "other_account_reply": ["pay", "status"],
    "refuse_reversal": ["reversal"],
}
WALLET_PAISE = 1_00_00_000_00  # ₹1 crore (the top-up limit): no wallet runs dry in a long run
SETTLE_TIMEOUT_S = 180.0
RATE_WINDOW_S = 5.0  # the fleet's rate just before a server fault, over this long
FIRST_LINK_ACCOUNT = 4800  # discom accounts from here (to --links more) pay by link


def write_config(workdir: Path, discom_port: int, gateway_port: int | None = None) -> Path:
    """The switch's configuration for a drill (payment links on with a gateway)."""
    path = workdir / "switch.toml"
    links = chaos_links.config_section(gateway_port) if gateway_port else ""
    path.write_text(f"""
{links}
[terminals]
identity_key_file = "{workdir / "switch.key"}"
answer_deadline_s = 3.0
[sms]
enabled = false
[pays]
recovery_idle_s = 2.0
recovery_interval_s = 0.5
inquiry_backoff_base_s = 0.2
inquiry_backoff_max_s = 2.0
unknown_deadline_s = 8.0
[[billers]]
id = "UPPCL"
name = "UPPCL"
endpoint = "http://127.0.0.1:{discom_port}"
timeout_s = 1.0
breaker_min_calls = 30
breaker_open_s = 1.0
""")
    return path


class Chaos:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.workdir = workdir
        self.services = ServicesConfig(data_dir=str(workdir / "data"))
        self.stack = Stack(workdir)
        self.injected: Counter[str] = Counter()  # faults set (and kills, restarts) ...
        self.fired: Counter[str] = Counter()  # ... and how often the biller's fired
        self._kinds: list[str] = []  # biller faults still to set this round
        self.samples: deque[tuple[float, int]] = deque(maxlen=120)  # (time, pays done)
        self.rates: dict[str, list[list[float]]] = {}  # server fault -> [before, during]

    def run(self) -> dict[str, Any]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            urls = ensure_running(self.services)
        self.redis_url = urls.redis_url
        self.url = urls.database_url
        try:
            trio.run(self._migrate)
            self.discom = self.stack.start_simulator("discom", seed=self.args.seed, accounts=5000)
            self.gateway = self.stack.start_simulator(
                "gateway", seed=self.args.seed, secret=chaos_links.SECRET
            )
            self.config = write_config(self.workdir, self.discom, self.gateway)
            self.port = free_tcp_port()
            self.stack.start_switch(self.config, self.url, self.redis_url, self.port)
            return trio.run(self._scenario)
        finally:
            self.stack.stop()
            stop(self.services)

    async def _migrate(self) -> None:
        async with Database.open(self.url, 1) as db:
            await db.run(migrate)

    async def _scenario(self) -> dict[str, Any]:
        key = public_bytes(load_or_create(self.workdir / "switch.key"))
        async with Database.open(self.url, 4) as db, Ledger.open(db) as ledger:
            *creds, probe = await provision_fleet(
                db,
                ledger,
                key,
                f"127.0.0.1:{self.port}",
                agents=self.args.terminals + 1,
                wallet_paise=WALLET_PAISE,
                prefix="CHAOS",
            )
            operator_password = await chaos_links.add_operator(db)
        # The last accounts pay by payment link only (the probe's is the very last).
        consumers = [
            Consumer("UPPCL", discom_account(self.args.seed, n)) for n in range(FIRST_LINK_ACCOUNT)
        ]
        self.payers = chaos_links.LinkPayers(
            operator_password,
            self.stack.ports["switch_admin"],
            self.gateway,
            [
                discom_account(self.args.seed, n)
                for n in range(FIRST_LINK_ACCOUNT, FIRST_LINK_ACCOUNT + self.args.links)
            ],
            random.Random(self.args.seed),
        )
        self.liveness = Liveness(
            lambda: self.stack.children["switch"], probe, discom_account(self.args.seed, 4999)
        )
        stats = self.stats = FleetStats()
        # The biller's full report at the end can be large: allow it.
        self.admin = HttpClient(
            f"http://127.0.0.1:{self.discom}", timeout_s=30, max_response_bytes=512 * 1024 * 1024
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._schedule)
            nursery.start_soon(self._sample_rate)
            nursery.start_soon(self.payers.run, self.args.duration_s * 0.9)
            await run_fleet(
                creds,
                consumers,
                self.args.duration_s,
                seed=self.args.seed,
                stats=stats,
                request_timeout_s=5,
                amount=pay_part(random.Random(self.args.seed)),
            )
            nursery.cancel_scope.cancel()
        fired = (await self.admin.get("/v1/admin/faults")).json()["fired"]
        await self.admin.request("DELETE", "/v1/admin/faults")
        for kind, times in fired.items():
            self.fired[f"biller {kind}"] = times
        return await self._settle_and_check(stats)

    async def _schedule(self) -> None:
        """Spread the kills and restarts over the run; faults in between."""
        d, kills = self.args.duration_s, self.args.kills
        events = [(d * (i + 1) / (kills + 1), "kill_switch") for i in range(kills)]
        # The servers' faults, spread between the kills (each one waits to be served).
        service_faults = list(SERVICE_FAULTS) * self.args.server_rounds
        spots = [
            0.15 + 0.7 * i / max(1, len(service_faults) - 1) for i in range(len(service_faults))
        ]
        events += [(d * at, name) for at, name in zip(spots, service_faults, strict=True)]
        events += [(d * self.rng.uniform(0.05, 0.9), "fault") for _ in range(len(FAULT_KINDS) * 2)]
        started = trio.current_time()
        for at, what in sorted(events):
            await trio.sleep_until(started + at)
            if what in SERVICE_FAULTS:
                await self.service_fault(what)
            else:
                await getattr(self, what)()

    async def fault(self) -> None:
        """The next biller fault: every kind in turn (each twice a run), in a seeded
        order, on an operation where it can happen."""
        if not self._kinds:
            self._kinds = FAULT_KINDS * 2
            self.rng.shuffle(self._kinds)
        kind = self._kinds.pop()
        body = {
            "op": self.rng.choice(KIND_OPS.get(kind, OPS)),
            "kind": kind,
            "probability": 0.3,
            "count": 20,
            "latency_ms": [50, 1500],
            "drip_ms": 30,
        }
        if kind == "down":
            body["count"] = 30
        await self.admin.post("/v1/admin/faults", body)
        self.injected[f"biller {kind}"] += 1

    async def service_fault(self, name: str) -> None:
        """A fault of PostgreSQL or Redis; then the same switch must serve again. The
        fleet's pays/s while the fault lasted is recorded beside its rate just before."""
        pid = self.liveness.alive(f"before {name}")
        before = self._rate_since(trio.current_time() - RATE_WINDOW_S)
        started, done_before = trio.current_time(), self.stats.pays_ok
        back_at = await SERVICE_FAULTS[name](self.services)
        during = (self.stats.pays_ok - done_before) / max(0.1, trio.current_time() - started)
        self.rates.setdefault(name, []).append([round(before, 1), round(during, 1)])
        self.injected[name] += 1
        await self.liveness.check(name, pid, back_at)

    async def _sample_rate(self) -> None:
        while True:
            self.samples.append((trio.current_time(), self.stats.pays_ok))
            await trio.sleep(0.5)

    def _rate_since(self, since: float) -> float:
        """Pays completed per second from ``since`` until now (from the samples)."""
        then = next(((t, n) for t, n in self.samples if t >= since), None)
        now = trio.current_time()
        if then is None or now - then[0] < 0.5:
            return 0.0
        return (self.stats.pays_ok - then[1]) / (now - then[0])

    async def kill_switch(self) -> None:
        self.liveness.alive("before a SIGKILL")  # it must not have died by itself
        self.stack.kill("switch")
        self.injected["switch SIGKILL + restart"] += 1
        await trio.sleep(0.3)
        await trio.to_thread.run_sync(
            self.stack.start_switch, self.config, self.url, self.redis_url, self.port
        )

    async def _settle_and_check(self, stats: FleetStats) -> dict[str, Any]:
        async with Database.open(self.url, 2) as db, Ledger.open(db) as ledger:
            await settle(db, SETTLE_TIMEOUT_S)
            return await self._check(db, ledger, stats)

    async def _check(self, db: Database, ledger: Ledger, stats: FleetStats) -> dict[str, Any]:
        self.liveness.alive("at the end")
        links = await chaos_links.account_for_links(db, self.gateway)
        books = await account_for_every_paisa(db, ledger, self.admin, stats, WALLET_PAISE)
        await self.admin.aclose()
        return {
            "injected": dict(self.injected) | dict(self.payers.injected),
            "fired": dict(self.fired),
            **books,
            "links": links | {"payers": dict(self.payers.outcomes)},
            "back_to_served_s": self.liveness.back_to_served_s,
            "pays_per_s_before_and_during": self.rates,
            "violations": [*self.liveness.violations, *books["violations"], *links["violations"]],
        }


def print_table(result: dict[str, Any]) -> None:
    print(f"{'fault':<32} {'times set':>10} {'times fired':>12}")
    for fault, times in sorted(result["injected"].items()):
        fired = result["fired"].get(fault, times)
        print(f"{fault:<32} {times:>10} {fired:>12}")
    print()
    print(f"{'final outcome':<32} {'pays':>10}")
    for outcome, n in sorted(result["outcomes"].items(), key=lambda kv: -kv[1]):
        print(f"{outcome:<32} {n:>10}")
    print()
    print(f"paise lost    {result['paise_lost']:>10}   (must be 0)")
    print(f"paise doubled {result['paise_doubled']:>10}   (must be 0)")
    print(
        f"receipts printed {result['fleet_pays_ok']}, reconnects {result['fleet_reconnects']}, "
        f"reconciliation cases {result['cases']}"
    )
    print()
    print(
        f"{'server fault':<24} {'back -> first pay served (s)':>30} {'pays/s before -> during':>28}"
    )
    rates = result["pays_per_s_before_and_during"]
    for fault, times in sorted(result["back_to_served_s"].items()):
        during = ", ".join(f"{b:.0f} -> {d:.0f}" for b, d in rates.get(fault, []))
        print(f"{fault:<24} {', '.join(f'{t:.2f}' for t in times):>30} {during:>28}")
    links = result["links"]
    print(
        f"payment links: orders {links['link_orders']}; the gateway collected "
        f"{links['link_paise_collected']} paise, refunded {links['link_paise_refunded']}, the "
        f"switch posted {links['link_paise_posted']}; payers: {links['payers']}"
    )
    print(
        "violations: " + ("none" if not result["violations"] else "; ".join(result["violations"]))
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration-s", type=float, default=60.0)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument(
        "--server-rounds",
        type=int,
        default=1,
        help="times each PostgreSQL and Redis fault is made (spread over the run)",
    )
    parser.add_argument("--terminals", type=int, default=40)
    parser.add_argument(
        "--links", type=int, default=30, help="consumers paying by payment link (at most 199)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        result = Chaos(args, Path(tmp)).run()
    result["wall_s"] = round(time.monotonic() - started, 1)
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)
    sys.exit(1 if result["violations"] else 0)


if __name__ == "__main__":
    main()
