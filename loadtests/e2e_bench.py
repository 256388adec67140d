"""End to end, open loop: the demo's world driven at set rates of fetch+pay pairs, one
JSON line per step, with the CPU every process spends per pair.

    python -m loadtests.e2e_bench [--rates 200,400,800,1200] [--terminals 200]
                                  [--warmup-s 5] [--window-s 15] [--pin]
                                  [--max-other-cores 0.25]

Open loop: pairs are started on a fixed schedule (``rate`` a second, spread evenly),
whatever the switch answers; a pair's latency is counted from when it was due, not
from when a terminal got round to it, so a switch that falls behind shows it in p99
instead of hiding it by slowing the load down (coordinated omission). Each of the
``--terminals`` connections does one pair at a time; due pairs wait for a free one.

Each step runs in a world of its own (the demo's, started afresh, so that no
consumer's bill is paid off by an earlier step). Per step, over a steady window after
a warm-up: offered and achieved pairs/s,
p50/p95/p99 in ms, and CPU µs per pair of every process (the switch with each of its
threads, the simulators, PostgreSQL's backends, Redis, this load generator) from
/proc, as in loadtests/cpu_bench.py. The machine's CPU used by anything else over
the window is measured from /proc/stat; a step where it exceeded
``--max-other-cores`` is reported with ``"refused"`` and its reason and no figures,
because another tenant's work would be counted as nobody's and would slow the switch
at random: its figures would describe that neighbour, not the switch.

``--pin`` puts the switch (every thread) on CPU 0 and everything else on the other
CPUs (sched_setaffinity), and reports the switch core's busy share; a step where it
is at 90 % or more says ``"switch_core_saturated": true``: the switch is the
bottleneck, not its load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import trio

from loadtests.cpu_bench import TICKS_PER_S, groups_of, sample
from simulators.epos.connection import ConnectionLost, RequestTimeout, connect
from simulators.run import consumer_accounts
from switch.config import load as load_config
from switch.demo.setup import DISCOM_ACCOUNTS, WATER_ACCOUNTS, DemoStack, demo_stack
from switch.provisioning.credentials import Credentials

SATURATED = 0.9
MAX_DUE = 100_000  # pairs due and not yet started; past it the step is over-driven


def machine_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy (every core), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICKS_PER_S


def threads_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of each thread of ``pid``: "main" (trio's), and the others by
    thread id (Python 3.11 gives threads no names the kernel sees)."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            name = "main" if int(task.name) == pid else f"thread {task.name}"
            out[name] = (int(fields[11]) + int(fields[12])) / TICKS_PER_S
    return out


def pin(demo: DemoStack) -> None:
    """The switch and all its threads on CPU 0; every other process of the world,
    and this one, on the remaining CPUs."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("--pin needs two CPUs at least")
    groups = groups_of(demo)
    for name, pids in groups.items():
        target = {cpus[0]} if name == "switch" else set(cpus[1:])
        for pid in pids:
            for task in Path(f"/proc/{pid}/task").iterdir():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.sched_setaffinity(int(task.name), target)


class OpenLoop:
    """Pairs started on schedule over ``connections``, latencies from when due."""

    def __init__(
        self, creds: list[Credentials], accounts: list[tuple[str, str]], seed: int
    ) -> None:
        self.creds = creds
        self.accounts = accounts
        self.rng = random.Random(seed)
        self.latencies_s: list[tuple[float, float]] = []  # (due, latency)
        self.errors: Counter[str] = Counter()  # what went wrong, by kind
        self.completed = 0
        self.tag = f"{time.time_ns() // 1_000_000 % 10**10:x}"  # refs unique per step

    async def run(self, rate: float, duration_s: float) -> None:
        send, receive = trio.open_memory_channel[float](MAX_DUE)
        async with trio.open_nursery() as nursery:
            for c in self.creds:
                nursery.start_soon(self._terminal, c, receive.clone())
            start, n = trio.current_time(), 0
            while (due := start + n / rate) < start + duration_s:
                await trio.sleep_until(due)
                try:
                    send.send_nowait(due)
                except trio.WouldBlock:
                    self.errors["over-driven"] += 1  # counted, not queued
                n += 1
            await send.aclose()

    async def _terminal(
        self, creds: Credentials, due_pairs: trio.MemoryReceiveChannel[float]
    ) -> None:
        ref = 0
        async with due_pairs:
            while True:
                try:
                    async with connect(creds, request_timeout_s=10) as conn:
                        async for due in due_pairs:
                            ref += 1
                            await self._pair(conn, f"e2e-{self.tag}-{ref}")
                            self.latencies_s.append((due, trio.current_time() - due))
                        return
                except (ConnectionLost, RequestTimeout, OSError, trio.BrokenResourceError) as exc:
                    self.errors[type(exc).__name__] += 1
                    await trio.sleep(0.2)

    async def _pair(self, conn: Any, ref: str) -> None:
        biller, account = self.rng.choice(self.accounts)
        bill = await conn.request("fetch_bill", biller=biller, account=account)
        if bill.get("type") != "bill":
            self.errors[f"fetch {bill.get('code')}"] += 1
            return
        if bill["amount_paise"] < 100:
            self.errors["nothing due"] += 1
            return
        amount = min(bill["amount_paise"], self.rng.randint(1, 30) * 50_00)
        answer = await conn.request(
            "pay", ref=ref, biller=biller, account=account, amount_paise=amount
        )
        if answer.get("status") == "success":
            self.completed += 1
        else:
            self.errors[f"pay {answer.get('code') or answer.get('status')}"] += 1


async def step(demo: DemoStack, rate: float, args: argparse.Namespace) -> dict[str, Any]:
    """One rate: warm up, then measure over the window."""
    # Both billers, as the demo's fleet: the discom's accounts alone run out of dues.
    accounts = [("UPPCL", a) for a in consumer_accounts("discom", args.seed, DISCOM_ACCOUNTS)]
    accounts += [("JALSEWA", a) for a in consumer_accounts("water", args.seed, WATER_ACCOUNTS)]
    load = OpenLoop(demo.credentials, accounts, args.seed)
    result: dict[str, Any] = {"offered_pairs_per_s": rate}

    async def window() -> None:
        await trio.sleep(args.warmup_s)
        groups = groups_of(demo)
        switch_pid = groups["switch"][0]
        before, threads = sample(groups), threads_cpu(switch_pid)
        machine, done, t0 = machine_cpu_s(), load.completed, trio.current_time()
        await trio.sleep(args.window_s)
        after, threads_after = sample(groups), threads_cpu(switch_pid)
        took = trio.current_time() - t0
        pairs = load.completed - done
        busy = machine_cpu_s() - machine
        ours = sum(after[g] - before[g] for g in groups)
        result["other_cores"] = round(max(0.0, busy - ours) / took, 3)
        result["achieved_pairs_per_s"] = round(pairs / took, 1)
        window_lat = sorted(lat for due, lat in load.latencies_s if t0 <= due < t0 + took)
        for q in (50, 95, 99):
            idx = min(len(window_lat) - 1, int(q / 100 * len(window_lat)))
            result[f"p{q}_ms"] = round(window_lat[idx] * 1000, 1) if window_lat else None
        result["us_per_pair"] = {
            g: round((after[g] - before[g]) * 1e6 / max(pairs, 1)) for g in groups
        }
        per_thread = {
            name: round((threads_after[name] - threads.get(name, 0)) * 1e6 / max(pairs, 1))
            for name in threads_after
        }
        result["switch_threads_us_per_pair"] = {
            k: v for k, v in sorted(per_thread.items(), key=lambda kv: -kv[1]) if v > 0
        }
        switch_busy = (after["switch"] - before["switch"]) / took
        result["switch_cores"] = round(switch_busy, 3)
        if args.pin:
            result["switch_core_saturated"] = switch_busy >= SATURATED
        if result["other_cores"] > args.max_other_cores:
            reason = f"other load {result['other_cores']} cores > {args.max_other_cores}"
            result.clear()
            result.update({"offered_pairs_per_s": rate, "refused": reason})

    async with trio.open_nursery() as nursery:
        nursery.start_soon(window)
        await load.run(rate, args.warmup_s + args.window_s + 0.5)
    result["errors"] = dict(load.errors)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default="200,400,800,1200", help="pairs/s, one step each")
    parser.add_argument("--terminals", type=int, default=200)
    parser.add_argument("--warmup-s", type=float, default=5.0)
    parser.add_argument("--window-s", type=float, default=15.0)
    parser.add_argument("--pin", action="store_true", help="switch on CPU 0, the rest elsewhere")
    parser.add_argument("--max-other-cores", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    cfg = load_config()
    for rate in (float(r) for r in args.rates.split(",")):
        # A fresh world per step: each starts with every consumer's bill unpaid.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with demo_stack(cfg, seed=args.seed, terminals=args.terminals) as demo:
                if args.pin:
                    pin(demo)
                print(json.dumps(trio.run(step, demo, rate, args)), flush=True)


if __name__ == "__main__":
    main()
