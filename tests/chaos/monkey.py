"""The faults of a chaos run, in an order drawn from the seed, each one fired when the customers have paid enough.

Faults fire one after another at evenly spaced points of progress, so every fault lands while
checkouts, payments, callbacks and relays are in flight. An outage lasts a seeded while and then
the process or server comes back, as an orchestrator would bring it back.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from tests.chaos.stack import ChaosStack
from tests.private_postgres import PrivatePostgres

ROUNDS = 2
# Faults start after the first 5% of the checkouts and are all done by 85%.
FIRST_MARK, LAST_MARK = 0.05, 0.85
OUTAGE_SECONDS = (0.5, 2.0)
QPAY_FAILURES = {"payment_get": {"status": 503, "times": 10}, "payment_check": {"status": 503, "times": 3}}


class Progress:
    """Checkouts admitted and paid, and failed calls, so far; the schedule waits on it and paces it.

    Customers start a checkout only when admitted: the monkey lets them go as far as the next
    fault's mark and no further until the current fault is over, so faults spread over the run
    instead of trailing behind customers that finished long ago. The gate starts closed.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.admitted = 0
        self.paid = 0
        self.failures = 0
        self._limit = 0
        self._change = asyncio.Event()

    async def admit(self) -> bool:
        """True once one more checkout may start; False when every checkout of the run has started."""
        while self.admitted >= self._limit:
            if self.admitted >= self.total:
                return False
            await self._change.wait()
        self.admitted += 1
        self._changed()
        return True

    def admit_up_to(self, limit: int) -> None:
        """Lets customers start checkouts until `limit` have started."""
        self._limit = limit
        self._changed()

    def note_paid(self) -> None:
        """A customer paid an invoice."""
        self.paid += 1
        self._changed()

    def note_failure(self) -> None:
        """A call of a customer failed."""
        self.failures += 1
        self._changed()

    async def until_paid(self, count: int) -> None:
        """Returns once `count` checkouts are paid."""
        while self.paid < count:
            await self._change.wait()

    def _changed(self) -> None:
        # Wake every waiter and give later waiters a fresh event.
        self._change.set()
        self._change = asyncio.Event()


@dataclass(frozen=True)
class Fault:
    """One thing that goes wrong."""

    label: str
    fire: Callable[[], Awaitable[str]]  # returns a detail for the report


@dataclass(frozen=True)
class FiredFault:
    """A fault as it happened: when, at which progress, and how many client calls failed meanwhile."""

    label: str
    detail: str
    at_seconds: float
    paid_before: int
    failed_calls: int


class Monkey:
    """Fires the faults of one run against the stack, its PostgreSQL, its Redis keys and the simulator."""

    def __init__(
        self,
        stack: ChaosStack,
        postgres: PrivatePostgres,
        redis: Redis,
        progress: Progress,
        rng: random.Random,
    ) -> None:
        self._stack = stack
        self._postgres = postgres
        self._redis = redis
        self._progress = progress
        self._rng = rng
        self.fired: list[FiredFault] = []
        self.firing: str | None = None  # the fault under way, for the message of a run that hangs

    def schedule(self) -> list[Fault]:
        """Every kind of fault once per round, each round in a seeded order."""
        faults: list[Fault] = []
        for _ in range(ROUNDS):
            round_ = [
                Fault("SIGKILL payment service", lambda: self._crash("payment")),
                Fault("SIGKILL entitlement service", lambda: self._crash("entitlement")),
                Fault("SIGKILL relay", lambda: self._crash("relay")),
                Fault("crash-restart PostgreSQL", self._restart_postgres),
                Fault("flush Redis (service keys)", self._flush_redis),
                Fault("cut the invalidation subscription", self._cut_invalidations),
                Fault("callbacks: drop", lambda: self._callbacks("drop")),
                Fault("callbacks: duplicate", lambda: self._callbacks("duplicate")),
                Fault("callbacks: fail", lambda: self._callbacks("fail")),
                Fault("QPay lookups answer 503", self._qpay_fails),
            ]
            self._rng.shuffle(round_)
            faults.extend(round_)
        return faults

    async def run(self) -> None:
        """Fires each fault when the customers have paid up to its mark, holding them at the next mark meanwhile."""
        total = self._progress.total
        faults = self.schedule()
        steps = max(1, len(faults) - 1)
        marks = [int(total * (FIRST_MARK + (LAST_MARK - FIRST_MARK) * index / steps)) for index in range(len(faults))]
        started = time.monotonic()
        for index, fault in enumerate(faults):
            self._progress.admit_up_to(marks[index + 1] if index + 1 < len(faults) else total)
            await self._progress.until_paid(marks[index])
            paid, failures, at = self._progress.paid, self._progress.failures, time.monotonic() - started
            self.firing = fault.label
            detail = await fault.fire()
            self.firing = None
            self.fired.append(FiredFault(fault.label, detail, at, paid, self._progress.failures - failures))
        self._progress.admit_up_to(total)

    async def end_faults(self) -> None:
        """Callbacks and QPay back to normal; every process is running (the faults restart what they stop)."""
        await self._stack.sim.clear_faults()

    async def _outage(self) -> float:
        # How long the thing stays down: the fault's length, drawn from the seed, not a wait for a condition.
        seconds = self._rng.uniform(*OUTAGE_SECONDS)
        await asyncio.sleep(seconds)
        return seconds

    async def _crash(self, name: str) -> str:
        await self._stack.kill(name)
        down = await self._outage()
        await self._stack.restart(name)
        return f"down {down:.1f}s, restarted"

    async def _restart_postgres(self) -> str:
        await asyncio.to_thread(self._postgres.kill)  # an immediate stop: a crash, recovery at start
        down = await self._outage()
        await asyncio.to_thread(self._postgres.start)
        return f"down {down:.1f}s, crash recovery"

    async def _flush_redis(self) -> str:
        keys = [key async for key in self._redis.scan_iter(match=f"{self._stack.redis_prefix}:*", count=1000)]
        if keys:
            await self._redis.delete(*keys)
        return f"{len(keys)} keys deleted"

    async def _cut_invalidations(self) -> str:
        # The entitlement service's pub/sub connection is named after its channel (redis_invalidations).
        name = f"{self._stack.redis_prefix}:own-invalidations"
        clients = await self._redis.client_list()
        cut = [client["id"] for client in clients if client.get("name") == name]
        for client_id in cut:
            await self._redis.client_kill_filter(_id=client_id)
        return f"{len(cut)} subscriber connection(s) closed"

    async def _callbacks(self, mode: str) -> str:
        await self._stack.sim.set_faults(callback=mode)
        return "until the next switch"

    async def _qpay_fails(self) -> str:
        await self._stack.sim.set_faults(fail=QPAY_FAILURES)
        return ", ".join(f"{endpoint} x{spec['times']}" for endpoint, spec in QPAY_FAILURES.items())
