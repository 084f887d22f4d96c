"""How fast the analytics RPCs answer over a million purchases (PostgreSQL only).

A fresh database is filled by one INSERT ... SELECT generate_series: `--purchases` rows spread
evenly over two years, three kinds, 300 items, two currencies, the three sources, 5% revoked.
`paygrant entitlement` runs as its own process, as deployed. Measured over gRPC, each timing the
best and the median of `--repeat` calls after one warm-up:
GetPurchaseStats by MONTH over the two years (every row), by DAY over the last 90 days;
then StreamPurchases of every row (rows/s), with the server's resident memory before and its
peak (VmHWM) after, to show the stream's memory stays bounded.

Run: .venv/bin/python -m bench.purchase_stats [--purchases 1000000] [--repeat 3] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import os
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
from sqlalchemy import text

from bench.support import eventually_serving, fresh_database, postgres_available
from entitlement_service.adapters.orm import SCHEMA
from paygrant.db import open_database
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.entitlement.v1.entitlement_pb2_grpc import EntitlementServiceStub
from paygrant.timestamps import to_timestamp
from paygrant_cli.children import Child, start_child, stop_child

START = dt.datetime(2023, 7, 1, tzinfo=dt.UTC)
SPAN = dt.timedelta(days=730)
END = START + SPAN

# n = 1..:purchases; every distribution is a function of n, so each run holds the same rows.
FILL = """
INSERT INTO purchases (id, user_id, item_kind, item_id, payment_id, amount, currency, source, status,
                       purchased_at, revoked_at, double_purchase)
SELECT gen_random_uuid()::text,
       'user-' || (n % 100000),
       (ARRAY['course', 'test', 'product'])[1 + n % 3],
       'item-' || (n % 300),
       CASE WHEN n % 10 < 8 THEN 'pay-' || n END,
       CASE WHEN n % 10 < 8 THEN 1000 * (1 + n % 97) ELSE 0 END,
       CASE WHEN n % 5 = 0 THEN 'USD' ELSE 'MNT' END,
       CASE WHEN n % 10 < 8 THEN 'paid' WHEN n % 10 = 8 THEN 'free' ELSE 'admin' END,
       CASE WHEN n % 20 = 7 THEN 'revoked' ELSE 'active' END,
       at,
       CASE WHEN n % 20 = 7 THEN at + interval '1 day' END,
       false
FROM (SELECT n, CAST(:start AS timestamptz) + (n - 1) * (CAST(:span AS interval) / :purchases) AS at
      FROM generate_series(1, :purchases) AS n) AS numbered
"""


async def fill(database_url: str, purchases: int) -> float:
    """Migrates and fills the database; returns the seconds it took."""
    started = time.perf_counter()
    async with open_database(database_url, SCHEMA) as database:
        async with database.engine.begin() as connection:
            await connection.execute(text(FILL), {"start": START, "span": SPAN, "purchases": purchases})
        async with database.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("VACUUM ANALYZE purchases"))
    return time.perf_counter() - started


@asynccontextmanager
async def entitlement_server(database_url: str) -> AsyncIterator[tuple[str, Child]]:
    """`paygrant entitlement` as its own process, on any free port: its gRPC target and the process."""
    env = {
        **os.environ,
        "PAYGRANT_ENTITLEMENT_DATABASE_URL": database_url,
        "PAYGRANT_ENTITLEMENT_GRPC_PORT": "0",
        "PAYGRANT_REDIS_KEY_PREFIX": f"paygrant-bench-{uuid.uuid4().hex[:8]}",
    }
    child, listening = await start_child("entitlement", env, log_level="WARNING")
    try:
        target = listening["EntitlementService gRPC"]
        await eventually_serving(target)
        yield target, child
    finally:
        await stop_child(child)


def memory_mib(pid: int, field: str) -> float:
    """A memory figure of a process from /proc/<pid>/status (VmRSS now, VmHWM its peak), in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise LookupError(f"{field} not in /proc/{pid}/status")


async def timed(call: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, float, Any]:
    """Best and median seconds of `repeat` calls after a warm-up, and the last answer."""
    answer = await call()
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = await call()
        seconds.append(time.perf_counter() - started)
    return min(seconds), statistics.median(seconds), answer


def stats_request(start: dt.datetime, end: dt.datetime, granularity: Any) -> Any:
    return pb.GetPurchaseStatsRequest(
        start_time=to_timestamp(start), end_time=to_timestamp(end), granularity=granularity
    )


async def stream_everything(stub: Any, batch_size: int) -> tuple[int, int, float]:
    """Rows and batches of one StreamPurchases of the whole range, and its seconds."""
    request = pb.StreamPurchasesRequest(
        start_time=to_timestamp(START), end_time=to_timestamp(END), batch_size=batch_size
    )
    rows = batches = 0
    started = time.perf_counter()
    async for batch in stub.StreamPurchases(request, timeout=3600):
        rows += len(batch.purchases)
        batches += 1
    return rows, batches, time.perf_counter() - started


async def main(purchases: int, repeat: int, batch_size: int) -> None:
    if not postgres_available():
        sys.exit("bench.purchase_stats needs PostgreSQL on 127.0.0.1:5432")
    async with fresh_database("stats", use_postgres=True) as database_url:
        print(f"filled {purchases:,} purchases in {await fill(database_url, purchases):.1f}s")
        async with (
            entitlement_server(database_url) as (target, child),
            grpc.aio.insecure_channel(target, options=[("grpc.max_receive_message_length", 64 << 20)]) as channel,
        ):
            stub = EntitlementServiceStub(channel)
            figures = [
                ("GetPurchaseStats MONTH, 2 years", stats_request(START, END, pb.GRANULARITY_MONTH)),
                ("GetPurchaseStats DAY, 90 days", stats_request(END - dt.timedelta(days=90), END, pb.GRANULARITY_DAY)),
            ]
            for label, request in figures:
                best, median, answer = await timed(functools.partial(stub.GetPurchaseStats, request), repeat)
                counted = sum(period.purchases.count for period in answer.periods)
                print(
                    f"{label}: best {best:.2f}s, median {median:.2f}s "
                    f"({len(answer.periods)} periods x currencies, {counted:,} purchases counted)"
                )
            rss_before = memory_mib(child.pid, "VmRSS")
            rows, batches, seconds = await stream_everything(stub, batch_size)
            peak = memory_mib(child.pid, "VmHWM")
            print(
                f"StreamPurchases, {batch_size} per batch: {rows:,} rows in {batches:,} batches, {seconds:.1f}s, "
                f"{rows / seconds:,.0f} rows/s; server RSS {rss_before:.0f} MiB before, peak {peak:.0f} MiB"
            )
            assert rows == purchases, f"streamed {rows} of {purchases}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--purchases", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.purchases, arguments.repeat, arguments.batch_size))
