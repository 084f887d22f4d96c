"""The in-memory ownership cache over a fake shared cache and a fake clock: what it keeps, and what it refuses.

A lookup the shared cache does not see was answered from memory; that is how every test here
tells memory from the shared cache.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

import pytest

from entitlement_service.adapters.memory_ownership_cache import (
    MAX_ANSWERS_PER_USER,
    REMEMBERED_INVALIDATIONS,
    MemoryOwnershipCache,
)
from entitlement_service.domain.entitlement import NOT_OWNED, Ownership, OwnershipQuery
from entitlement_service.domain.errors import OwnershipCacheUnavailable
from entitlement_service.domain.purchase import ItemRef, Source
from entitlement_service.service_layer.ownership_cache import CacheLookup, CommittedAnswers
from tests.unit.entitlement_fakes import FakeOwnershipCache

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
OWNED = Ownership(purchased_at=T0, source=Source.PAID)
ALGEBRA = ItemRef("course", "algebra-1")
U1_ALGEBRA, U2_ALGEBRA, U3_ALGEBRA = (OwnershipQuery(user, ALGEBRA) for user in ("u1", "u2", "u3"))
TTL = 10.0


class SharedCache(FakeOwnershipCache):
    """The fake shared cache, recording what it was asked; `hold` pauses lookups, `unavailable` fails invalidations."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[OwnershipQuery] = []
        self.hold: asyncio.Event | None = None
        self.holding = asyncio.Event()
        self.unavailable = False

    async def lookup(self, queries: Sequence[OwnershipQuery]) -> CacheLookup:
        self.asked.extend(queries)
        found = await super().lookup(queries)  # read now: what a pause below holds is already stale
        if self.hold is not None:
            self.holding.set()
            await self.hold.wait()
        return found

    async def invalidate_user(self, user_id: str) -> None:
        if self.unavailable:
            raise OwnershipCacheUnavailable(f"could not invalidate cached ownership of {user_id}")
        await super().invalidate_user(user_id)


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def shared() -> SharedCache:
    return SharedCache()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def memory(shared: SharedCache, clock: Clock) -> MemoryOwnershipCache:
    """A live memory cache (as after its subscription is confirmed)."""
    cache = MemoryOwnershipCache(shared, max_users=100, ttl_seconds=TTL, clock=clock)
    cache.go_live()
    return cache


async def from_memory(memory: MemoryOwnershipCache, shared: SharedCache, query: OwnershipQuery) -> bool:
    """True when memory answered `query` by itself: the shared cache was not asked."""
    shared.asked.clear()
    lookup = await memory.lookup([query])
    return query in lookup.known and shared.asked == []


async def remember_from_database(memory: MemoryOwnershipCache, answers: dict[OwnershipQuery, Ownership]) -> CacheLookup:
    """A check's round: a lookup that misses, then the database's answers remembered."""
    lookup = await memory.lookup(list(answers))
    assert lookup.known == {}
    await memory.remember(lookup, answers)
    return lookup


async def test_a_remembered_answer_is_served_from_memory_while_live(
    memory: MemoryOwnershipCache, shared: SharedCache
) -> None:
    await remember_from_database(memory, {U1_ALGEBRA: OWNED})
    assert shared.answers == {U1_ALGEBRA: OWNED}  # remembered in the shared cache too
    assert await from_memory(memory, shared, U1_ALGEBRA)
    assert (await memory.lookup([U1_ALGEBRA])).known == {U1_ALGEBRA: OWNED}


async def test_nothing_is_kept_in_memory_while_dark(shared: SharedCache, clock: Clock) -> None:
    memory = MemoryOwnershipCache(shared, ttl_seconds=TTL, clock=clock)  # not live until subscribed
    assert not memory.live
    await remember_from_database(memory, {U1_ALGEBRA: OWNED})
    assert not await from_memory(memory, shared, U1_ALGEBRA)
    assert not await from_memory(memory, shared, U1_ALGEBRA)  # nor promoted from the shared cache


async def test_going_dark_empties_memory_and_going_live_again_starts_empty(
    memory: MemoryOwnershipCache, shared: SharedCache
) -> None:
    await remember_from_database(memory, {U1_ALGEBRA: OWNED})
    memory.go_dark()
    assert not memory.live
    assert not await from_memory(memory, shared, U1_ALGEBRA)
    memory.go_live()
    shared.answers.clear()
    assert (await memory.lookup([U1_ALGEBRA])).known == {}  # nothing from before the dark came back


async def test_an_answer_read_before_its_users_invalidation_is_not_kept(
    memory: MemoryOwnershipCache, shared: SharedCache
) -> None:
    lookup = await memory.lookup([U1_ALGEBRA, U2_ALGEBRA])  # a check notes the epoch, misses ...
    memory.forget_user("u1")  # ... u1's invalidation arrives while it reads the database ...
    await memory.remember(lookup, {U1_ALGEBRA: OWNED, U2_ALGEBRA: OWNED})  # ... and it stores what it read
    shared.answers.clear()
    assert (await memory.lookup([U1_ALGEBRA])).known == {}  # possibly stale: not kept
    assert await from_memory(memory, shared, U2_ALGEBRA)  # u2 was not invalidated: kept


async def test_an_answer_read_before_forget_everything_is_not_kept(
    memory: MemoryOwnershipCache, shared: SharedCache
) -> None:
    lookup = await memory.lookup([U1_ALGEBRA, U2_ALGEBRA])
    memory.forget_everything()
    await memory.remember(lookup, {U1_ALGEBRA: OWNED, U2_ALGEBRA: OWNED})
    shared.answers.clear()
    assert (await memory.lookup([U1_ALGEBRA, U2_ALGEBRA])).known == {}
    await remember_from_database(memory, {U1_ALGEBRA: NOT_OWNED})  # a read after it is kept
    assert await from_memory(memory, shared, U1_ALGEBRA)


async def test_an_answer_read_while_dark_is_not_kept_once_live(shared: SharedCache, clock: Clock) -> None:
    memory = MemoryOwnershipCache(shared, ttl_seconds=TTL, clock=clock)
    lookup = await memory.lookup([U1_ALGEBRA])  # read while invalidations could be missed ...
    memory.go_live()
    await memory.remember(lookup, {U1_ALGEBRA: OWNED})  # ... and remembered once they arrive
    shared.answers.clear()
    assert (await memory.lookup([U1_ALGEBRA])).known == {}


async def test_an_invalidation_no_longer_remembered_by_itself_still_refuses_answers_read_before_it(
    memory: MemoryOwnershipCache, shared: SharedCache
) -> None:
    lookup = await memory.lookup([U1_ALGEBRA])
    memory.forget_user("u1")
    for n in range(REMEMBERED_INVALIDATIONS):  # u1's invalidation is pushed out of the remembered ones
        memory.forget_user(f"other-{n}")
    await memory.remember(lookup, {U1_ALGEBRA: OWNED})
    shared.answers.clear()
    assert (await memory.lookup([U1_ALGEBRA])).known == {}


async def test_answers_the_shared_cache_knows_are_promoted_into_memory(
    memory: MemoryOwnershipCache, shared: SharedCache
) -> None:
    shared.answers[U1_ALGEBRA] = OWNED
    assert not await from_memory(memory, shared, U1_ALGEBRA)  # the shared cache answers ...
    assert await from_memory(memory, shared, U1_ALGEBRA)  # ... and memory keeps its answer
    assert (await memory.lookup([U1_ALGEBRA])).known == {U1_ALGEBRA: OWNED}


async def test_a_shared_answer_read_before_its_users_invalidation_is_not_promoted(
    memory: MemoryOwnershipCache, shared: SharedCache
) -> None:
    shared.answers[U1_ALGEBRA] = OWNED
    shared.hold = asyncio.Event()
    looking = asyncio.create_task(memory.lookup([U1_ALGEBRA]))
    await asyncio.wait_for(shared.holding.wait(), 5)  # the shared cache has read the old answer
    memory.forget_user("u1")  # the invalidation arrives before that answer is back
    shared.hold.set()
    assert (await looking).known == {U1_ALGEBRA: OWNED}  # the answer to a lookup that began before
    shared.hold = None
    shared.answers.clear()
    assert (await memory.lookup([U1_ALGEBRA])).known == {}  # but memory did not keep it


async def test_answers_expire_after_the_ttl(memory: MemoryOwnershipCache, shared: SharedCache, clock: Clock) -> None:
    remembered_at = clock.now
    await remember_from_database(memory, {U1_ALGEBRA: OWNED})
    clock.now = remembered_at + TTL - 1
    assert await from_memory(memory, shared, U1_ALGEBRA)
    clock.now = remembered_at + TTL
    shared.answers.clear()
    assert (await memory.lookup([U1_ALGEBRA])).known == {}


async def test_beyond_max_users_the_oldest_user_is_dropped_first(shared: SharedCache, clock: Clock) -> None:
    memory = MemoryOwnershipCache(shared, max_users=2, ttl_seconds=TTL, clock=clock)
    memory.go_live()
    for query in (U1_ALGEBRA, U2_ALGEBRA, U3_ALGEBRA):
        await remember_from_database(memory, {query: OWNED})
    shared.answers.clear()
    assert (await memory.lookup([U1_ALGEBRA])).known == {}
    assert await from_memory(memory, shared, U2_ALGEBRA)
    assert await from_memory(memory, shared, U3_ALGEBRA)


async def test_a_user_never_has_more_than_max_answers_per_user_in_memory(
    memory: MemoryOwnershipCache, shared: SharedCache
) -> None:
    queries = [OwnershipQuery("u1", ItemRef("course", f"c{n}")) for n in range(MAX_ANSWERS_PER_USER + 1)]
    for query in queries:
        await remember_from_database(memory, {query: NOT_OWNED})
    shared.answers.clear()
    kept = (await memory.lookup(queries)).known
    assert 0 < len(kept) <= MAX_ANSWERS_PER_USER
    assert queries[-1] in kept  # the newest answer is kept


async def test_invalidate_user_invalidates_the_shared_cache_and_forgets_here(
    memory: MemoryOwnershipCache, shared: SharedCache
) -> None:
    await remember_from_database(memory, {U1_ALGEBRA: OWNED, U2_ALGEBRA: OWNED})
    await memory.invalidate_user("u1")
    assert shared.invalidated == ["u1"]
    assert (await memory.lookup([U1_ALGEBRA])).known == {}
    assert await from_memory(memory, shared, U2_ALGEBRA)


async def test_invalidate_user_forgets_here_even_when_the_shared_cache_fails_and_reraises(
    memory: MemoryOwnershipCache, shared: SharedCache
) -> None:
    lookup = await remember_from_database(memory, {U1_ALGEBRA: OWNED})
    shared.unavailable = True
    with pytest.raises(OwnershipCacheUnavailable):
        await memory.invalidate_user("u1")
    shared.answers.clear()
    assert (await memory.lookup([U1_ALGEBRA])).known == {}
    await memory.remember(lookup, {U1_ALGEBRA: OWNED})  # an answer read before the failed invalidation
    shared.answers.clear()
    assert (await memory.lookup([U1_ALGEBRA])).known == {}


async def test_a_change_keeps_the_answers_it_committed_and_forgets_the_users_others(
    memory: MemoryOwnershipCache, shared: SharedCache
) -> None:
    geometry = OwnershipQuery("u1", ItemRef("course", "geometry"))
    await remember_from_database(memory, {geometry: OWNED, U1_ALGEBRA: NOT_OWNED})
    epoch = memory.epoch()  # noted before the change's commit
    await memory.invalidate_users(["u1"], CommittedAnswers({U1_ALGEBRA: OWNED}, epoch))
    assert shared.invalidated == ["u1"]
    assert await from_memory(memory, shared, U1_ALGEBRA)
    assert (await memory.lookup([U1_ALGEBRA])).known == {U1_ALGEBRA: OWNED}
    assert not await from_memory(memory, shared, geometry)  # the user's other answers were forgotten


async def test_answers_committed_before_another_change_of_the_user_was_heard_are_not_kept(
    memory: MemoryOwnershipCache, shared: SharedCache
) -> None:
    epoch = memory.epoch()  # this change notes the epoch, and commits ...
    memory.forget_user("u1")  # ... then another replica's later change of u1 is heard ...
    memory.forget_user("u2")
    await memory.invalidate_users(["u1", "u3"], CommittedAnswers({U1_ALGEBRA: OWNED, U3_ALGEBRA: OWNED}, epoch))
    assert not await from_memory(memory, shared, U1_ALGEBRA)  # ... so what this change committed may be stale
    assert await from_memory(memory, shared, U3_ALGEBRA)  # another user's was not overtaken


async def test_a_change_whose_invalidation_failed_keeps_nothing(
    memory: MemoryOwnershipCache, shared: SharedCache
) -> None:
    shared.unavailable = True
    with pytest.raises(OwnershipCacheUnavailable):
        await memory.invalidate_users(["u1"], CommittedAnswers({U1_ALGEBRA: OWNED}, memory.epoch()))
    assert not await from_memory(memory, shared, U1_ALGEBRA)


async def test_nothing_committed_is_kept_while_dark(shared: SharedCache, clock: Clock) -> None:
    memory = MemoryOwnershipCache(shared, ttl_seconds=TTL, clock=clock)
    await memory.invalidate_users(["u1"], CommittedAnswers({U1_ALGEBRA: OWNED}, memory.epoch()))
    memory.go_live()
    assert not await from_memory(memory, shared, U1_ALGEBRA)
