"""Entitlements, a projection of active purchases: written when purchases change, read by checks and listings."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Insert, Row, delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from entitlement_service.adapters.bulk import chunks, dialect_of, insert_on_conflict
from entitlement_service.adapters.orm import entitlements
from entitlement_service.adapters.ownership_reader import answers_from, answers_statement
from entitlement_service.domain.entitlement import Entitlement, Ownership, OwnershipQuery
from entitlement_service.domain.payment_ledger import Holding
from entitlement_service.domain.purchase import ItemRef

_c = entitlements.c
# What a newer derivation replaces in a stored entitlement (the key stays).
_REPLACED = ("purchase_id", "purchased_at", "source", "payment_id")


class SqlEntitlementRepository:
    """Who owns what now; every method works in the one session given."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def put(self, user_id: str, item: ItemRef, entitlement: Entitlement | None) -> None:
        """Stores the user's entitlement to the item; None removes it."""
        await self.put_many({(user_id, item): entitlement})

    async def put_many(self, derived: Mapping[Holding, Entitlement | None]) -> None:
        """Stores each (user, item)'s entitlement, a statement for those kept and one for those removed (None)."""
        kept = [
            {
                "user_id": e.user_id,
                "item_kind": e.item.kind,
                "item_id": e.item.id,
                "purchase_id": e.purchase_id,
                "purchased_at": e.purchased_at,
                "source": e.source,
                "payment_id": e.payment_id,
            }
            for e in derived.values()
            if e is not None
        ]
        if kept:
            await self._session.execute(_upsert_statement(dialect_of(self._session)), kept)
        removed = [(user_id, item.kind, item.id) for (user_id, item), e in derived.items() if e is None]
        for keys in chunks(removed):
            key = tuple_(_c.user_id, _c.item_kind, _c.item_id)
            await self._session.execute(delete(entitlements).where(key.in_(keys)))

    async def ownership_of(self, queries: Sequence[OwnershipQuery]) -> dict[OwnershipQuery, Ownership]:
        """The answer to each query, in one round trip."""
        rows = await self._session.execute(*answers_statement(queries, self._session.get_bind().dialect.name))
        return answers_from(queries, rows)

    async def of_user(self, user_id: str, kind: str | None = None) -> list[Entitlement]:
        """Everything the user owns now (of one kind, when given), ordered by kind then item id."""
        query = select(entitlements).where(_c.user_id == user_id)
        if kind is not None:
            query = query.where(_c.item_kind == kind)
        rows = await self._session.execute(query.order_by(_c.item_kind, _c.item_id))
        return [_entitlement(row) for row in rows]


@functools.cache
def _upsert_statement(dialect: str) -> Insert:
    """INSERT … ON CONFLICT (the key) DO UPDATE: a newer derivation replaces what it derives, the key stays."""
    statement = insert_on_conflict(dialect, entitlements)
    replaced = {name: statement.excluded[name] for name in _REPLACED}
    return statement.on_conflict_do_update(index_elements=[_c.user_id, _c.item_kind, _c.item_id], set_=replaced)


def _item(row: Row[Any]) -> ItemRef:
    return ItemRef(row.item_kind, row.item_id)


def _entitlement(row: Row[Any]) -> Entitlement:
    return Entitlement(
        user_id=row.user_id,
        item=_item(row),
        purchase_id=row.purchase_id,
        purchased_at=row.purchased_at,
        source=row.source,
        payment_id=row.payment_id,
    )
