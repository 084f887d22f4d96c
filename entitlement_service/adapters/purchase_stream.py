"""Purchases of a time range in (purchased_at, id) order, one batch per query, by keyset.

Each batch starts strictly after the key of the last one, found through the index on
(purchased_at, id): no offset to skip, no cursor held open between batches, so memory and
transactions stay bounded however many rows the range holds. Rows are read as plain tuples
(StreamedPurchase), not ORM objects: a reconciliation reads millions.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from entitlement_service.adapters.orm import purchases
from entitlement_service.domain.purchase_stream import PurchaseKey, StreamedPurchase
from paygrant.db import UTCDateTime

_COLUMNS = [purchases.c[name] for name in StreamedPurchase._fields]


class SqlPurchaseStream:
    """Batches of purchases in key order, read in the one session given."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def batch(
        self, start: dt.datetime, end: dt.datetime, after: PurchaseKey | None, limit: int, user_id: str | None = None
    ) -> list[StreamedPurchase]:
        """Up to `limit` purchases made in [start, end) after `after` (from `start` when None), in key order; only
        the user's when `user_id` is given."""
        p = purchases.c
        query = select(*_COLUMNS).where(p.purchased_at >= start, p.purchased_at < end)
        if user_id is not None:
            query = query.where(p.user_id == user_id)
        if after is not None:
            after_time = bindparam("after_time", after.purchased_at, type_=UTCDateTime)
            query = query.where(
                tuple_(p.purchased_at, p.id) > tuple_(after_time, bindparam("after_id", after.purchase_id))
            )
        query = query.order_by(p.purchased_at, p.id).limit(limit)
        return [StreamedPurchase._make(row) for row in await self._session.execute(query)]
