"""What the use cases need from an ownership cache, and the cache used when there is none."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from entitlement_service.domain.entitlement import Ownership, OwnershipQuery


@dataclass(frozen=True)
class CacheLookup:
    """Answers the cache knew, and where the cache stood when it was asked.

    The generations (per user, in Redis) and the epoch (the count of invalidations this process
    has seen) are read before the database is asked and go back with `remember`, so an answer
    read before a change is never stored where a reader after the change looks.
    """

    known: dict[OwnershipQuery, Ownership] = field(default_factory=dict)
    generations: dict[str, str] = field(default_factory=dict)
    epoch: int = 0


@dataclass(frozen=True)
class CommittedAnswers:
    """What a change committed for the holdings it touched, and the cache's epoch noted just before its commit.

    Every later change of the same user commits after this one (the buyer's lock orders them), so it
    can be heard only after the epoch was noted: an invalidation heard since then may be newer than
    these answers, and a cache keeps them only where none was.
    """

    answers: Mapping[OwnershipQuery, Ownership]
    epoch: int


class OwnershipCache(Protocol):
    """A cache of ownership answers, invalidated per user after every ownership change."""

    async def lookup(self, queries: Sequence[OwnershipQuery]) -> CacheLookup:
        """Cached answers to the queries that have one."""

    async def remember(self, lookup: CacheLookup, answers: Mapping[OwnershipQuery, Ownership]) -> None:
        """Stores answers read from the database after `lookup`."""

    async def invalidate_user(self, user_id: str) -> None:
        """Forgets every answer about the user; raises OwnershipCacheUnavailable when it cannot."""

    async def invalidate_users(self, user_ids: Sequence[str], committed: CommittedAnswers | None = None) -> None:
        """invalidate_user for many users at once (a batch of payment events changes many); a cache may then keep
        the answers the change `committed`, so that the next check need not read them back."""

    def epoch(self) -> int:
        """The count of invalidations this process has heard; a change notes it just before it commits."""


class NoOwnershipCache:
    """Stands in when no Redis is configured: knows nothing, so every check asks the database."""

    async def lookup(self, queries: Sequence[OwnershipQuery]) -> CacheLookup:
        """Nothing is cached."""
        return CacheLookup()

    async def remember(self, lookup: CacheLookup, answers: Mapping[OwnershipQuery, Ownership]) -> None:
        """Nothing to store."""

    async def invalidate_user(self, user_id: str) -> None:
        """Nothing to forget."""

    async def invalidate_users(self, user_ids: Sequence[str], committed: CommittedAnswers | None = None) -> None:
        """Nothing to forget."""

    def epoch(self) -> int:
        """Nothing is heard."""
        return 0
