"""What every server drill shares: a world of its own, a fleet paying through it while
one fault happens, and every paisa accounted for afterwards.

A drill runs PostgreSQL (and Redis, unless the drill brings its own) embedded in a
temporary data directory, a discom simulator and ``switch serve`` as child processes,
and a fleet in this process paying parts of bills (so no account runs out of dues).
A third of the way through, the drill's ``fault`` runs beside the fleet. The switch
is never restarted: after the fault, ``Liveness`` checks that it is the same process
and serves a probe terminal's pay, and every other process the fault did not kill
(the simulator, and the servers each drill names in ``bystanders``) is checked to be
the same process, answering. Then the drill waits for every pay to settle and
runs loadtests/accounting.py against the database the switch ended on.

It records pays served every 50 ms, for the edges of an outage: the longest time no
terminal's pay was served, and pays/s before the fault and after it.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import httpx
import trio

from loadtests.accounting import account_for_every_paisa, settle
from loadtests.chaos import write_config
from loadtests.chaos_services import Liveness
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
from switch.services import ServiceUrls, ensure_running, stop
from switch.services.common import free_tcp_port

WALLET_PAISE = 1_00_00_000_00  # ₹1 crore per agent: no wallet runs dry
SETTLE_TIMEOUT_S = 120.0
SAMPLE_EVERY_S = 0.05
ACCOUNTS = 5000  # enough that no account is paid off within a run


class Drill:
    """Subclasses set the servers up (``prepare``), make the fault (``fault``, which
    sets ``self.times["fault"]`` when it strikes and ``self.times["back"]`` when the
    server is back), and add their own figures and checks (``report``)."""

    name = "drill"
    extra_config = ""  # appended to the switch's config file

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.services = ServicesConfig(data_dir=str(workdir / "data"))
        self.stack = Stack(workdir)
        self.samples: list[tuple[float, int]] = []  # (monotonic time, pays served)
        self.times: dict[str, float] = {}
        self.bystander_pids: dict[str, int | None] = {}  # after the fault

    # -- for subclasses ------------------------------------------------------------

    def start_servers(self) -> ServiceUrls:
        """The embedded PostgreSQL and Redis; a drill may bring servers of its own."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ensure_running(self.services)

    def prepare(self, urls: ServiceUrls) -> ServiceUrls:
        """Servers beyond the embedded ones; the URLs the switch is given."""
        return urls

    async def fault(self) -> None:
        raise NotImplementedError

    async def watch(self) -> None:
        """Runs beside the fleet from the start (to sample a server under load)."""

    async def report(self, db: Database) -> dict[str, Any]:
        """The drill's own figures, and its own ``violations`` (a list)."""
        return {"violations": []}

    def teardown(self) -> None:
        """Stop what ``prepare`` started."""

    def bystanders(self) -> dict[str, int | None]:
        """The processes the fault must leave alone, by name: each one's pid if it
        runs and answers (None if not). The discom simulator here; drills add the
        servers they do not kill."""
        discom = self.stack.children["discom"]
        try:
            answers = httpx.get(f"http://127.0.0.1:{self.discom}/v1/totals", timeout=2).is_success
        except httpx.HTTPError:
            answers = False
        return {"discom simulator": discom.pid if discom.poll() is None and answers else None}

    # -- the run -------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        try:
            urls = self.start_servers()
            trio.run(self._migrate, urls.database_url)
            self.urls = self.prepare(urls)
            self.discom = self.stack.start_simulator("discom", seed=1, accounts=ACCOUNTS)
            config = write_config(self.workdir, self.discom)
            config.write_text(config.read_text() + self.extra_config)
            self.port = free_tcp_port()
            self.stack.start_switch(config, self.urls.database_url, self.urls.redis_url, self.port)
            return trio.run(self._scenario)
        finally:
            self.stack.stop()
            self.teardown()
            stop(self.services)

    async def _migrate(self, url: str) -> None:
        async with Database.open(url, 1) as db:
            await db.run(migrate)

    async def _scenario(self) -> dict[str, Any]:
        key = public_bytes(load_or_create(self.workdir / "switch.key"))
        async with Database.open(self.urls.database_url, 4) as db, Ledger.open(db) as ledger:
            *creds, probe = await provision_fleet(
                db, ledger, key, f"127.0.0.1:{self.port}",
                agents=self.args.terminals + 1, wallet_paise=WALLET_PAISE, prefix="DRILL",
            )  # fmt: skip
        consumers = [Consumer("UPPCL", discom_account(1, n)) for n in range(ACCOUNTS - 1)]
        self.liveness = Liveness(
            lambda: self.stack.children["switch"], probe, discom_account(1, ACCOUNTS - 1)
        )
        stats = self.stats = FleetStats()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._sample_pays)
            nursery.start_soon(self.watch)
            nursery.start_soon(self._fault_then_check)
            await run_fleet(
                creds, consumers, self.args.duration_s, stats=stats, request_timeout_s=5,
                amount=pay_part(random.Random(1)),
            )  # fmt: skip
            nursery.cancel_scope.cancel()
        if "back" not in self.times:
            self.liveness.violations.append("the run ended before the server was back")
        return await self._settle_and_check(stats)

    async def _fault_then_check(self) -> None:
        await trio.sleep(self.args.duration_s / 3)
        pid = self.liveness.alive(f"before the {self.name}")
        before = await trio.to_thread.run_sync(self.bystanders)
        await self.fault()
        # The same switch, serving: a probe terminal's pay, while the fleet goes on.
        await self.liveness.check(self.name, pid, self.times["back"])
        # And every other process the fault did not kill: the same one, answering.
        after = await trio.to_thread.run_sync(self.bystanders)
        for name, was in before.items():
            if was is None or after.get(name) != was:
                self.liveness.violations.append(
                    f"{name} was not the same process serving after the {self.name}"
                    f" (pid {was} before, {after.get(name)} after)"
                )
        self.bystander_pids = after

    async def _sample_pays(self) -> None:
        while True:
            self.samples.append((time.monotonic(), self.stats.pays_ok))
            await trio.sleep(SAMPLE_EVERY_S)

    def database_url_after(self) -> str:
        """Where to account: the database the switch ended on."""
        return self.urls.database_url

    async def _settle_and_check(self, stats: FleetStats) -> dict[str, Any]:
        self.liveness.alive("at the end")
        biller = HttpClient(
            f"http://127.0.0.1:{self.discom}", timeout_s=30, max_response_bytes=256 * 1024 * 1024
        )
        async with Database.open(self.database_url_after(), 2) as db, Ledger.open(db) as ledger:
            settled = await settle(db, SETTLE_TIMEOUT_S)
            books = await account_for_every_paisa(db, ledger, biller, stats, WALLET_PAISE)
            own = await self.report(db)
        await biller.aclose()
        violations = [*self.liveness.violations, *books["violations"], *own.pop("violations")]
        if not settled:
            violations.append(f"pays still open {SETTLE_TIMEOUT_S:.0f} s after the run")
        return {
            **own,
            "bystanders_unchanged": sorted(self.bystander_pids),
            **self.outage(),
            **books,
            "back_to_served_s": self.liveness.back_to_served_s,
            "violations": violations,
        }

    def outage(self) -> dict[str, Any]:
        """The outage as the terminals saw it, from the samples of pays served."""
        struck, back = self.times["fault"], self.times.get("back", float("nan"))
        served_after = next(
            (t for t, n in self.samples if t > back and n > self.served_at(back)), None
        )
        gaps, last_t, last_n = [], None, -1
        for t, n in self.samples:
            if n > last_n:
                if last_t is not None:
                    gaps.append(t - last_t)
                last_t, last_n = t, n
        started, ended = self.samples[0][0], self.samples[-1][0]
        return {
            "fault_to_back_s": round(back - struck, 3),
            "back_to_first_pay_s": round(served_after - back, 3) if served_after else None,
            "longest_no_pay_served_s": round(max(gaps, default=0.0), 3),
            "pays_per_s_before_fault": round(self.served_at(struck) / (struck - started), 1),
            "pays_per_s_after_back": round(
                (self.samples[-1][1] - self.served_at(back)) / max(0.1, ended - back), 1
            ),
        }

    def served_at(self, moment: float) -> int:
        return max((n for t, n in self.samples if t <= moment), default=0)


def main(drill: type[Drill], parser: argparse.ArgumentParser) -> None:
    """Run ``drill`` with the common options; print its JSON; exit 1 on a violation."""
    parser.add_argument("--duration-s", type=float, default=20.0)
    parser.add_argument("--terminals", type=int, default=40)
    parser.add_argument("--workdir", help="keep the servers' data and logs here")
    args = parser.parse_args()
    if args.workdir:
        shutil.rmtree(args.workdir, ignore_errors=True)
        Path(args.workdir).mkdir(parents=True)
        result = drill(args, Path(args.workdir)).run()
    else:
        with tempfile.TemporaryDirectory(prefix=f"{drill.name}-") as tmp:
            result = drill(args, Path(tmp)).run()
    print(json.dumps(result, indent=1))
    sys.exit(1 if result["violations"] else 0)
