"""How fast the outbox relay turns committed outbox rows into entitlements, against calling the service directly.

On PostgreSQL, with the entitlement service (with Redis, as deployed) and each relay as its own
process (`paygrant entitlement`, `paygrant relay`):

- Throughput: events applied end to end per second, from the first outbox commit to the moment
  the entitlement service's inbox holds the last event, while the bench commits payment events
  to the outbox as fast as it can (100 per transaction), with 1 and then 2 relay workers. Baseline:
  the same events sent straight to ApplyPaymentEvents in batches of the relay's batch size, 1 and
  then 2 calls in flight, measured alternately in the same run; the ratio is relay / baseline.
- Latency at a light load: one payment event committed every 20 ms (50 payments/s), and for each,
  the time from its commit to the first CheckOwnership that answers owned.

Every figure is taken after a warm-up (2,000 events through the same path) and an ANALYZE of both
databases, as a database in use has statistics.

Run: .venv/bin/python -m bench.relay_throughput [--events 20000] [--seconds 20]
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

import asyncpg
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from bench.support import dropping_keys, entitlement_process, fresh_database, postgres_available
from entitlement_service.adapters.redis_ownership_cache import RedisOwnershipCache, invalidated_user
from paygrant.common.v1.common_pb2 import ItemRef
from paygrant.contract_rules import EventType
from paygrant.db import utcnow
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.entitlement.v1.entitlement_pb2_grpc import EntitlementServiceStub
from paygrant.grpc_channel import open_channel
from paygrant_cli.children import start_child, stop_child
from payment_service.adapters.entitlement_client import EntitlementClient
from payment_service.bootstrap import open_units_of_work
from payment_service.domain.events import PaidItem, PaymentEvent
from payment_service.domain.outbox import OutboxStatus
from payment_service.service_layer.relay import DEFAULT_BATCH_SIZE
from payment_service.service_layer.unit_of_work import UnitOfWorkFactory

REDIS_URL = "redis://127.0.0.1:6379/0"
COMMIT_SIZE = 100  # outbox rows per payment-service transaction while the throughput is measured
WARM_UP = 2_000  # events applied before any figure is taken
LIGHT_LOAD = 50  # payments per second for the latency figures
ITEMS = 50


def _events(count: int, run: str) -> list[PaymentEvent]:
    """`count` completions of one item each, by as many users (a user per payment, as on a sale day)."""
    return [
        PaymentEvent(
            event_id=str(uuid.uuid4()),
            type=EventType.PAYMENT_COMPLETED,
            payment_id=str(uuid.uuid4()),
            user_id=f"{run}-user-{n}",
            currency="MNT",
            items=(PaidItem("course", f"c{n % ITEMS}", 990_000),),
            occurred_at=utcnow(),
        )
        for n in range(count)
    ]


async def _commit(uow_factory: UnitOfWorkFactory, events: Sequence[PaymentEvent]) -> None:
    """What the payment service does when it records payments: outbox rows in its own transaction."""
    async with uow_factory() as uow:
        for event in events:
            uow.outbox.add(event, utcnow())
        await uow.commit()


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def _relays(payment_url: str, target: str, count: int) -> AsyncIterator[None]:
    """`count` `paygrant relay` processes over the payment database, delivering to `target`."""
    env = {
        **os.environ,
        "PAYGRANT_PAYMENT_DATABASE_URL": payment_url,
        "PAYGRANT_ENTITLEMENT_TARGET": target,
        "PAYGRANT_RELAY_BATCH_SIZE": str(DEFAULT_BATCH_SIZE),
    }
    async with AsyncExitStack() as stack:
        for _ in range(count):
            child, _ = await start_child("relay", env, log_level="WARNING")
            stack.push_async_callback(stop_child, child)
        yield


async def _analyze(*urls: str) -> None:
    """Statistics for the planner, as autovacuum keeps them on a database in use (a fresh one has none, and the
    plans asyncpg caches for its prepared statements would stay those of empty tables)."""
    for url in urls:
        connection = await asyncpg.connect(_dsn(url))
        try:
            await connection.execute("ANALYZE")
        finally:
            await connection.close()


async def _through_relays(
    uow_factory: UnitOfWorkFactory, inbox: asyncpg.Connection, events: Sequence[PaymentEvent]
) -> float:
    """Events per second from the first outbox commit to the last event in the entitlement service's inbox."""
    before = await inbox.fetchval("SELECT count(*) FROM inbox")
    started = time.perf_counter()
    for start in range(0, len(events), COMMIT_SIZE):
        await _commit(uow_factory, events[start : start + COMMIT_SIZE])
    # Another process's state, read by asking: there is no event to wait on.
    while await inbox.fetchval("SELECT count(*) FROM inbox") < before + len(events):  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    return len(events) / (time.perf_counter() - started)


async def _relayed(entitlement_url: str, target: str, relays: int, count: int) -> float:
    """_through_relays over a fresh payment database with `relays` relay processes, after a warm-up."""
    inbox = await asyncpg.connect(_dsn(entitlement_url))
    try:
        async with (
            fresh_database(f"payment_{relays}", True) as payment_url,
            open_units_of_work(payment_url) as uow_factory,
            _relays(payment_url, target, relays),
        ):
            await _through_relays(uow_factory, inbox, _events(WARM_UP, f"warm-up{relays}"))
            await _analyze(payment_url, entitlement_url)
            return await _through_relays(uow_factory, inbox, _events(count, f"relays{relays}"))
    finally:
        await inbox.close()


async def _pending(uow_factory: UnitOfWorkFactory) -> int:
    """Outbox rows not delivered yet."""
    async with uow_factory() as uow:
        return (await uow.outbox.count_by_status()).get(OutboxStatus.PENDING, 0)


async def _direct(client: EntitlementClient, in_flight: int, count: int) -> float:
    """Events per second sent straight to ApplyPaymentEvents, in the relay's batches, `in_flight` calls at once."""
    events = _events(count, f"direct{in_flight}")
    batches = iter(range(0, count, DEFAULT_BATCH_SIZE))

    async def caller() -> None:
        for start in batches:
            results = await client.apply_events(events[start : start + DEFAULT_BATCH_SIZE])
            assert all(result is None for result in results), results

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(in_flight)))
    return count / (time.perf_counter() - started)


async def _latencies(payment_url: str, target: str, invalidations: str, seconds: float) -> list[float]:
    """Seconds from each payment's commit to the first CheckOwnership answering owned, at LIGHT_LOAD per second.

    No check is sent in a loop (that would take the service's core from the applies being measured):
    the bench follows the service's invalidation channel, and asks once the user's change is announced
    (the service announces it right after its commit), then every millisecond until owned.
    """
    latencies: list[float] = []
    committed: dict[str, tuple[float, PaymentEvent]] = {}
    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    async with (
        redis,
        redis.pubsub() as pubsub,
        open_units_of_work(payment_url) as uow_factory,
        _relays(payment_url, target, 1),
        open_channel(target) as channel,
    ):
        stub = EntitlementServiceStub(channel)
        await pubsub.subscribe(invalidations)
        await _commit(uow_factory, _events(WARM_UP // 4, "latency-warm-up"))
        while await _pending(uow_factory):  # noqa: ASYNC110  (the relay process's progress, read by asking)
            await asyncio.sleep(0.05)
        await _analyze(payment_url)

        async def until_owned(user_id: str) -> None:
            at, event = committed.pop(user_id)
            item = event.items[0]
            check = pb.CheckOwnershipRequest(user_id=user_id, item=ItemRef(kind=item.kind, id=item.item_id))
            while not (await stub.CheckOwnership(check, timeout=10)).owned:  # noqa: ASYNC110  (another process)
                await asyncio.sleep(0.001)
            latencies.append(time.perf_counter() - at)

        async def follow() -> None:
            checks = []
            async for message in pubsub.listen():  # the warm-up's announcements are skipped
                if message["type"] == "message" and (user_id := invalidated_user(message["data"])) in committed:
                    checks.append(asyncio.create_task(until_owned(user_id)))
                if len(checks) == total:
                    await asyncio.gather(*checks)
                    return

        events = _events(int(seconds * LIGHT_LOAD), "latency")
        total = len(events)
        following = asyncio.create_task(follow())
        started = time.perf_counter()
        for n, event in enumerate(events):
            await asyncio.sleep(max(0.0, started + n / LIGHT_LOAD - time.perf_counter()))
            await _commit(uow_factory, [event])
            committed[event.user_id] = (time.perf_counter(), event)
        await asyncio.wait_for(following, 60)
    return latencies


async def main(count: int, seconds: float) -> None:
    if not postgres_available():
        raise SystemExit("bench.relay_throughput needs PostgreSQL on 127.0.0.1:5432")
    rates: dict[str, float] = {}
    prefix = f"paygrant-bench-{uuid.uuid4().hex[:8]}"
    invalidations = RedisOwnershipCache(Redis(), prefix, ttl_seconds=1).invalidation_channel  # the service's channel
    async with (
        dropping_keys(REDIS_URL, prefix),
        fresh_database("entitlement", True) as entitlement_url,
        entitlement_process(entitlement_url, REDIS_URL, redis_prefix=prefix) as target,
    ):
        client = EntitlementClient(target, timeout=30)
        await client.start()
        try:
            await _direct(client, 1, WARM_UP)  # the channel, the service's connections, the tables' statistics
            await _analyze(entitlement_url)
            for workers in (1, 2):
                rates[f"direct ApplyPaymentEvents, {workers} in flight"] = await _direct(client, workers, count)
                rates[f"outbox + {workers} relay(s)"] = await _relayed(entitlement_url, target, workers, count)
        finally:
            await client.stop()
        async with fresh_database("payment_latency", True) as payment_url:
            latencies = await _latencies(payment_url, target, invalidations, seconds)
    print(
        f"relay throughput, {count} events, PostgreSQL, entitlement service with Redis, batches of {DEFAULT_BATCH_SIZE}"
    )
    for workers in (1, 2):
        baseline = rates[f"direct ApplyPaymentEvents, {workers} in flight"]
        relayed = rates[f"outbox + {workers} relay(s)"]
        print(f"  direct ApplyPaymentEvents, {workers} call(s) in flight (baseline) {baseline:8.0f} events/s")
        ratio = relayed / baseline
        print(
            f"  outbox -> {workers} relay process(es) -> applied       {relayed:8.0f} events/s   {ratio:5.2f}x baseline"
        )
    ms = sorted(latency * 1000 for latency in latencies)
    p50, p99 = statistics.median(ms), ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(
        f"commit -> CheckOwnership owned, {LIGHT_LOAD} payments/s for {seconds:.0f} s ({len(ms)} payments), 1 relay:"
        f" p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.events, arguments.seconds))
