"""The ownership cache in Redis, kept race-free by a generation per user.

Answers live in a hash per (user, generation). A reader reads the generation first, then the
hash, and on a miss asks the database and writes the answer into that same generation's hash.
A writer replaces the generation after its commit. A reader that read the database before the
commit can only write its stale answer under the old generation, which nobody reads any more,
so a revoke is never followed by a stale "owned".

A generation is a random token, never a count: a count restarts at 0 when Redis is flushed or
restarts empty, and a reader caught across the flush would write its stale answer under a number
that a later change makes current again (the chaos suite found exactly that). A token never
recurs. A reader that finds no generation sets one (SET NX) before reading, so it too reads and
writes under a token no earlier reader had. Generation keys have no expiry (only the answer
hashes do), so a Redis with a volatile-* eviction policy never drops them.

Every invalidation is also published on `invalidation_channel`, for the answers each replica
keeps in its own memory (memory_ownership_cache, redis_invalidations). A message is the user's id,
a tab (which no id holds), and the sending process's token, so a replica knows its own messages.

The answers a change committed are not written here: two replicas' changes of one user reach Redis
in any order, and nothing here could tell the older from the newer. Each replica's memory can
(memory_ownership_cache), and keeps them.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Mapping, Sequence

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError
from redis.typing import EncodableT

from entitlement_service.domain.entitlement import NOT_OWNED, Ownership, OwnershipQuery
from entitlement_service.domain.errors import OwnershipCacheUnavailable
from entitlement_service.domain.purchase import ItemRef, Source
from entitlement_service.service_layer.ownership_cache import CacheLookup, CommittedAnswers
from paygrant.metrics import OWNERSHIP_ANSWERS

log = logging.getLogger(__name__)

_FROM_REDIS = OWNERSHIP_ANSWERS.labels("redis")


class RedisOwnershipCache:
    """Ownership answers in Redis under `{prefix}:own:{user}:{generation}`; Redis failures on read fall back."""

    def __init__(self, redis: Redis, prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._failing = False  # an outage is logged once, when it starts, not once per check
        self.sender = secrets.token_hex(8)  # names this process's invalidation messages

    async def lookup(self, queries: Sequence[OwnershipQuery]) -> CacheLookup:
        """Cached answers to the queries, in two round trips whatever the number of users."""
        asked: dict[str, list[ItemRef]] = {}
        for query in queries:
            items = asked.setdefault(query.user_id, [])
            if query.item not in items:
                items.append(query.item)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                generations = await self._generations(pipe, list(asked))
                for user, items in asked.items():
                    pipe.hmget(self._answers_key(user, generations[user]), [_field(item) for item in items])
                replies = await pipe.execute()
        except RedisError as error:
            self._report_failure("unreadable, answering from the database", error)
            return CacheLookup(known={}, generations={})
        if self._failing:
            self._failing = False
            log.info("ownership cache readable again")
        known = {
            OwnershipQuery(user, item): _decode(value)
            for (user, items), values in zip(asked.items(), replies, strict=True)
            for item, value in zip(items, values, strict=True)
            if value is not None
        }
        _FROM_REDIS.inc(len(known))
        return CacheLookup(known=known, generations=generations)

    async def _generations(self, pipe: Pipeline, users: list[str]) -> dict[str, str]:
        """Each user's generation; a user without one gets a fresh token first (one more round trip)."""
        for user in users:
            pipe.get(self._generation_key(user))
        found = dict(zip(users, await pipe.execute(), strict=True))
        missing = [user for user, generation in found.items() if generation is None]
        if missing:
            for user in missing:
                pipe.set(self._generation_key(user), _new_generation(), nx=True)
                pipe.get(self._generation_key(user))  # ours, or the one a concurrent reader set first
            found.update(zip(missing, (await pipe.execute())[1::2], strict=True))
        return {user: str(generation) for user, generation in found.items()}

    async def remember(self, lookup: CacheLookup, answers: Mapping[OwnershipQuery, Ownership]) -> None:
        """Stores database answers under the generation read before the database was asked."""
        by_key: dict[str, dict[EncodableT, EncodableT]] = {}
        for query, ownership in answers.items():
            if query.user_id in lookup.generations:
                key = self._answers_key(query.user_id, lookup.generations[query.user_id])
                by_key.setdefault(key, {})[_field(query.item)] = _encode(ownership)
        if not by_key:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, mapping in by_key.items():
                    pipe.hset(key, mapping=mapping)
                    pipe.expire(key, self._ttl)
                await pipe.execute()
        except RedisError as error:
            self._report_failure("unwritable, answers not cached", error)

    async def invalidate_user(self, user_id: str) -> None:
        """Makes every cached answer about the user unreachable, and tells every replica to forget its own.

        Call after the commit that changed them.
        """
        await self.invalidate_users([user_id])

    async def invalidate_users(self, user_ids: Sequence[str], committed: CommittedAnswers | None = None) -> None:
        """invalidate_user for every user given, in one round trip whatever their number (`committed` is not kept:
        see the module's docstring)."""
        if not user_ids:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for user_id in user_ids:
                    pipe.set(self._generation_key(user_id), _new_generation())
                    pipe.publish(self.invalidation_channel, f"{user_id}{_SENDER_SEPARATOR}{self.sender}")
                await pipe.execute()
        except RedisError as error:
            who = user_ids[0] if len(user_ids) == 1 else f"{len(user_ids)} users"
            raise OwnershipCacheUnavailable(f"could not invalidate cached ownership of {who}") from error

    def epoch(self) -> int:
        """Invalidations are not heard here (a process's memory hears them)."""
        return 0

    def foreign_user(self, message: str) -> str | None:
        """The user an invalidation message names, or None when this process sent it."""
        user_id, _, sender = message.partition(_SENDER_SEPARATOR)
        return None if sender == self.sender else user_id

    def _report_failure(self, what: str, error: RedisError) -> None:
        if not self._failing:
            log.warning("ownership cache %s: %s", what, error)
        self._failing = True

    @property
    def invalidation_channel(self) -> str:
        """The pub/sub channel that carries the id of every user whose ownership changed."""
        return f"{self._prefix}:own-invalidations"

    def _generation_key(self, user_id: str) -> str:
        return f"{self._prefix}:own-gen:{user_id}"

    def _answers_key(self, user_id: str, generation: str) -> str:
        return f"{self._prefix}:own:{user_id}:{generation}"


def invalidated_user(message: str) -> str:
    """The user an invalidation message names, whoever sent it."""
    return message.partition(_SENDER_SEPARATOR)[0]


_SENDER_SEPARATOR = "\t"


def _new_generation() -> str:
    return secrets.token_hex(8)


def _field(item: ItemRef) -> str:
    # Kinds never contain ":", so the first one separates kind from id.
    return f"{item.kind}:{item.id}"


def _encode(ownership: Ownership) -> str:
    if ownership.source is None or ownership.purchased_at is None:
        return "-"
    return f"{ownership.source.value}|{ownership.purchased_at.isoformat()}"


def _decode(value: str) -> Ownership:
    if value == "-":
        return NOT_OWNED
    source, purchased_at = value.split("|", 1)
    return Ownership(purchased_at=dt.datetime.fromisoformat(purchased_at), source=Source(source))
