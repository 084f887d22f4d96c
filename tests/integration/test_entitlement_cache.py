"""The Redis ownership cache against real PostgreSQL and Redis: hits, invalidation, and the stale-write race."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import event, text

from entitlement_service.adapters.orm import SCHEMA
from entitlement_service.adapters.ownership_reader import SqlOwnershipReader
from entitlement_service.adapters.redis_ownership_cache import RedisOwnershipCache
from entitlement_service.domain.entitlement import Ownership, OwnershipQuery
from entitlement_service.domain.errors import OwnershipCacheUnavailable
from entitlement_service.domain.validation import RawPaidItem, parse_query
from entitlement_service.service_layer.apply_payment_event import apply_payment_event
from entitlement_service.service_layer.ownership import check_ownership
from entitlement_service.service_layer.unit_of_work import UnitOfWork
from paygrant.contract_rules import EventType
from paygrant.db import Database, open_database
from tests.conftest import POSTGRES_ONLY, NewDatabase
from tests.unit.entitlement_events import payment_event

pytestmark = POSTGRES_ONLY

ALGEBRA = parse_query("u1", "course", "algebra-1")
GEOMETRY = parse_query("u1", "course", "geometry")


@pytest.fixture
async def database(new_database: NewDatabase) -> AsyncIterator[Database]:
    async with open_database(await new_database("entitlement"), SCHEMA) as opened:
        yield opened


@pytest.fixture
def statements(database: Database) -> list[str]:
    """Every SQL statement the engine sends, so a test can prove the database was not asked."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    engines = [database.engine.sync_engine]
    if database.autocommit.sync_engine.pool is not database.engine.sync_engine.pool:  # PostgreSQL: a pool of its own
        engines.append(database.autocommit.sync_engine)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    return sent


@pytest.fixture
def cache(redis: Redis, redis_prefix: str) -> RedisOwnershipCache:
    return RedisOwnershipCache(redis, redis_prefix, ttl_seconds=300)


class Service:
    """The two use cases over one database and one cache, as the servicer would call them."""

    def __init__(self, database: Database, cache: RedisOwnershipCache) -> None:
        self.database, self.cache = database, cache
        self.read = SqlOwnershipReader(database.autocommit)

    def uow_factory(self) -> UnitOfWork:
        return UnitOfWork(self.database.sessions)

    async def apply(self, kind: EventType, payment_id: str, items: list[RawPaidItem]) -> bool:
        return await apply_payment_event(payment_event(kind, payment_id, items), self.uow_factory, self.cache)

    async def check(self, *queries: OwnershipQuery) -> list[Ownership]:
        return await check_ownership(queries, self.read, self.cache)


@pytest.fixture
def service(database: Database, cache: RedisOwnershipCache) -> Service:
    return Service(database, cache)


@pytest.fixture
async def unreachable_cache(redis_prefix: str, refused_port: int) -> AsyncIterator[RedisOwnershipCache]:
    """A cache whose Redis does not answer: nothing listens on its port."""
    client = Redis.from_url(f"redis://127.0.0.1:{refused_port}/0", decode_responses=True)
    yield RedisOwnershipCache(client, redis_prefix, ttl_seconds=300)
    await client.aclose()


def entitlement_reads(statements: list[str]) -> list[str]:
    return [s for s in statements if s.startswith("SELECT") and "entitlements" in s]


async def test_second_check_is_answered_from_the_cache_without_the_database(
    service: Service, statements: list[str]
) -> None:
    await service.apply(EventType.PAYMENT_COMPLETED, "pay-1", [("course", "algebra-1", 100)])
    statements.clear()
    first = await service.check(ALGEBRA)
    assert len(entitlement_reads(statements)) == 1
    statements.clear()
    assert await service.check(ALGEBRA) == first
    assert first[0].owned
    assert statements == []


async def test_cached_answer_stands_until_an_apply_for_the_user_invalidates_it(
    service: Service, database: Database
) -> None:
    await service.apply(EventType.PAYMENT_COMPLETED, "pay-1", [("course", "algebra-1", 100)])
    await service.check(ALGEBRA)
    async with database.engine.begin() as conn:  # behind the cache's back: only an invalidation can reveal this
        await conn.execute(text("DELETE FROM entitlements WHERE item_id = 'algebra-1'"))
    assert (await service.check(ALGEBRA))[0].owned
    await service.apply(EventType.PAYMENT_COMPLETED, "pay-2", [("course", "geometry", 100)])
    algebra, geometry = await service.check(ALGEBRA, GEOMETRY)
    assert (algebra.owned, geometry.owned) == (False, True)


async def test_cached_not_owned_answer_is_replaced_after_a_grant(service: Service, statements: list[str]) -> None:
    assert not (await service.check(GEOMETRY))[0].owned
    statements.clear()
    assert not (await service.check(GEOMETRY))[0].owned
    assert statements == []
    await service.apply(EventType.PAYMENT_COMPLETED, "pay-1", [("course", "geometry", 0)])
    assert (await service.check(GEOMETRY))[0].owned


async def test_revoke_via_apply_is_seen_by_the_next_check(service: Service) -> None:
    await service.apply(
        EventType.PAYMENT_COMPLETED, "pay-1", [("course", "algebra-1", 100), ("course", "geometry", 100)]
    )
    assert [a.owned for a in await service.check(ALGEBRA, GEOMETRY)] == [True, True]
    await service.apply(EventType.PAYMENT_REFUNDED, "pay-1", [])
    assert [a.owned for a in await service.check(ALGEBRA, GEOMETRY)] == [False, False]


async def test_stale_answer_written_back_after_a_revoke_is_never_read(
    service: Service, cache: RedisOwnershipCache, redis: Redis, redis_prefix: str
) -> None:
    await service.apply(EventType.PAYMENT_COMPLETED, "pay-1", [("course", "algebra-1", 100)])
    lookup = await cache.lookup([ALGEBRA])  # a reader misses the cache ...
    assert lookup.known == {}
    async with service.uow_factory() as uow:  # ... and reads the database before the revoke commits
        stale = await uow.entitlements.ownership_of([ALGEBRA])
    assert stale[ALGEBRA].owned
    await service.apply(EventType.PAYMENT_REFUNDED, "pay-1", [])  # the revoke commits and invalidates
    await cache.remember(lookup, stale)  # the slow reader writes its old answer back afterwards
    assert not (await service.check(ALGEBRA))[0].owned
    assert not (await service.check(ALGEBRA))[0].owned  # also once that answer is cached
    old_generation_key = f"{redis_prefix}:own:u1:{lookup.generations['u1']}"  # the documented key layout
    assert await redis.hget(old_generation_key, "course:algebra-1") is not None  # the write happened, unread


async def test_batch_check_answers_in_query_order_from_one_database_read(
    service: Service, statements: list[str]
) -> None:
    await service.apply(EventType.PAYMENT_COMPLETED, "pay-1", [("course", "algebra-1", 100)])
    other_user = parse_query("u2", "course", "algebra-1")
    queries = [GEOMETRY, ALGEBRA, other_user, ALGEBRA]
    statements.clear()
    first = await service.check(*queries)
    assert [a.owned for a in first] == [False, True, False, True]
    assert len(entitlement_reads(statements)) == 1
    statements.clear()
    assert await service.check(*queries) == first
    assert statements == []


async def test_unreachable_redis_on_read_falls_back_to_the_database(
    service: Service,
    unreachable_cache: RedisOwnershipCache,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await service.apply(EventType.PAYMENT_COMPLETED, "pay-1", [("course", "algebra-1", 100)])
    for _ in range(3):
        [answer] = await check_ownership([ALGEBRA], service.read, unreachable_cache)
        assert answer.owned
    outage_lines = [record for record in caplog.records if "answering from the database" in record.getMessage()]
    assert len(outage_lines) == 1, "an outage is one log line, not one per check"


async def test_failed_invalidation_fails_the_apply_and_the_redelivery_repairs_the_cache(
    service: Service, unreachable_cache: RedisOwnershipCache
) -> None:
    assert not (await service.check(ALGEBRA))[0].owned  # "not owned" is now cached
    grant = payment_event(EventType.PAYMENT_COMPLETED, "pay-1", [("course", "algebra-1", 100)])
    with pytest.raises(OwnershipCacheUnavailable):
        await apply_payment_event(grant, service.uow_factory, unreachable_cache)
    assert await apply_payment_event(grant, service.uow_factory, service.cache) is True
    assert (await service.check(ALGEBRA))[0].owned


async def test_an_answer_read_across_a_redis_flush_is_never_read_after_the_next_change(
    service: Service, cache: RedisOwnershipCache, redis: Redis, redis_prefix: str
) -> None:
    await service.apply(EventType.PAYMENT_COMPLETED, "pay-1", [("course", "algebra-1", 100)])  # u1 has a generation
    lookup = await cache.lookup([GEOMETRY])  # a reader misses the cache ...
    async with service.uow_factory() as uow:  # ... and reads "not owned" from the database
        stale = await uow.entitlements.ownership_of([GEOMETRY])
    assert not stale[GEOMETRY].owned
    flushed = [key async for key in redis.scan_iter(match=f"{redis_prefix}:*", count=10_000)]
    await redis.delete(*flushed)  # Redis flushed
    await cache.remember(lookup, stale)  # the reader writes its answer after the flush
    await service.apply(EventType.PAYMENT_COMPLETED, "pay-2", [("course", "geometry", 100)])  # geometry is granted
    assert (await service.check(GEOMETRY))[0].owned, "a generation from before the flush came back"
