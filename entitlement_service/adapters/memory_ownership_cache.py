"""Ownership answers in this process's memory, in front of the shared cache in Redis.

A check answered from memory costs no round trip at all, which is what lets a check cost little
more than gRPC itself. Memory is kept right by invalidation: every replica publishes the users
whose ownership it changed (redis_invalidations), and each replica forgets their answers when the
message arrives. The replica that made a change forgets before its RPC returns, so a check that
starts after that never answers the old state there.

Race-freedom is the generation scheme of the Redis cache, in memory: `epoch` counts the
invalidations this process has seen. A lookup notes the epoch before anything is read; an answer
read then is stored only if its user has not been invalidated since. While invalidations cannot
arrive (Redis unreachable, the subscription not confirmed yet) memory is dark: it is emptied,
holds nothing, and every check goes to Redis or the database. Answers also expire after a TTL,
which bounds what a lost message could cost.

The replica that made a change keeps the answers the change committed (the change knows them), so
the first check after a payment is answered here without a round trip; it keeps them only for
users of whom it heard no other invalidation since just before the commit (CommittedAnswers says
why that suffices). It ignores its own messages when they come back: it forgot those users itself
before its RPC returned, and whatever it learned since is newer than the message.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

from entitlement_service.domain.entitlement import Ownership, OwnershipQuery
from entitlement_service.domain.purchase import ItemRef
from entitlement_service.service_layer.ownership_cache import CacheLookup, CommittedAnswers, OwnershipCache
from paygrant.metrics import OWNERSHIP_ANSWERS

_FROM_MEMORY = OWNERSHIP_ANSWERS.labels("memory")
# How many recent invalidations are remembered one by one; older ones count as one, at `_floor`.
REMEMBERED_INVALIDATIONS = 10_000
# A user with more answers than this has them dropped rather than grow without bound.
MAX_ANSWERS_PER_USER = 1_000


class MemoryOwnershipCache:
    """Answers per user in a dict, at most `max_users` users (the oldest go first), each for `ttl_seconds`."""

    def __init__(
        self,
        shared: OwnershipCache,
        max_users: int = 100_000,
        ttl_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._shared = shared
        self._max_users = max_users
        self._ttl = ttl_seconds
        self._clock = clock
        self._answers: dict[str, dict[ItemRef, tuple[float, Ownership]]] = {}
        self._epoch = 0
        self._invalidated: OrderedDict[str, int] = OrderedDict()  # user -> epoch of its last invalidation
        self._floor = 0  # every user counts as invalidated at this epoch
        self.live = False

    async def lookup(self, queries: Sequence[OwnershipQuery]) -> CacheLookup:
        """Answers memory holds, then what the shared cache knows of the rest."""
        epoch, now = self._epoch, self._clock()
        known: dict[OwnershipQuery, Ownership] = {}
        for query in queries:
            entry = self._answers.get(query.user_id, {}).get(query.item)
            if entry is not None and entry[0] > now:
                known[query] = entry[1]
        _FROM_MEMORY.inc(len(known))
        if len(known) == len(queries):
            return CacheLookup(known=known, epoch=epoch)
        shared = await self._shared.lookup([query for query in queries if query not in known])
        self._store(shared.known, epoch)
        return CacheLookup(known=known | shared.known, generations=shared.generations, epoch=epoch)

    async def remember(self, lookup: CacheLookup, answers: Mapping[OwnershipQuery, Ownership]) -> None:
        """Stores database answers read after `lookup`, here and in the shared cache."""
        self._store(answers, lookup.epoch)
        await self._shared.remember(lookup, answers)

    async def invalidate_user(self, user_id: str) -> None:
        """Invalidates the shared cache (which tells every replica), then forgets here, even if that failed."""
        await self.invalidate_users([user_id])

    async def invalidate_users(self, user_ids: Sequence[str], committed: CommittedAnswers | None = None) -> None:
        """invalidate_user for every user given, the shared cache asked once; then keeps what the change
        `committed` for each user of whom no other invalidation was heard since the change noted the epoch."""
        try:
            await self._shared.invalidate_users(user_ids)
        except BaseException:
            self._forget_users(user_ids)
            raise
        # From here to the store nothing awaits: no invalidation can come between the test and the store.
        kept = {} if committed is None else self._not_overtaken(committed)
        self._forget_users(user_ids)
        self._store(kept, self._epoch)

    def epoch(self) -> int:
        """The count of invalidations this process has heard."""
        return self._epoch

    def _not_overtaken(self, committed: CommittedAnswers) -> dict[OwnershipQuery, Ownership]:
        return {
            query: ownership
            for query, ownership in committed.answers.items()
            if self._invalidated.get(query.user_id, self._floor) <= committed.epoch
        }

    def _forget_users(self, user_ids: Sequence[str]) -> None:
        for user_id in user_ids:
            self.forget_user(user_id)

    def forget_user(self, user_id: str) -> None:
        """Drops the user's answers, and refuses to store any read before now."""
        self._epoch += 1
        self._answers.pop(user_id, None)
        self._invalidated.pop(user_id, None)
        self._invalidated[user_id] = self._epoch
        if len(self._invalidated) > REMEMBERED_INVALIDATIONS:
            _, self._floor = self._invalidated.popitem(last=False)

    def go_live(self) -> None:
        """Invalidations arrive from now on: memory may hold answers."""
        self.forget_everything()
        self.live = True

    def go_dark(self) -> None:
        """Invalidations may be missed from now on: memory holds nothing until go_live."""
        self.live = False
        self.forget_everything()

    def forget_everything(self) -> None:
        """Drops every answer, and refuses to store any read before now."""
        self._epoch += 1
        self._floor = self._epoch
        self._answers.clear()
        self._invalidated.clear()

    def _store(self, answers: Mapping[OwnershipQuery, Ownership], epoch: int) -> None:
        if not self.live:
            return
        expires = self._clock() + self._ttl
        for query, ownership in answers.items():
            if self._invalidated.get(query.user_id, self._floor) > epoch:
                continue  # read before the user's last invalidation: possibly stale
            items = self._answers.get(query.user_id)
            if items is None:
                if len(self._answers) >= self._max_users:
                    del self._answers[next(iter(self._answers))]
                items = self._answers[query.user_id] = {}
            elif len(items) >= MAX_ANSWERS_PER_USER:
                items.clear()
            items[query.item] = (expires, ownership)
