"""Checkouts per second end to end, and how long each step of one takes.

One checkout is what a buyer goes through: CreateCheckout (gRPC; the payment service prices the cart
and opens a QPay invoice) -> the buyer pays in the QPay simulator (`POST /_sim/invoices/{id}/pay`,
which answers once the simulator's callback to the payment service is answered, i.e. once the payment
is recorded and its outbox row committed) -> the relay delivers the payment to the entitlement service
-> CheckOwnership answers owned. Each checkout is a new user buying one course.

Every part runs as its own process, as docker-compose.yml deploys it: `paygrant qpay-sim`,
`paygrant entitlement` (PostgreSQL + Redis), `paygrant payment` (PostgreSQL + Redis, with its
in-process relay, calling the simulator) and `--relays` `paygrant relay` processes, on fresh databases
dropped afterwards, with Redis keys under prefixes of their own, deleted afterwards.

Steps timed, per checkout:
- create: the CreateCheckout call;
- pay+callback: the pay call, which returns after the callback was answered SUCCESS;
- callback->owned: from the pay call's return to the first CheckOwnership answering owned (default
  consistency, as a client asks), asked every `--poll-ms`; the relay may already be at work before
  the pay call returns, as it is woken by the commit;
- whole: from CreateCheckout's start to owned.
Two rows: one checkout at a time (latency), then `--concurrency` at a time (throughput), both after a
warm-up that is not counted and an ANALYZE of both databases; `checks` is the mean number of
CheckOwnership calls a checkout waited through. A checkout not owned within `--timeout` seconds of its
payment, or any step that fails, fails the bench (exit status 1, naming the checkout and the step).

Run: .venv/bin/python -m bench.checkout [--checkouts 500] [--concurrency 16] [--latency-checkouts 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import aiohttp
import grpc
from sqlalchemy.engine import make_url

from bench.support import (
    analyze,
    drop_keys,
    entitlement_process,
    fresh_database,
    paygrant_process,
    postgres_available,
)
from paygrant.common.v1.common_pb2 import ItemRef
from paygrant.entitlement.v1 import entitlement_pb2
from paygrant.entitlement.v1.entitlement_pb2_grpc import EntitlementServiceStub
from paygrant.grpc_channel import open_channel
from paygrant.payment.v1 import payment_pb2
from paygrant.payment.v1.payment_pb2_grpc import PaymentServiceStub

REDIS_URL = "redis://127.0.0.1:6379/0"
COURSES = 20  # the catalog; checkout n buys course n % COURSES
PRICE = 990_000
CALL_TIMEOUT = 30.0  # seconds for any one gRPC or HTTP call
STEPS = ("create", "pay+callback", "callback->owned", "whole")


class CheckoutFailed(RuntimeError):
    """A checkout could not be made, paid, or did not become owned in time."""


@dataclass(frozen=True)
class Timing:
    """Seconds each step of one checkout took, and how many CheckOwnership calls it waited through."""

    create: float
    pay: float
    owned: float
    checks: int

    def step(self, name: str) -> float:
        """The seconds of the step named `name` (one of STEPS)."""
        match name:
            case "create":
                return self.create
            case "pay+callback":
                return self.pay
            case "callback->owned":
                return self.owned
            case "whole":
                return self.create + self.pay + self.owned
        raise ValueError(f"no step {name!r}")


@dataclass(frozen=True)
class Row:
    """One measured run: `timings` of checkouts made `concurrency` at a time over `seconds`."""

    label: str
    concurrency: int
    timings: Sequence[Timing]
    seconds: float

    def percentile_ms(self, step: str, fraction: float) -> float:
        """The step's time below which `fraction` of the checkouts fall (nearest rank), in milliseconds."""
        ms = sorted(timing.step(step) * 1000 for timing in self.timings)
        return ms[min(len(ms) - 1, int(len(ms) * fraction))]


class Buyer:
    """Makes checkouts the way a gateway and a buyer would: over gRPC and the simulator's pay endpoint."""

    def __init__(
        self,
        payments: PaymentServiceStub,
        entitlements: EntitlementServiceStub,
        http: aiohttp.ClientSession,
        control_url: str,
        poll: float,
        within: float,
    ) -> None:
        self._payments = payments
        self._entitlements = entitlements
        self._http = http
        self._control_url = control_url
        self._poll = poll
        self._within = within

    async def checkout(self, user_id: str, course: ItemRef) -> Timing:
        """One whole checkout of `course` by `user_id`, timed step by step."""
        started = time.perf_counter()
        invoice_id = await self._create(user_id, course)
        created = time.perf_counter()
        await self._pay(invoice_id, user_id)
        paid = time.perf_counter()
        checks = await self._until_owned(user_id, course)
        owned = time.perf_counter()
        return Timing(create=created - started, pay=paid - created, owned=owned - paid, checks=checks)

    async def _create(self, user_id: str, course: ItemRef) -> str:
        request = payment_pb2.CreateCheckoutRequest(idempotency_key=uuid.uuid4().hex, user_id=user_id, items=[course])
        try:
            checkout = await self._payments.CreateCheckout(request, timeout=CALL_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            raise CheckoutFailed(f"CreateCheckout for {user_id}: {error.code().name} {error.details()}") from None
        return str(checkout.invoice.invoice_id)

    async def _pay(self, invoice_id: str, user_id: str) -> None:
        url = f"{self._control_url}/invoices/{invoice_id}/pay"
        try:
            async with self._http.post(url, json={}) as response:
                status, answer = response.status, await response.json()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise CheckoutFailed(f"paying invoice {invoice_id} of {user_id}: {error!r}") from None
        if status != 200 or answer.get("callback_status") != 200:
            raise CheckoutFailed(f"paying invoice {invoice_id} of {user_id}: HTTP {status}, {answer}")

    async def _until_owned(self, user_id: str, course: ItemRef) -> int:
        """CheckOwnership until it answers owned; returns how many calls that took."""
        request = entitlement_pb2.CheckOwnershipRequest(user_id=user_id, item=course)
        deadline = time.perf_counter() + self._within
        checks = 1
        # Another process's state, read by asking, as a client would: there is no event to wait on.
        while not await self._owns(request):
            if time.perf_counter() > deadline:
                raise CheckoutFailed(
                    f"{user_id} does not own {course.kind}/{course.id} {self._within:.0f}s after paying"
                    " (its callback was answered SUCCESS): the payment never reached the entitlement service"
                )
            await asyncio.sleep(self._poll)
            checks += 1
        return checks

    async def _owns(self, request: entitlement_pb2.CheckOwnershipRequest) -> bool:
        try:
            return bool((await self._entitlements.CheckOwnership(request, timeout=CALL_TIMEOUT)).owned)
        except grpc.aio.AioRpcError as error:
            raise CheckoutFailed(
                f"CheckOwnership for {request.user_id}: {error.code().name} {error.details()}"
            ) from None


async def _measure(buyer: Buyer, label: str, count: int, concurrency: int) -> Row:
    """`count` checkouts, `concurrency` at a time, each by a new user; the first failure stops them all."""
    run = uuid.uuid4().hex[:8]
    numbers = iter(range(count))
    timings: list[Timing] = []

    async def shopper() -> None:
        for n in numbers:
            course = ItemRef(kind="course", id=f"bench-course-{n % COURSES}")
            timings.append(await buyer.checkout(f"{label}-{run}-user-{n}", course))

    started = time.perf_counter()
    failures: list[str] = []
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(shopper())
    except* CheckoutFailed as failed:
        failures = [str(error) for error in failed.exceptions]
    if failures:
        raise CheckoutFailed(f"{label}: {failures[0]} (the checkouts still in flight were stopped)")
    return Row(label, concurrency, timings, time.perf_counter() - started)


async def _seed_catalog(payments: PaymentServiceStub) -> None:
    """COURSES courses on sale (no credentials are configured: loopback callers may do everything)."""
    for n in range(COURSES):
        product = payment_pb2.Product(
            item=ItemRef(kind="course", id=f"bench-course-{n}"),
            title=f"Bench course {n}",
            amount=PRICE,
            currency="MNT",
            active=True,
        )
        await payments.PutProduct(payment_pb2.PutProductRequest(product=product), timeout=CALL_TIMEOUT)


@dataclass(frozen=True)
class Stack:
    """Where the running processes answer."""

    payment_target: str
    entitlement_target: str
    control_url: str
    database_urls: tuple[str, str]  # payment's, entitlement's

    @property
    def database_names(self) -> str:
        """The databases' names, for the report (they are dropped by then)."""
        return ", ".join(make_url(url).database or "?" for url in self.database_urls)


@asynccontextmanager
async def _stack(relays: int) -> AsyncIterator[Stack]:
    """The simulator, both services and `relays` relay processes, on fresh databases; all stopped and dropped after."""
    payment_prefix = f"paygrant-bench-{uuid.uuid4().hex[:8]}"
    async with (
        fresh_database("payment", True) as payment_url,
        fresh_database("entitlement", True) as entitlement_url,
        paygrant_process("qpay-sim", {**os.environ, "PAYGRANT_QPAY_SIM_PORT": "0"}) as simulator,
        entitlement_process(entitlement_url, REDIS_URL) as entitlement_target,
        AsyncExitStack() as stack,
    ):
        stack.push_async_callback(drop_keys, REDIS_URL, payment_prefix)
        env = {
            **os.environ,
            "PAYGRANT_PAYMENT_DATABASE_URL": payment_url,
            "PAYGRANT_PAYMENT_GRPC_PORT": "0",
            "PAYGRANT_CALLBACK_PORT": "0",
            "PAYGRANT_QPAY_BASE_URL": simulator["QPay simulator"],
            "PAYGRANT_ENTITLEMENT_TARGET": entitlement_target,
            "PAYGRANT_REDIS_URL": REDIS_URL,
            "PAYGRANT_REDIS_KEY_PREFIX": payment_prefix,
        }
        payment = await stack.enter_async_context(paygrant_process("payment", env))
        for _ in range(relays):
            await stack.enter_async_context(paygrant_process("relay", env))
        yield Stack(
            payment["PaymentService gRPC"],
            entitlement_target,
            simulator["QPay simulator controls"],
            (payment_url, entitlement_url),
        )


@dataclass(frozen=True)
class Plan:
    """What to run: the command line's settings."""

    checkouts: int
    concurrency: int
    latency_checkouts: int
    warm_up: int
    relays: int
    poll: float
    within: float


async def _run(plan: Plan) -> tuple[Stack, list[Row]]:
    async with (
        _stack(plan.relays) as stack,
        open_channel(stack.payment_target) as payment_channel,
        open_channel(stack.entitlement_target) as entitlement_channel,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT)) as http,
    ):
        payments = PaymentServiceStub(payment_channel)
        await _seed_catalog(payments)
        buyer = Buyer(
            payments, EntitlementServiceStub(entitlement_channel), http, stack.control_url, plan.poll, plan.within
        )
        await _measure(buyer, "warm-up", plan.warm_up, plan.concurrency)
        await analyze(*stack.database_urls)
        rows = [
            await _measure(buyer, "latency", plan.latency_checkouts, 1),
            await _measure(buyer, "throughput", plan.checkouts, plan.concurrency),
        ]
        return stack, rows


def _report(plan: Plan, stack: Stack, rows: Sequence[Row]) -> None:
    print("checkout end to end: CreateCheckout -> pay in the QPay simulator (callback answered) -> owned")
    print(f"  PostgreSQL 127.0.0.1:5432, fresh databases {stack.database_names}; Redis {REDIS_URL}")
    print(
        f"  processes: qpay-sim, entitlement, payment (with its relay), {plan.relays} relay;"
        f" {os.cpu_count()} cores; warm-up {plan.warm_up} checkouts at {plan.concurrency} (not counted), then ANALYZE"
    )
    print(f"  owned: CheckOwnership (default consistency) every {plan.poll * 1000:g} ms after the pay call returns")
    print(f"  times in ms, p50 / p99\n{'':<11}{'checkouts':>10}{'at once':>8}{'per s':>8}", end="")
    print("".join(f"{step:>20}" for step in STEPS) + f"{'checks':>8}")
    for row in rows:
        print(
            f"{row.label:<11}{len(row.timings):>10}{row.concurrency:>8}{len(row.timings) / row.seconds:>8.1f}", end=""
        )
        for step in STEPS:
            print(f"{row.percentile_ms(step, 0.5):>11.1f} /{row.percentile_ms(step, 0.99):>7.1f}", end="")
        print(f"{statistics.mean(timing.checks for timing in row.timings):>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkouts", type=int, default=500, help="checkouts measured for throughput")
    parser.add_argument("--concurrency", type=int, default=16, help="checkouts in flight for throughput")
    parser.add_argument("--latency-checkouts", type=int, default=200, help="checkouts measured one at a time")
    parser.add_argument("--warm-up", type=int, default=50, help="checkouts made first, not counted")
    parser.add_argument("--relays", type=int, default=2, help="`paygrant relay` processes (docker-compose.yml: 2)")
    parser.add_argument("--poll-ms", type=float, default=1.0, help="CheckOwnership interval while waiting")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds a paid checkout may take to be owned")
    arguments = parser.parse_args()
    if not postgres_available():
        raise SystemExit("bench.checkout needs PostgreSQL on 127.0.0.1:5432")
    plan = Plan(
        arguments.checkouts,
        arguments.concurrency,
        arguments.latency_checkouts,
        arguments.warm_up,
        arguments.relays,
        arguments.poll_ms / 1000,
        arguments.timeout,
    )
    try:
        stack, rows = asyncio.run(_run(plan))
    except CheckoutFailed as failure:
        raise SystemExit(f"bench.checkout failed: {failure}") from None
    _report(plan, stack, rows)


if __name__ == "__main__":
    main()
