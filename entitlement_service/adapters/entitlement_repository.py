"""Entitlements: written when purchases change, read by ownership checks and listings."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from entitlement_service.adapters.orm import EntitlementRow
from entitlement_service.adapters.repository import flush
from entitlement_service.domain.entitlement import NOT_OWNED, Entitlement, Ownership
from entitlement_service.domain.events import OwnershipQuery
from entitlement_service.domain.purchase import Item, Source
from entitlement_service.errors import ConcurrentChange


class EntitlementRepository:
    """Who owns what now; every method works in the one session given."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def put(self, user_id: str, item: Item, entitlement: Entitlement | None) -> None:
        """Stores the user's entitlement to the item; None removes it."""
        row = await self._session.get(EntitlementRow, (user_id, item.kind, item.id))
        if entitlement is None:
            if row is not None:
                await self._session.delete(row)
        else:
            if row is None:
                row = EntitlementRow(user_id=user_id, item_kind=item.kind, item_id=item.id)
                self._session.add(row)
            row.purchase_id, row.purchased_at = entitlement.purchase_id, entitlement.purchased_at
            row.source, row.payment_id = entitlement.source.value, entitlement.payment_id
        await flush(self._session, ConcurrentChange(f"ownership of {item} changed concurrently"))

    async def ownership_of(self, queries: Sequence[OwnershipQuery]) -> dict[OwnershipQuery, Ownership]:
        """The answer to each query, in one round trip."""
        keys = {(q.user_id, q.item.kind, q.item.id) for q in queries}
        key_columns = tuple_(EntitlementRow.user_id, EntitlementRow.item_kind, EntitlementRow.item_id)
        rows = await self._session.scalars(select(EntitlementRow).where(key_columns.in_(keys)))
        found = {OwnershipQuery(r.user_id, Item(r.item_kind, r.item_id)): to_entitlement(r).ownership for r in rows}
        return {q: found.get(q, NOT_OWNED) for q in queries}

    async def of_user(self, user_id: str, kind: str | None = None) -> list[Entitlement]:
        """Everything the user owns now (of one kind, when given), ordered by kind then item id."""
        query = select(EntitlementRow).where(EntitlementRow.user_id == user_id)
        if kind is not None:
            query = query.where(EntitlementRow.item_kind == kind)
        rows = await self._session.scalars(query.order_by(EntitlementRow.item_kind, EntitlementRow.item_id))
        return [to_entitlement(row) for row in rows]


def to_entitlement(row: EntitlementRow) -> Entitlement:
    """The domain entitlement a row stores."""
    return Entitlement(
        user_id=row.user_id,
        item=Item(row.item_kind, row.item_id),
        purchase_id=row.purchase_id,
        purchased_at=row.purchased_at,
        source=Source(row.source),
        payment_id=row.payment_id,
    )
