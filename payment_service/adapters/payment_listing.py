"""Payments read by keyset over (paid_at, id): filtered pages newest first, stream batches oldest first.

Each read starts strictly after the key of the last row read, through the index on (paid_at, id):
no offset to skip and no cursor held open between reads, so memory and transactions stay bounded
however many rows match.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, Tuple, bindparam, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from paygrant.db import UTCDateTime
from payment_service.adapters.orm import payments
from payment_service.domain.payment import Payment
from payment_service.domain.payment_listing import PaymentFilters, PaymentKey, PaymentListQuery


async def payment_page(session: AsyncSession, query: PaymentListQuery) -> list[Payment]:
    """Up to page_size + 1 payments matching the query's filters after its key, newest first."""
    p = payments.c
    statement = select(Payment).where(*_matching(query.filters))
    if query.after is not None:
        statement = statement.where(tuple_(p.paid_at, p.id) < _bound(query.after))
    statement = statement.order_by(p.paid_at.desc(), p.id.desc()).limit(query.page_size + 1)
    return list(await session.scalars(statement))


async def payment_batch(
    session: AsyncSession,
    start: dt.datetime,
    end: dt.datetime,
    after: PaymentKey | None,
    limit: int,
    user_id: str | None = None,
) -> list[Payment]:
    """Up to `limit` payments paid in [start, end) after `after` (from `start` when None), oldest first; only the
    buyer's when `user_id` is given."""
    p = payments.c
    statement = select(Payment).where(p.paid_at >= start, p.paid_at < end)
    if user_id is not None:
        statement = statement.where(p.user_id == user_id)
    if after is not None:
        statement = statement.where(tuple_(p.paid_at, p.id) > _bound(after))
    statement = statement.order_by(p.paid_at, p.id).limit(limit)
    return list(await session.scalars(statement))


def _bound(key: PaymentKey) -> Tuple:
    return tuple_(bindparam("after_time", key.paid_at, type_=UTCDateTime), bindparam("after_id", key.payment_id))


def _matching(filters: PaymentFilters) -> list[ColumnElement[bool]]:
    p = payments.c
    conditions: list[ColumnElement[bool]] = []
    if filters.user_id is not None:
        conditions.append(p.user_id == filters.user_id)
    if filters.session_id is not None:
        conditions.append(p.session_id == filters.session_id)
    if filters.outcome is not None:
        conditions.append(p.outcome == filters.outcome)
    if filters.late is not None:
        conditions.append(p.late.is_(filters.late))
    if filters.refund_due is not None:
        conditions.append(p.refund_due.is_(filters.refund_due))
    if filters.paid_from is not None:
        conditions.append(p.paid_at >= filters.paid_from)
    if filters.paid_to is not None:
        conditions.append(p.paid_at < filters.paid_to)
    return conditions
