"""How fast ownership checks answer, against what Python gRPC itself can do on this machine.

Baseline: bench.bare_server, a bare grpc.aio process that answers the same methods with answers of
the same size and does nothing else. Measured alternately with it, in the same run, each as its own
process: the entitlement service on PostgreSQL with a warm Redis cache (answers known), and without
Redis (every check reads the database), each with 1 and with 2 worker processes (`--workers`).
Figures: unary CheckOwnership calls/s with 64 in flight;
p50 and p99 latency with 1 in flight; BatchCheckOwnership of 100 pairs per call, in checks/s with 8
calls in flight; each with its ratio to the baseline's same figure.

Run: .venv/bin/python -m bench.ownership_check [--calls 4000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from bench.support import entitlement_child, fresh_database, postgres_available, rate
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


CHANNELS = 8  # connections per server, so the kernel can spread them over the workers of a group


SERVICE = "/paygrant.entitlement.v1.EntitlementService"


def requests() -> tuple[list[bytes], list[bytes]]:
    """The questions asked, serialized once up front: the client shares the machine's two cores with the server."""
    singles = [pb.CheckOwnershipRequest(user_id=f"u{n}", item=item_ref(n)) for n in range(USERS)]
    batches = [
        pb.BatchCheckOwnershipRequest(
            queries=[
                pb.OwnershipQuery(user_id=f"u{(n + i) % USERS}", item=item_ref((n + i) % USERS))
                for i in range(BATCH_SIZE)
            ]
        )
        for n in range(USERS)
    ]
    return [r.SerializeToString() for r in singles], [r.SerializeToString() for r in batches]


async def _figures(channels: list[grpc.aio.Channel], calls: int) -> dict[str, float]:
    """Unary calls/s at 64 in flight, p50/p99 (ms) at 1 in flight, batch checks/s, over granted pairs.

    Requests go out as bytes serialized beforehand and answers come back as bytes, parsed by a
    check before measuring but not while measuring: the load generator spends its share of the two
    cores on calls, not on protobuf, for the baseline and the service alike.
    """
    singles, batches = requests()
    check = [channel.unary_unary(f"{SERVICE}/CheckOwnership") for channel in channels]
    check_batch = [channel.unary_unary(f"{SERVICE}/BatchCheckOwnership") for channel in channels]
    for n in range(CHANNELS):  # every answer right, on every connection, before anything is timed
        answers = pb.BatchCheckOwnershipResponse.FromString(await check_batch[n](batches[n]))
        single = pb.CheckOwnershipResponse.FromString(await check[n](singles[n]))
        if not (single.owned and all(result.owned for result in answers.results)):
            raise RuntimeError("a granted item was answered as not owned")

    async def one(n: int) -> int:
        await check[n % CHANNELS](singles[n % USERS])
        return 1

    async def many(n: int) -> int:
        await check_batch[n % CHANNELS](batches[n % USERS])
        return BATCH_SIZE

    latencies = []
    for n in range(calls // 4):
        started = time.perf_counter()
        await one(n)
        latencies.append((time.perf_counter() - started) * 1000)
    percentiles = statistics.quantiles(latencies, n=100)
    return {
        "unary calls/s": await rate(one, calls, UNARY_IN_FLIGHT),
        "p50 ms": percentiles[49],
        "p99 ms": percentiles[98],
        "batch checks/s": await rate(many, max(calls // 10, 20), BATCH_IN_FLIGHT),
    }


@asynccontextmanager
async def channels_to(target: str) -> AsyncIterator[list[grpc.aio.Channel]]:
    """CHANNELS channels to `target`, each over a connection of its own."""
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
            )
            for _ in range(CHANNELS)
        ]


@asynccontextmanager
async def servers() -> AsyncIterator[dict[str, list[grpc.aio.Channel]]]:
    """The baseline and the service's four setups, each its own process; yields channels by label."""
    use_postgres = postgres_available()
    async with AsyncExitStack() as stack:
        targets = {"bare grpc.aio (baseline)": await stack.enter_async_context(bare_process())}
        for workers in (1, 2):
            for label, redis_url in (("Redis warm", REDIS_URL), ("database only", None)):
                database_url = await stack.enter_async_context(fresh_database(f"ownership_{workers}", use_postgres))
                service = entitlement_child(database_url, redis_url, workers=workers)
                target, _child = await stack.enter_async_context(service)
                targets[f"service, {label}, {workers} worker{'s' if workers > 1 else ''}"] = target
        yield {name: await stack.enter_async_context(channels_to(target)) for name, target in targets.items()}


async def main(calls: int, rounds: int) -> None:
    """Starts the servers, measures them alternately `rounds` times, prints the best of each figure."""
    async with servers() as channels:
        for name, server_channels in channels.items():
            if not name.startswith("bare"):
                await grant_everything(EntitlementServiceStub(server_channels[0]))
        for server_channels in channels.values():
            await _figures(server_channels, calls // 4)  # warm-up: connections, and the caches where there are some
        best: dict[str, dict[str, float]] = {name: {} for name in channels}
        for _ in range(rounds):
            for name, server_channels in channels.items():
                for figure, value in (await _figures(server_channels, calls)).items():
                    better = min if figure.endswith("ms") else max
                    best[name][figure] = better(best[name].get(figure, value), value)
    baseline = best["bare grpc.aio (baseline)"]
    backend = "PostgreSQL" if postgres_available() else "SQLite"
    print(f"ownership checks, {backend}, best of {rounds} alternating rounds of {calls} calls, {CHANNELS} connections")
    print(f"  {'server':36s} {'unary/s @64':>14s} {'p50 ms @1':>14s} {'p99 ms @1':>14s} {'batch x100 checks/s':>20s}")
    for name, figures in best.items():
        cells = [
            f"{figures[figure]:.0f} ({figures[figure] / baseline[figure]:.2f}x)"
            if not figure.endswith("ms")
            else f"{figures[figure]:.2f} ({figures[figure] / baseline[figure]:.2f}x)"
            for figure in ("unary calls/s", "p50 ms", "p99 ms", "batch checks/s")
        ]
        print(f"  {name:36s} {cells[0]:>14s} {cells[1]:>14s} {cells[2]:>14s} {cells[3]:>20s}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.calls, arguments.rounds))
