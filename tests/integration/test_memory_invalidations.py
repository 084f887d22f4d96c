"""Answers in each replica's memory, kept right by Redis pub/sub, against real PostgreSQL and Redis.

Two replicas share one database and one Redis key prefix, each with its own memory cache and its
own subscription, as two processes would. A check the shared (Redis) cache never saw was answered
from memory: that is how these tests tell memory from Redis. Where another replica must react, the
tests wait on what the code exposes (`subscribed`, or the invalidations a replica has heard),
never for a fixed time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest
from redis.asyncio import Redis

from entitlement_service.adapters.memory_ownership_cache import MemoryOwnershipCache
from entitlement_service.adapters.orm import SCHEMA
from entitlement_service.adapters.ownership_reader import SqlOwnershipReader
from entitlement_service.adapters.redis_invalidations import RedisInvalidations
from entitlement_service.adapters.redis_ownership_cache import RedisOwnershipCache
from entitlement_service.domain.entitlement import Ownership, OwnershipQuery
from entitlement_service.domain.validation import parse_query
from entitlement_service.service_layer.apply_payment_event import apply_payment_event
from entitlement_service.service_layer.ownership import check_ownership
from entitlement_service.service_layer.ownership_cache import CacheLookup, CommittedAnswers
from entitlement_service.service_layer.unit_of_work import UnitOfWork
from paygrant.common.v1.common_pb2 import ItemRef
from paygrant.contract_rules import EventType
from paygrant.db import Database, open_database
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from tests.conftest import POSTGRES_ONLY, NewDatabase
from tests.integration.entitlement_server import serving
from tests.unit.entitlement_events import payment_event
from tests.waiting import eventually, wait_for_event

pytestmark = POSTGRES_ONLY

ALGEBRA = parse_query("u1", "course", "algebra-1")
PAID_ALGEBRA = [("course", "algebra-1", 100)]


class CountingRedisCache(RedisOwnershipCache):
    """The shared cache, counting lookups: a check it did not see was answered from memory."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        super().__init__(redis, prefix, ttl_seconds=300)
        self.lookups = 0
        self.before_next_invalidation: Callable[[], Awaitable[None]] | None = None  # run once, then cleared

    async def lookup(self, queries: Sequence[OwnershipQuery]) -> CacheLookup:
        self.lookups += 1
        return await super().lookup(queries)

    async def invalidate_users(self, user_ids: Sequence[str], committed: CommittedAnswers | None = None) -> None:
        if (run_first := self.before_next_invalidation) is not None:
            self.before_next_invalidation = None
            await run_first()
        await super().invalidate_users(user_ids, committed)


class WatchedMemory(MemoryOwnershipCache):
    """The memory cache, noting every invalidation it is told of and every time it goes dark."""

    def __init__(self, shared: CountingRedisCache) -> None:
        super().__init__(shared, ttl_seconds=3600)  # no answer expires during a test: only invalidations count
        self.heard: Counter[str] = Counter()
        self.went_dark = asyncio.Event()

    def forget_user(self, user_id: str) -> None:
        super().forget_user(user_id)
        self.heard[user_id] += 1

    def go_dark(self) -> None:
        super().go_dark()
        self.went_dark.set()


class Replica:
    """One process's share of the service: its own Redis clients, memory and subscription, the common database."""

    def __init__(self, database: Database, redis_url: str, redis_prefix: str) -> None:
        self.database = database
        self.redis = Redis.from_url(redis_url, decode_responses=True)
        self.shared = CountingRedisCache(self.redis, redis_prefix)
        self.memory = WatchedMemory(self.shared)
        self.invalidations = RedisInvalidations(redis_url, self.shared, self.memory)
        self.read = SqlOwnershipReader(database.autocommit)

    async def owns(self, query: OwnershipQuery) -> bool:
        """A check as the servicer makes it."""
        [answer] = await check_ownership([query], self.read, self.memory)
        return answer.owned

    async def owns_from_memory(self, query: OwnershipQuery) -> bool:
        """As owns(), asserting memory answered (the shared cache was not asked)."""
        lookups = self.shared.lookups
        owned = await self.owns(query)
        assert self.shared.lookups == lookups, "memory did not answer"
        return owned

    async def owns_not_from_memory(self, query: OwnershipQuery) -> bool:
        """As owns(), asserting memory did not answer."""
        lookups = self.shared.lookups
        owned = await self.owns(query)
        assert self.shared.lookups == lookups + 1, "memory answered"
        return owned

    async def pays(self, kind: EventType, payment_id: str = "pay-1") -> None:
        """Applies a payment event of u1 here: the change commits, then invalidates through this replica."""
        event = payment_event(kind, payment_id, PAID_ALGEBRA if kind is EventType.PAYMENT_COMPLETED else [])
        duplicate = await apply_payment_event(event, lambda: UnitOfWork(self.database.sessions), self.memory)
        assert not duplicate

    async def has_heard(self, user_id: str, times: int) -> None:
        """Waits until the user's invalidations have reached this replica `times` times."""

        async def heard() -> bool:
            return self.memory.heard[user_id] >= times

        await eventually(heard, what=f"{times} invalidation(s) of {user_id}")


@contextlib.asynccontextmanager
async def replica(database: Database, redis_url: str, redis_prefix: str) -> AsyncIterator[Replica]:
    """A replica whose subscription is confirmed (its memory live)."""
    started = Replica(database, redis_url, redis_prefix)
    await started.invalidations.start()
    try:
        await wait_for_event(started.invalidations.subscribed, what="the invalidation subscription")
        assert started.memory.live
        yield started
    finally:
        await started.invalidations.stop()
        await started.redis.aclose()


@pytest.fixture
async def database_url(new_database: NewDatabase) -> str:
    return await new_database("entitlement")


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    async with open_database(database_url, SCHEMA) as opened:
        yield opened


@pytest.fixture
async def replicas(
    database: Database, redis: Redis, redis_url: str, redis_prefix: str
) -> AsyncIterator[tuple[Replica, Replica]]:
    async with replica(database, redis_url, redis_prefix) as a, replica(database, redis_url, redis_prefix) as b:
        yield a, b


async def test_a_change_through_one_replica_makes_the_other_stop_answering_the_old_state_from_memory(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    await a.pays(EventType.PAYMENT_COMPLETED)
    await b.has_heard("u1", 1)  # the grant's own invalidation is behind us
    assert await b.owns_not_from_memory(ALGEBRA)
    assert await b.owns_from_memory(ALGEBRA)  # B now answers from memory: only an invalidation can change that
    await a.pays(EventType.PAYMENT_REFUNDED)

    async def b_answers_not_owned() -> bool:
        return not await b.owns(ALGEBRA)

    await eventually(b_answers_not_owned, what="replica B to stop answering 'owned'")
    assert b.memory.heard["u1"] == 2  # the refund's invalidation reached B
    assert not await b.owns_from_memory(ALGEBRA)  # and B keeps the new answer in memory


async def test_the_replica_that_made_a_change_answers_the_new_state_as_soon_as_the_change_returns(
    database: Database, redis: Redis, redis_url: str, redis_prefix: str
) -> None:
    async with replica(database, redis_url, redis_prefix) as a:
        # A's own messages never arrive: whatever A answers right after a change, it knew by itself.
        await a.invalidations.stop()
        a.memory.go_live()  # as if subscribed, with every message still on its way
        assert not await a.owns_not_from_memory(ALGEBRA)
        assert not await a.owns_from_memory(ALGEBRA)
        await a.pays(EventType.PAYMENT_COMPLETED)
        assert await a.owns(ALGEBRA)  # at once, with no message heard
        assert await a.owns_from_memory(ALGEBRA)
        await a.pays(EventType.PAYMENT_REFUNDED)
        assert not await a.owns(ALGEBRA)
        assert a.memory.heard["u1"] == 2  # its own two forgets; no message was heard
        assert await redis.pubsub_numsub(a.shared.invalidation_channel) == [(a.shared.invalidation_channel, 0)]


async def test_an_answer_read_before_an_invalidation_that_arrives_during_the_read_is_never_served_from_memory(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    await a.pays(EventType.PAYMENT_COMPLETED)
    await b.has_heard("u1", 1)
    read_done, go_on = asyncio.Event(), asyncio.Event()

    async def slow_read(queries: Sequence[OwnershipQuery]) -> dict[OwnershipQuery, Ownership]:
        answers = await b.read(queries)
        read_done.set()
        await go_on.wait()
        return answers

    checking = asyncio.create_task(check_ownership([ALGEBRA], slow_read, b.memory))
    await wait_for_event(read_done, what="B's read of the database")  # B has read "owned" ...
    await a.pays(EventType.PAYMENT_REFUNDED)  # ... A refunds ...
    await b.has_heard("u1", 2)  # ... and the invalidation reaches B before B stores what it read
    go_on.set()
    [answer] = await checking
    assert answer.owned  # the answer of a check that began before the refund
    assert not await b.owns_not_from_memory(ALGEBRA)  # but memory did not keep it
    assert not await b.owns_from_memory(ALGEBRA)  # memory is live: the new answer is kept


async def test_the_replica_that_applied_a_payment_answers_the_buyers_first_check_from_memory(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    await a.pays(EventType.PAYMENT_COMPLETED)
    await b.has_heard("u1", 1)

    async def own_message_back() -> bool:
        return a.invalidations.own_messages >= 1

    await eventually(own_message_back, what="A's own invalidation to come back to A")
    assert a.memory.heard["u1"] == 1  # its own forget, before the RPC returned; the message itself was ignored
    assert await a.owns_from_memory(ALGEBRA)  # what the completion committed, kept without a read
    assert await b.owns_not_from_memory(ALGEBRA)  # another replica reads it


async def test_a_payment_overtaken_by_a_later_change_before_its_answers_were_kept_keeps_none(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas

    async def b_refunds_and_a_hears_it() -> None:
        # A's completion has committed; B's refund commits after it and is heard by A before A keeps anything.
        await b.pays(EventType.PAYMENT_REFUNDED)
        await a.has_heard("u1", 1)

    a.shared.before_next_invalidation = b_refunds_and_a_hears_it
    await a.pays(EventType.PAYMENT_COMPLETED)
    assert not await a.owns_not_from_memory(ALGEBRA)  # the completion's "owned" was not kept: it was stale
    assert not await a.owns_from_memory(ALGEBRA)


async def subscriber_ids(redis: Redis, channel: str) -> list[int]:
    """The ids, oldest first, of the connections named after the channel (RedisInvalidations names its own so)."""
    return sorted(int(client["id"]) for client in await redis.client_list() if client.get("name") == channel)


async def test_a_killed_subscription_turns_memory_dark_until_it_is_subscribed_again(
    redis: Redis, replicas: tuple[Replica, Replica]
) -> None:
    a, b = replicas
    assert not await b.owns_not_from_memory(ALGEBRA)
    assert not await b.owns_from_memory(ALGEBRA)
    channel = b.shared.invalidation_channel
    listeners = await subscriber_ids(redis, channel)
    assert len(listeners) == 2  # A's, then B's (B subscribed after A's subscription was confirmed)
    assert await redis.pubsub_numsub(channel) == [(channel, 2)]
    b.memory.went_dark.clear()
    await redis.client_kill_filter(_id=str(listeners[1]))  # only B's connection, on this test's own channel
    await wait_for_event(b.memory.went_dark, what="memory to go dark")
    # What follows takes milliseconds; B subscribes again only after its 1 s pause (retry_interval).
    assert not b.invalidations.subscribed.is_set()
    assert not b.memory.live
    assert not await b.owns_not_from_memory(ALGEBRA)  # dark: every check reaches the shared cache
    assert not await b.owns_not_from_memory(ALGEBRA)
    await wait_for_event(b.invalidations.subscribed, what="the subscription to be confirmed again")
    assert b.memory.live
    now = await subscriber_ids(redis, channel)
    assert now[0] == listeners[0] and len(now) == 2 and listeners[1] not in now  # B on a new connection
    assert a.memory.live and not a.memory.went_dark.is_set()  # A was not touched
    assert not await b.owns_not_from_memory(ALGEBRA)  # memory starts empty ...
    assert not await b.owns_from_memory(ALGEBRA)  # ... and is used again


async def test_two_servers_a_revoke_through_one_is_answered_there_at_once_and_on_the_other_soon(
    database_url: str, redis: Redis, redis_url: str, redis_prefix: str
) -> None:
    item = ItemRef(kind="course", id="algebra-1")
    check = pb.CheckOwnershipRequest(user_id="u1", item=item)
    async with (
        serving(database_url, redis_url, redis_prefix) as a,
        serving(database_url, redis_url, redis_prefix) as b,
    ):
        operator = {"reason": "support ticket 1", "actor": "tests"}
        await a.GrantEntitlement(pb.GrantEntitlementRequest(user_id="u1", item=item, idempotency_key="g-1", **operator))
        assert (await a.CheckOwnership(check)).owned

        async def b_answers(owned: bool) -> bool:
            return bool((await b.CheckOwnership(check)).owned) == owned

        await eventually(lambda: b_answers(True), what="replica B to answer 'owned'")
        await b.CheckOwnership(check)  # B's memory is live: its answer is kept there
        await a.RevokeEntitlement(
            pb.RevokeEntitlementRequest(user_id="u1", item=item, idempotency_key="r-1", **operator)
        )
        assert not (await a.CheckOwnership(check)).owned
        await eventually(lambda: b_answers(False), what="replica B to stop answering 'owned'")
