"""How fast the outbox relay hands events to the entitlement service, against calling it directly.

Baseline: the same ApplyPaymentEvent calls made back to back by one client, with no outbox.
Measured: the same number of events written to the outbox and delivered by 1 relay, then by 2
relays at once (PostgreSQL only: SKIP LOCKED lets them share the rows). The entitlement service runs as
its own process. Both services' databases are fresh PostgreSQL databases when 127.0.0.1:5432 answers, else SQLite files.

Run: .venv/bin/python -m bench.relay_throughput [--events 500]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from bench.support import entitlement_process, fresh_database, postgres_available
from paygrant.contract_rules import EventType
from paygrant.db import utcnow
from payment_service.adapters.entitlement_client import EntitlementClient
from payment_service.bootstrap import open_units_of_work
from payment_service.domain.events import PaidItem, PaymentEvent
from payment_service.domain.outbox import RetryPolicy
from payment_service.service_layer.relay import OutboxRelay
from payment_service.service_layer.unit_of_work import UnitOfWorkFactory


def _events(count: int) -> list[PaymentEvent]:
    return [
        PaymentEvent(
            event_id=str(uuid.uuid4()),
            type=EventType.PAYMENT_COMPLETED,
            payment_id=str(uuid.uuid4()),
            user_id=f"user-{i}",
            currency="MNT",
            items=(PaidItem("course", f"c{i % 50}", 990_000),),
            occurred_at=utcnow(),
        )
        for i in range(count)
    ]


async def _enqueue(uow_factory: UnitOfWorkFactory, events: list[PaymentEvent]) -> None:
    async with uow_factory() as uow:
        for event in events:
            uow.outbox.add(event, utcnow())
        await uow.commit()


async def _through_relays(payment_url: str, client: EntitlementClient, count: int, relays: int) -> float:
    """Seconds for `relays` relays to deliver `count` fresh outbox rows."""
    async with open_units_of_work(payment_url) as uow_factory:
        await _enqueue(uow_factory, _events(count))
        policy = RetryPolicy(max_attempts=3, base_seconds=60, max_seconds=60)
        workers = [OutboxRelay(uow_factory, client.apply, policy, poll_seconds=1) for _ in range(relays)]
        started = time.perf_counter()
        delivered = sum(await asyncio.gather(*(w.deliver_due() for w in workers)))
        elapsed = time.perf_counter() - started
    assert delivered == count, f"delivered {delivered} of {count}"
    return elapsed


async def main(count: int) -> None:
    use_postgres = postgres_available()
    backend = "PostgreSQL" if use_postgres else "SQLite"
    async with (
        fresh_database("entitlement", use_postgres) as entitlement_url,
        entitlement_process(entitlement_url) as target,
    ):
        client = EntitlementClient(target, timeout=10)
        await client.start()
        try:
            await client.apply(_events(1)[0])  # warm the channel and the entitlement service
            started = time.perf_counter()
            for event in _events(count):
                await client.apply(event)
            baseline = time.perf_counter() - started
            results = {"direct ApplyPaymentEvent calls (baseline)": baseline}
            async with fresh_database("payment_1", use_postgres) as url:
                results["outbox + 1 relay"] = await _through_relays(url, client, count, 1)
            if use_postgres:
                async with fresh_database("payment_2", use_postgres) as url:
                    results["outbox + 2 relays (SKIP LOCKED)"] = await _through_relays(url, client, count, 2)
        finally:
            await client.stop()
    print(f"relay throughput, {count} events, {backend} for both services")
    for name, seconds in results.items():
        print(f"  {name:42s} {count / seconds:8.0f} events/s   {baseline / seconds:5.2f}x baseline")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    asyncio.run(main(parser.parse_args().events))
