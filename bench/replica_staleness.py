"""How long another replica may still answer "owned" after a revoke: the window pub/sub invalidation leaves.

Two `paygrant entitlement` processes, A and B, share one PostgreSQL database and one Redis key
prefix, as two replicas of one service; each keeps answers in its memory. For each of `--users`
users: A grants a course (GrantEntitlement); once the grant's invalidation has been delivered (the
bench's own subscriber to the channel saw it), B is checked twice, so the second answer, "owned",
is in B's memory; then A revokes it (RevokeEntitlement) while B is asked without pause
(CheckOwnership, one call after another, from before the revoke is sent until B answers not owned
to a check sent after the revoke returned).

Figures: p50, p99 and max of the time from A's revoke returning to B's first not-owned answer to a
check sent after that; how many users B answered not owned at the first check sent after the
return; how many checks sent after the return B still answered "owned"; when, relative to the
return, the last check B answered "owned" was sent (negative: B had stopped answering the old state
before A's RPC returned); for scale, one CheckOwnership round trip on B, answered from memory.

Run: .venv/bin/python -m bench.replica_staleness [--users 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any

import grpc
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from bench.support import entitlement_process, fresh_database, postgres_available
from entitlement_service.adapters.redis_ownership_cache import RedisOwnershipCache, invalidated_user
from paygrant.common.v1.common_pb2 import ItemRef
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.entitlement.v1.entitlement_pb2_grpc import EntitlementServiceStub

REDIS_URL = "redis://127.0.0.1:6379/0"
COURSE = ItemRef(kind="course", id="c1")
OPERATOR = {"reason": "replica staleness bench", "actor": "bench"}
ROUND_TRIPS = 1000


async def until_subscribed(redis: Redis, channel: str, subscribers: int, within: float = 30.0) -> None:
    """Waits until `subscribers` connections follow the channel: both replicas' memory may be live."""
    async with asyncio.timeout(within):
        while (await redis.pubsub_numsub(channel))[0][1] < subscribers:  # noqa: ASYNC110  (other processes' state)
            await asyncio.sleep(0.05)


async def delivered(pubsub: PubSub, user_id: str, within: float = 10.0) -> None:
    """Waits until the bench's subscriber has the invalidation of `user_id` (earlier ones are skipped)."""
    async with asyncio.timeout(within):
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=within)
            if message is not None and invalidated_user(message["data"]) == user_id:
                return


@dataclass(frozen=True)
class Revoke:
    """What B answered around one revoke: the polls B's checks made, timed from A's revoke returning (ms)."""

    polls: list[tuple[float, float, bool]]  # (sent, answered, owned), relative to the revoke's return

    @property
    def after(self) -> list[tuple[float, float, bool]]:
        """The polls sent after A's revoke returned."""
        return [poll for poll in self.polls if poll[0] >= 0]

    @property
    def fresh_after(self) -> float:
        """From A's revoke returning to B's first not-owned answer (to a check sent after it)."""
        return next(answered for _sent, answered, owned in self.after if not owned)

    @property
    def last_owned(self) -> float | None:
        """When the last check B answered "owned" was sent (negative: before A's revoke returned)."""
        return max((sent for sent, _answered, owned in self.polls if owned), default=None)

    @property
    def stale_after(self) -> list[float]:
        """When each check that was sent after the revoke returned, yet answered "owned", was sent."""
        return [sent for sent, _answered, owned in self.after if owned]


async def revoke_while_polling(a: Any, b: Any, pubsub: PubSub, user_id: str) -> Revoke:
    """Grants through A, warms B's memory, then revokes through A while B is asked again and again."""
    check = pb.CheckOwnershipRequest(user_id=user_id, item=COURSE)
    await a.GrantEntitlement(
        pb.GrantEntitlementRequest(user_id=user_id, item=COURSE, idempotency_key=f"g-{user_id}", **OPERATOR)
    )
    await delivered(pubsub, user_id)
    for _ in range(2):  # the first reads the database and stores the answer; the second is from memory
        if not (await b.CheckOwnership(check)).owned:
            raise RuntimeError(f"B does not see the grant to {user_id}")
    polls: list[tuple[float, float, bool]] = []
    returned: float | None = None

    async def poll_b() -> None:
        while True:
            sent = time.perf_counter()
            owned = bool((await b.CheckOwnership(check)).owned)
            polls.append((sent, time.perf_counter(), owned))
            if returned is not None and sent >= returned and not owned:
                return

    polling = asyncio.create_task(poll_b())
    await a.RevokeEntitlement(
        pb.RevokeEntitlementRequest(user_id=user_id, item=COURSE, idempotency_key=f"r-{user_id}", **OPERATOR)
    )
    returned = time.perf_counter()
    await polling
    return Revoke([((sent - returned) * 1000, (answered - returned) * 1000, owned) for sent, answered, owned in polls])


async def round_trips(b: Any, user_id: str) -> list[float]:
    """Milliseconds of ROUND_TRIPS CheckOwnership calls on B, one at a time, of an answer B has in memory."""
    check = pb.CheckOwnershipRequest(user_id=user_id, item=COURSE)
    times = []
    for _ in range(ROUND_TRIPS):
        started = time.perf_counter()
        await b.CheckOwnership(check)
        times.append((time.perf_counter() - started) * 1000)
    return times


async def main(users: int) -> None:
    """Starts A and B on one database and one prefix, measures `users` revokes, prints the figures."""
    if not postgres_available():
        raise SystemExit("needs PostgreSQL on 127.0.0.1:5432 (two processes on one database)")
    prefix = f"paygrant-bench-{uuid.uuid4().hex[:8]}"
    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    channel = RedisOwnershipCache(redis, prefix, ttl_seconds=1).invalidation_channel  # the replicas' channel
    async with (
        redis,
        fresh_database("replica_staleness", use_postgres=True) as database_url,
        entitlement_process(database_url, REDIS_URL, redis_prefix=prefix) as target_a,
        entitlement_process(database_url, REDIS_URL, redis_prefix=prefix) as target_b,
        grpc.aio.insecure_channel(target_a) as channel_a,
        grpc.aio.insecure_channel(target_b) as channel_b,
        redis.pubsub() as pubsub,
    ):
        a, b = EntitlementServiceStub(channel_a), EntitlementServiceStub(channel_b)
        await until_subscribed(redis, channel, 2)
        await pubsub.subscribe(channel)
        for n in range(20):  # warm-up: connections, prepared statements
            await revoke_while_polling(a, b, pubsub, f"warm-up-{n}")
        revokes = [await revoke_while_polling(a, b, pubsub, f"u{n}") for n in range(users)]
        await a.GrantEntitlement(
            pb.GrantEntitlementRequest(user_id="steady", item=COURSE, idempotency_key="g-steady", **OPERATOR)
        )
        await delivered(pubsub, "steady")
        trips = await round_trips(b, "steady")
        if keys := [key async for key in redis.scan_iter(match=f"{prefix}:*", count=10_000)]:
            await redis.delete(*keys)
    fresh_ms = sorted(revoke.fresh_after for revoke in revokes)
    fresh = statistics.quantiles(fresh_ms, n=100)
    fresh_at_once = sum(1 for revoke in revokes if not revoke.after[0][2])
    stale = [sent for revoke in revokes for sent in revoke.stale_after]
    last_owned = sorted(sent for revoke in revokes if (sent := revoke.last_owned) is not None)
    last = statistics.quantiles(last_owned, n=100)
    trip = statistics.quantiles(trips, n=100)
    print(f"replica staleness: {users} revokes through replica A, replica B asked without pause meanwhile")
    print(
        f"  A's revoke returned -> B's first not-owned answer: "
        f"p50 {fresh[49]:.2f} ms, p99 {fresh[98]:.2f} ms, max {fresh_ms[-1]:.2f} ms"
    )
    print(f"  B not-owned at the first check sent after the return: {fresh_at_once}/{users}")
    print(
        f"  checks sent after the return that B still answered 'owned': {len(stale)}"
        + (f", the latest sent {max(stale):.2f} ms after the return" if stale else "")
    )
    print(
        f"  B's last 'owned' answer was to a check sent, relative to the return ({len(last_owned)} revokes): "
        f"p50 {last[49]:+.2f} ms, p99 {last[98]:+.2f} ms, max {last_owned[-1]:+.2f} ms"
    )
    print(
        f"  for scale, one CheckOwnership round trip on B, answered from memory ({ROUND_TRIPS} calls): "
        f"p50 {trip[49]:.2f} ms, p99 {trip[98]:.2f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.users))
