"""Entitlements, a projection of active purchases: written when purchases change, read by checks and listings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, Row, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from entitlement_service.adapters.orm import entitlements, metadata
from entitlement_service.adapters.ownership_reader import answers_from, answers_statement
from entitlement_service.domain.entitlement import Entitlement, Ownership, OwnershipQuery
from entitlement_service.domain.errors import ConcurrentChange
from entitlement_service.domain.purchase import ItemRef
from paygrant.db import unique_violations

_c = entitlements.c


class SqlEntitlementRepository:
    """Who owns what now; every method works in the one session given."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def put(self, user_id: str, item: ItemRef, entitlement: Entitlement | None) -> None:
        """Stores the user's entitlement to the item; None removes it."""
        key = (_c.user_id == user_id) & (_c.item_kind == item.kind) & (_c.item_id == item.id)
        if entitlement is None:
            await self._session.execute(delete(entitlements).where(key))
            return
        values = {
            "purchase_id": entitlement.purchase_id,
            "purchased_at": entitlement.purchased_at,
            "source": entitlement.source,
            "payment_id": entitlement.payment_id,
        }
        updated = cast("CursorResult[Any]", await self._session.execute(update(entitlements).where(key).values(values)))
        if updated.rowcount:
            return
        granted_first = {"pk_entitlements": lambda: ConcurrentChange(f"ownership of {item} changed concurrently")}
        with unique_violations(metadata, granted_first):
            await self._session.execute(
                insert(entitlements).values(user_id=user_id, item_kind=item.kind, item_id=item.id, **values)
            )

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
