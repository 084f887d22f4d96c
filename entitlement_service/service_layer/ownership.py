"""Ownership checks and listings: answered from the cache where it knows, else from the database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from entitlement_service.domain.entitlement import Entitlement, Ownership, OwnershipQuery
from entitlement_service.service_layer.ownership_cache import OwnershipCache
from entitlement_service.service_layer.unit_of_work import UnitOfWorkFactory

# Reads the answers to ownership questions from the database, as of after the call.
OwnershipReader = Callable[[Sequence[OwnershipQuery]], Awaitable[dict[OwnershipQuery, Ownership]]]


def reader_in_units_of_work(uow_factory: UnitOfWorkFactory) -> OwnershipReader:
    """An OwnershipReader that opens a unit of work per read."""

    async def read(queries: Sequence[OwnershipQuery]) -> dict[OwnershipQuery, Ownership]:
        async with uow_factory() as uow:
            return await uow.entitlements.ownership_of(queries)

    return read


async def check_ownership(
    queries: Sequence[OwnershipQuery], read: OwnershipReader, cache: OwnershipCache
) -> list[Ownership]:
    """One answer per query, in the order of the queries."""
    lookup = await cache.lookup(queries)  # before the database, so a change after it invalidates what we store
    if len(lookup.known) == len(queries):
        return [lookup.known[query] for query in queries]
    missing = list(dict.fromkeys(q for q in queries if q not in lookup.known))
    fresh = await read(missing)
    await cache.remember(lookup, fresh)
    answers = lookup.known | fresh
    return [answers[query] for query in queries]


async def list_entitlements(user_id: str, kind: str | None, uow_factory: UnitOfWorkFactory) -> list[Entitlement]:
    """Everything the user owns now, of one kind when given, ordered by kind then item id."""
    async with uow_factory() as uow:
        return await uow.entitlements.of_user(user_id, kind)
