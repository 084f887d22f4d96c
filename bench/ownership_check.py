"""How fast ownership checks answer, against what Python gRPC itself can do on this machine.

Baseline: bench.bare_server, a bare grpc.aio process that answers the same methods with answers of
the same size and does nothing else. Measured alternately with it, in the same run, each as its own
process: the entitlement service on PostgreSQL with a warm Redis cache (answers known), and without
Redis (every check reads the database). Figures: unary CheckOwnership calls/s with 64 in flight;
p50 and p99 latency with 1 in flight; BatchCheckOwnership of 100 pairs per call, in checks/s with 8
calls in flight; each with its ratio to the baseline's same figure.

Run: .venv/bin/python -m bench.ownership_check [--calls 4000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from bench.support import entitlement_process, fresh_database, postgres_available, rate
from paygrant.common.v1.common_pb2 import ItemRef
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.entitlement.v1.entitlement_pb2_grpc import EntitlementServiceStub
from paygrant.runtime import READY, parse_listening

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


UNARY_IN_FLIGHT, BATCH_IN_FLIGHT, BATCH_SIZE = 64, 8, 100


@asynccontextmanager
async def bare_process() -> AsyncIterator[str]:
    """bench.bare_server as its own process; yields its target."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.bare_server", stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    target = ""
    try:
        while (line := (await process.stdout.readline()).decode()).strip() != READY:
            if not line:
                raise RuntimeError("bench.bare_server exited before it was ready")
            if (listener := parse_listening(line)) is not None:
                target = listener[1]
        yield target
    finally:
        process.terminate()
        await process.wait()


async def _figures(stub: Any, calls: int) -> dict[str, float]:
    """Unary calls/s at 64 in flight, p50/p99 (ms) at 1 in flight, batch checks/s, over granted pairs."""

    async def single(n: int) -> int:
        await stub.CheckOwnership(pb.CheckOwnershipRequest(user_id=f"u{n % USERS}", item=item_ref(n % USERS)))
        return 1

    async def batch(n: int) -> int:
        queries = [
            pb.OwnershipQuery(user_id=f"u{(n + i) % USERS}", item=item_ref((n + i) % USERS)) for i in range(BATCH_SIZE)
        ]
        await stub.BatchCheckOwnership(pb.BatchCheckOwnershipRequest(queries=queries))
        return BATCH_SIZE

    latencies = []
    for n in range(calls // 4):
        started = time.perf_counter()
        await single(n)
        latencies.append((time.perf_counter() - started) * 1000)
    percentiles = statistics.quantiles(latencies, n=100)
    return {
        "unary calls/s": await rate(single, calls, UNARY_IN_FLIGHT),
        "p50 ms": percentiles[49],
        "p99 ms": percentiles[98],
        "batch checks/s": await rate(batch, max(calls // 40, 20), BATCH_IN_FLIGHT),
    }


async def main(calls: int, rounds: int) -> None:
    """Starts the three servers, measures them alternately `rounds` times, prints the best of each figure."""
    use_postgres = postgres_available()
    async with (
        fresh_database("ownership_cache", use_postgres) as cached_url,
        fresh_database("ownership_db", use_postgres) as database_url,
        bare_process() as bare_target,
        entitlement_process(cached_url, REDIS_URL) as cached_target,
        entitlement_process(database_url) as database_target,
        grpc.aio.insecure_channel(bare_target) as bare_channel,
        grpc.aio.insecure_channel(cached_target) as cached_channel,
        grpc.aio.insecure_channel(database_target) as database_channel,
    ):
        stubs = {
            "bare grpc.aio (baseline)": EntitlementServiceStub(bare_channel),
            "service, Redis warm": EntitlementServiceStub(cached_channel),
            "service, database only": EntitlementServiceStub(database_channel),
        }
        for stub in list(stubs.values())[1:]:
            await grant_everything(stub)
        for stub in stubs.values():
            await _figures(stub, calls // 4)  # warm-up: connections, and the cache where there is one
        best: dict[str, dict[str, float]] = {name: {} for name in stubs}
        for _ in range(rounds):
            for name, stub in stubs.items():
                for figure, value in (await _figures(stub, calls)).items():
                    better = min if figure.endswith("ms") else max
                    best[name][figure] = better(best[name].get(figure, value), value)
    baseline = best["bare grpc.aio (baseline)"]
    backend = "PostgreSQL" if use_postgres else "SQLite"
    print(f"ownership checks, {backend}, best of {rounds} alternating rounds of {calls} calls")
    print(f"  {'server':28s} {'unary/s @64':>12s} {'p50 ms @1':>10s} {'p99 ms @1':>10s} {'batch x100 checks/s':>20s}")
    for name, figures in best.items():
        cells = [
            f"{figures[figure]:.0f} ({figures[figure] / baseline[figure]:.2f}x)"
            if not figure.endswith("ms")
            else f"{figures[figure]:.2f} ({figures[figure] / baseline[figure]:.2f}x)"
            for figure in ("unary calls/s", "p50 ms", "p99 ms", "batch checks/s")
        ]
        print(f"  {name:28s} {cells[0]:>14s} {cells[1]:>14s} {cells[2]:>14s} {cells[3]:>20s}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=2)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.calls, arguments.rounds))
