"""Locust users that speak the terminal protocol: e-POS terminals fetching and paying.

    SWITCH_CREDENTIALS_DIR=<dir of terminal credentials files> LOAD_PROFILE=morning_rush \\
        locust -f loadtests/locustfile.py --headless --csv run --run-time 60s
    python -m loadtests.report run_stats_history.csv --out run.png

Each user is one terminal (its own credentials file: a terminal has one session, so
users never share one) running the shop's loop: fetch a bill, pay part of it, wait.
Every request is reported to locust's ``request`` event with its latency. A request
fails (for locust) when the switch could not serve it: a transport error, a timeout,
an error answer such as ``internal_error`` or ``busy``, or a pay left pending. A
business "no" (insufficient funds, bill already paid) is a correct answer: it is
counted apart and printed at the end, not failed.

Profiles (``LOAD_PROFILE``, with ``LOAD_USERS`` at the peak and ``LOAD_DURATION_S``):

| profile | users over the run |
|---|---|
| steady | the peak, all the way |
| ramp | from none up to the peak |
| spike | a fifth of the peak, the peak for the middle fifth, then a fifth again |
| morning_rush | shops opening: up to the peak at 30% of the run, down to a third |

The trio fleet (``switch sim fleet``) drives peak rates beyond what gevent users can
(one process of locust manages a few hundred requests a second on this machine).
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

from locust import LoadTestShape, User, between, events, task
from locust.env import Environment

from loadtests.profiles import PROFILES, users_share
from simulators.discom.simulator import discom_account
from simulators.epos.blocking import BlockingTerminal, TerminalError
from switch.provisioning.credentials import Credentials

SEED = int(os.environ.get("LOAD_SEED", "1"))
ACCOUNTS = int(os.environ.get("LOAD_ACCOUNTS", "50000"))
BUSINESS_NO = {"insufficient_funds", "bill_already_paid", "amount_too_high", "unknown_consumer"}
declines: Counter[str] = Counter()
_free: list[Credentials] = []


def _credentials() -> list[Credentials]:
    folder = os.environ.get("SWITCH_CREDENTIALS_DIR")
    if not folder:
        raise SystemExit("set SWITCH_CREDENTIALS_DIR to a folder of terminal credentials files")
    files = sorted(Path(folder).glob("*.json"))
    if not files:
        raise SystemExit(f"no credentials files in {folder}")
    return [Credentials.read(f) for f in files]


@events.init.add_listener
def _load(environment: Environment, **_: Any) -> None:
    _free.extend(_credentials())


@events.quitting.add_listener
def _report(environment: Environment, **_: Any) -> None:
    total = environment.stats.total
    print(
        f"terminal protocol load: {total.num_requests} requests, {total.num_failures} failures, "
        f"{total.total_rps:.1f} req/s, p50 {total.get_response_time_percentile(0.5):.0f} ms, "
        f"p99 {total.get_response_time_percentile(0.99):.0f} ms; business declines "
        f"{dict(declines) or 0}"
    )


class Terminal(User):
    wait_time = between(0.05, 0.5)  # a shopkeeper between customers, compressed

    def on_start(self) -> None:
        if not _free:
            raise SystemExit("more users than terminals: provision more credentials")
        self.rng = random.Random(SEED * 1_000_003 + len(_free))
        self.terminal = BlockingTerminal(_free.pop(), timeout_s=10.0)
        self.refs = 0

    def on_stop(self) -> None:
        self.terminal.close()
        _free.append(self.terminal.creds)

    @task
    def fetch_and_pay(self) -> None:
        account = discom_account(SEED, self.rng.randrange(ACCOUNTS))
        bill = self._call("fetch_bill", biller="UPPCL", account=account)
        if bill is None or bill.get("type") != "bill" or bill["amount_paise"] < 100:
            return
        self.refs += 1
        amount = min(bill["amount_paise"], self.rng.randint(1, 30) * 50_00)
        ref = f"L{os.getpid()}-{self.refs}"
        self._call("pay", biller="UPPCL", account=account, amount_paise=amount, ref=ref)

    def _call(self, kind: str, **fields: Any) -> dict[str, Any] | None:
        started = time.perf_counter()
        answer: dict[str, Any] | None = None
        failure: Exception | None = None
        try:
            answer = self.terminal.request(kind, **fields)
            failure = _failure(answer)
        except TerminalError as exc:
            failure = exc
        self.environment.events.request.fire(
            request_type="terminal",
            name=kind,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=failure,
            context={},
        )
        return answer if failure is None else None


def _failure(answer: dict[str, Any]) -> Exception | None:
    code = answer.get("code")
    if answer.get("type") == "error" or answer.get("status") == "failed":
        if code in BUSINESS_NO:
            declines[str(code)] += 1
            return None
        return TerminalError(str(code or "error"))
    if answer.get("status") == "pending":
        return TerminalError("pending", "the switch did not finish the pay in time")
    return None


class Profile(LoadTestShape):
    """Users over time, by ``LOAD_PROFILE`` (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.kind = os.environ.get("LOAD_PROFILE", "steady")
        self.peak = int(os.environ.get("LOAD_USERS", "50"))
        self.duration_s = float(os.environ.get("LOAD_DURATION_S", "60"))
        if self.kind not in PROFILES:
            raise SystemExit("LOAD_PROFILE must be steady, ramp, spike or morning_rush")

    def tick(self) -> tuple[int, float] | None:
        t = self.get_run_time()
        if t >= self.duration_s:
            return None
        return max(1, round(self.peak * users_share(self.kind, t / self.duration_s))), max(
            1.0, self.peak / 5
        )
