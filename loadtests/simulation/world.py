"""One seeded run of the pay core: the real state machine and its real interpreters
(``PayFlow``, ``Recovery``) in two switch processes, over the fakes, with terminals
paying and asking again, recovery sweeping, and crashes at any instant.

The schedule is trio's, on a virtual clock (``MockClock`` with autojump: time moves
only when every task waits), with trio's own tie-breaking seeded too: the same seed
is the same run. After every effect on the durable state the invariants are checked;
after the run (faults off, recovery left to finish) every pay must be final and the
switch's books must agree with the biller's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import trio
import trio.testing
from trio._core import _run as trio_run  # trio's scheduler tie-break (as Hypothesis seeds it)

from loadtests.simulation.fakes import FakeBiller, FakeLedger, FakePays, Network, at
from switch.config import PaysConfig
from switch.ledger import pay_key
from switch.ledger.types import TransferState
from switch.pays.flow import Biller, PayFlow
from switch.pays.recovery import Recovery
from switch.pays.states import PayState
from switch.pays.store import Pay

PAYS_CONFIG = PaysConfig(
    hold_timeout_s=10**9,  # the ledger's safety net never fires here: any pay it voided is a bug
    recovery_idle_s=1.0,
    unknown_deadline_s=6.0,
    recovery_interval_s=0.5,
    recovery_batch=50,
    inquiry_backoff_base_s=0.2,
    inquiry_backoff_max_s=2.0,
)
WALLET, PAYABLE = 1, 2
CHAOS_S = 15.0  # faults and crashes for this long (virtual seconds) ...
SETTLE_S = 120.0  # ... then this long for recovery to finish everything


class InvariantBroken(AssertionError):
    pass


@dataclass
class Options:
    pays: int = 8
    processes: int = 2
    crashes: bool = True


@dataclass
class Outcome:
    seed: int
    pays: dict[PayState, int]
    effects: int
    crashes: int
    virtual_s: float
    problems: list[str] = field(default_factory=list)


class Switch:
    """One switch process: its own flow (and its in-memory pay locks) and recovery."""

    def __init__(self, world: World, name: str, generation: int) -> None:
        self.process_id = f"{name}#{generation}"
        self.store = world.pays.view(self.process_id)
        self.scope = trio.CancelScope()
        self.nursery: trio.Nursery | None = None
        self.flow: PayFlow | None = None
        self.recovery: Recovery | None = None
        self.world = world

    async def run(self) -> None:
        w = self.world
        with self.scope:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                self.flow = PayFlow(self.store, w.ledger, PAYS_CONFIG.hold_timeout_s, nursery)  # type: ignore[arg-type]
                self.recovery = Recovery(
                    self.store,
                    self.flow,
                    w.ledger,
                    w.billers,
                    PAYS_CONFIG,
                    now=w.now,  # type: ignore[arg-type]
                )
                nursery.start_soon(self.recovery.run)
                await trio.sleep_forever()


class World:
    def __init__(self, seed: int, options: Options, nursery: trio.Nursery) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.options = options
        self.net = Network(self.rng, nursery, stall_s=PAYS_CONFIG.recovery_idle_s)
        self.pays = FakePays(self.net, self.now)
        self.ledger = FakeLedger(self.net, {WALLET: 1_000_00, PAYABLE: 0})
        self.pays.ledger = self.ledger
        self.biller = FakeBiller(self.net, self.rng)
        self.billers = {"UPPCL": Biller("UPPCL", "UPPCL", self.biller, PAYABLE)}  # type: ignore[arg-type]
        self.switches: list[Switch] = []
        self.crashes = 0
        self._nursery = nursery
        self.net.after_effect = self.check_always

    def now(self) -> object:
        return at(trio.current_time())

    # -- the run ----------------------------------------------------------------

    async def run(self) -> None:
        for i in range(self.options.processes):
            self._start(i, 0)
        async with trio.open_nursery() as terminals:
            for n in range(self.options.pays):
                terminals.start_soon(self._terminal, n)
            if self.options.crashes:
                terminals.start_soon(self._crasher)
        await trio.sleep_until(CHAOS_S)
        self.biller.faults = False  # the world heals; recovery must finish everything
        deadline = CHAOS_S + SETTLE_S
        while trio.current_time() < deadline and not self._settled():  # noqa: ASYNC110 (polls the fakes)
            await trio.sleep(1.0)

    def _settled(self) -> bool:
        """Every pay final, every hold resolved, nothing still on its way."""
        held = any(t.state is TransferState.PENDING for t in self.ledger.transfers.values())
        final = all(r.pay.state.final for r in self.pays.records.values())
        return final and not held and self.net.in_flight == 0

    def _start(self, index: int, generation: int) -> None:
        switch = Switch(self, f"p{index}", generation)
        if index < len(self.switches):
            self.switches[index] = switch
        else:
            self.switches.append(switch)
        self._nursery.start_soon(switch.run)

    async def _crasher(self) -> None:
        """Kill a process at a random instant (every in-memory object it had is gone;
        what it sent on its way still lands), then start it again."""
        for generation in range(1, 6):
            await trio.sleep(self.rng.uniform(0.5, CHAOS_S / 4))
            if trio.current_time() > CHAOS_S:
                return
            index = self.rng.randrange(len(self.switches))
            self.switches[index].scope.cancel()
            self.crashes += 1
            await trio.sleep(self.rng.uniform(0.0, 0.5))
            self._start(index, generation)

    async def _terminal(self, n: int) -> None:
        """A terminal pays, then asks again (status with the same ref) until it
        hears an outcome, through whichever process is alive."""
        await trio.sleep(self.rng.uniform(0, CHAOS_S / 2))
        amount = self.rng.choice([100_00, 250_00, 400_00])
        switch = self.rng.choice(self.switches)
        pay = Pay(
            id=n + 1,
            terminal_id="T1",
            terminal_ref=f"R{n}",
            agent_id="A1",
            biller_id="UPPCL",
            consumer_account="1234567890",
            amount_paise=amount,
            mobile=None,
            state=PayState.RECEIVED,
            error_code=None,
            biller_txn_id=None,
            created_at=self.now(),
            updated_at=self.now(),  # type: ignore[arg-type]
            lease_owner=switch.process_id,
            lease_until=at(trio.current_time() + 1.0),
        )
        self.pays.create(pay, WALLET)
        await self._ask(switch, pay, fresh=True)
        for _ in range(20):
            await trio.sleep(self.rng.uniform(0.2, 2.0))
            stored = self.pays.records[pay.id].pay
            if stored.state.final:
                return
            await self._ask(self.rng.choice(self.switches), stored, fresh=False)

    async def _ask(self, switch: Switch, pay: Pay, fresh: bool) -> None:
        if switch.flow is None or switch.nursery is None or switch.scope.cancel_called:
            return
        lease = self.pays.records[pay.id].pay
        if (
            not fresh
            and lease.lease_owner not in (None, switch.process_id)
            and (
                lease.lease_until is not None and lease.lease_until > self.now()  # type: ignore[operator]
            )
        ):
            return  # another process drives it: the terminal hears "pending"
        done = trio.Event()

        async def request() -> None:  # inside the process: a crash takes it too
            try:
                assert switch.flow is not None
                await switch.flow.drive_detached(
                    pay, self.billers["UPPCL"], WALLET, 2.0, fresh=fresh
                )
            finally:
                done.set()

        switch.nursery.start_soon(request)
        with trio.move_on_after(3.0):
            await done.wait()

    # -- the checks ---------------------------------------------------------------

    def check_always(self) -> None:
        """After every effect: money conserved, no wallet below zero, a pay's ledger
        transfer never contradicts its state, no pay final twice."""
        led = self.ledger
        if sum(led.balances.values()) + led.held_paise() != led.total_paise:
            raise InvariantBroken("money not conserved")
        if any(b < 0 for b in led.balances.values()):
            raise InvariantBroken("a wallet below zero")
        for r in self.pays.records.values():
            p = r.pay
            t = led.transfers.get(pay_key(p.terminal_id, p.terminal_ref))
            if r.finals > 1:
                raise InvariantBroken(f"pay {p.id} final {r.finals} times")
            if p.state is PayState.POSTED and (t is None or t.state is not TransferState.POSTED):
                raise InvariantBroken(f"pay {p.id} posted, its hold {t and t.state}")
            if p.state is PayState.VOIDED and t is not None and t.state is TransferState.POSTED:
                raise InvariantBroken(f"pay {p.id} voided, its hold posted")

    def check_at_end(self) -> list[str]:
        """Every pay final; each agrees with its hold; the switch's posted pays are
        exactly the biller's applied payments; no pay voided for an applied payment."""
        problems = []
        posted = set()
        for r in self.pays.records.values():
            p = r.pay
            t = self.ledger.transfers.get(pay_key(p.terminal_id, p.terminal_ref))
            if not p.state.final:
                problems.append(f"pay {p.id} still {p.state}")
            if p.state is PayState.VOIDED and t is not None and t.state is TransferState.PENDING:
                problems.append(f"pay {p.id} voided, its hold still pending")
            if p.state is PayState.POSTED:
                posted.add(p.id)
            if p.error_code == "applied_after_void":
                problems.append(f"pay {p.id} applied after its hold was voided")
        applied = set(self.biller.applied)
        if posted != applied:
            problems.append(
                f"switch posted {sorted(posted - applied)} the biller does not have; "
                f"biller applied {sorted(applied - posted)} the switch did not post"
            )
        return problems


async def simulate(seed: int, options: Options | None = None) -> Outcome:
    """One run; raises ``InvariantBroken`` at the first broken invariant."""
    options = options or Options()
    async with trio.open_nursery() as nursery:
        world = World(seed, options, nursery)
        await world.run()
        nursery.cancel_scope.cancel()
    states: dict[PayState, int] = {}
    for r in world.pays.records.values():
        states[r.pay.state] = states.get(r.pay.state, 0) + 1
    return Outcome(
        seed, states, world.net.effects, world.crashes, trio.current_time(), world.check_at_end()
    )


def run_seed(seed: int, options: Options | None = None) -> Outcome:
    """The whole run of ``seed``, on a virtual clock, deterministically."""
    trio_run._r.seed(seed)
    clock = trio.testing.MockClock(autojump_threshold=0)
    return trio.run(simulate, seed, options, clock=clock)
