"""How fast ownership checks answer: from the database, from the Redis cache, and in batches.

Baseline: CheckOwnership answered from the database (no Redis configured), one call at a time.
The service runs as its own process, as deployed. Measured over the same data: CheckOwnership
with the Redis cache warm, and
BatchCheckOwnership of 100 questions per call (counted per question). Figures are checks per
second with `--concurrency` calls in flight, and their ratio to the baseline.

Run: .venv/bin/python -m bench.ownership_check [--checks 2000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from bench.support import entitlement_process, fresh_database, postgres_available, rate
from paygrant.common.v1.common_pb2 import ItemRef
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.entitlement.v1.entitlement_pb2_grpc import EntitlementServiceStub

USERS, ITEMS_EACH = 200, 5
REDIS_URL = "redis://127.0.0.1:6379/0"


def item_ref(n: int) -> ItemRef:
    """The n-th course of the benchmark catalog."""
    return ItemRef(kind="course", id=f"c{n}")


async def grant_everything(stub: Any) -> None:
    """Grants each of USERS users ITEMS_EACH courses."""
    occurred_at = Timestamp()
    occurred_at.GetCurrentTime()
    for user in range(USERS):
        await stub.ApplyPaymentEvent(
            pb.ApplyPaymentEventRequest(
                event_id=str(uuid.uuid4()),
                type=pb.PAYMENT_EVENT_TYPE_COMPLETED,
                payment_id=f"pay-{user}",
                user_id=f"u{user}",
                items=[pb.PaidItem(item=item_ref(user + i), amount=1000) for i in range(ITEMS_EACH)],
                occurred_at=occurred_at,
            )
        )


async def _measure(database_url: str, redis_url: str | None, checks: int, concurrency: int) -> dict[str, float]:
    async with entitlement_process(database_url, redis_url) as target, grpc.aio.insecure_channel(target) as channel:
        stub = EntitlementServiceStub(channel)
        await grant_everything(stub)

        async def single(n: int) -> int:
            request = pb.CheckOwnershipRequest(user_id=f"u{n % USERS}", item=item_ref(n % (USERS + ITEMS_EACH)))
            await stub.CheckOwnership(request)
            return 1

        async def batch(n: int) -> int:
            queries = [pb.OwnershipQuery(user_id=f"u{(n + i) % USERS}", item=item_ref(n + i)) for i in range(100)]
            await stub.BatchCheckOwnership(pb.BatchCheckOwnershipRequest(queries=queries))
            return 100

        await rate(single, checks, concurrency)  # warm-up: fills the cache where there is one
        return {
            "single": await rate(single, checks, concurrency),
            "batch": await rate(batch, max(checks // 100, 10), concurrency),
        }


async def main(checks: int, concurrency: int) -> None:
    use_postgres = postgres_available()
    async with fresh_database("ownership_db", use_postgres) as url:
        database = await _measure(url, None, checks, concurrency)
    async with fresh_database("ownership_cache", use_postgres) as url:
        cached = await _measure(url, REDIS_URL, checks, concurrency)
    baseline = database["single"]
    print(f"ownership checks, {checks} calls, {concurrency} in flight, {'PostgreSQL' if use_postgres else 'SQLite'}")
    for name, figure in [
        ("CheckOwnership, database (baseline)", baseline),
        ("CheckOwnership, Redis cache warm", cached["single"]),
        ("BatchCheckOwnership x100, database", database["batch"]),
        ("BatchCheckOwnership x100, Redis cache warm", cached["batch"]),
    ]:
        print(f"  {name:44s} {figure:9.0f} checks/s   {figure / baseline:6.2f}x baseline")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.checks, arguments.concurrency))
