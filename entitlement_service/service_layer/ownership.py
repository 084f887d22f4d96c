"""Ownership checks and listings: answered from the cache where it knows, else from the database."""

from __future__ import annotations

from collections.abc import Sequence

from entitlement_service.domain.entitlement import Entitlement, Ownership, OwnershipQuery
from entitlement_service.service_layer.ownership_cache import OwnershipCache
from entitlement_service.service_layer.unit_of_work import UnitOfWorkFactory


async def check_ownership(
    queries: Sequence[OwnershipQuery], uow_factory: UnitOfWorkFactory, cache: OwnershipCache
) -> list[Ownership]:
    """One answer per query, in the order of the queries."""
    lookup = await cache.lookup(queries)  # before the database, so a change after it invalidates what we store
    missing = list(dict.fromkeys(q for q in queries if q not in lookup.known))
    answers = dict(lookup.known)
    if missing:
        async with uow_factory() as uow:
            fresh = await uow.entitlements.ownership_of(missing)
        await cache.remember(lookup, fresh)
        answers.update(fresh)
    return [answers[query] for query in queries]


async def list_entitlements(user_id: str, kind: str | None, uow_factory: UnitOfWorkFactory) -> list[Entitlement]:
    """Everything the user owns now, of one kind when given, ordered by kind then item id."""
    async with uow_factory() as uow:
        return await uow.entitlements.of_user(user_id, kind)
