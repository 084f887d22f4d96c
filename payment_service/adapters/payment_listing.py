"""Payments read by keyset over (paid_at, id): filtered pages newest first, stream batches oldest first.

Each read starts strictly after the key of the last row read, through the index on (paid_at, id):
no offset to skip and no cursor held open between reads, so memory and transactions stay bounded
however many rows match. Stream batches are read as plain tuples (StreamedPayment, StreamedLine),
not ORM objects: a reconciliation reads millions.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, Tuple, bindparam, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from paygrant.db import UTCDateTime
from payment_service.adapters.orm import checkout_lines, payments, refunds
from payment_service.domain.payment import Payment
from payment_service.domain.payment_listing import (
    PaymentFilters,
    PaymentKey,
    PaymentListQuery,
    StreamedLine,
    StreamedPayment,
)


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
) -> list[StreamedPayment]:
    """Up to `limit` payments paid in [start, end) after `after` (from `start` when None), oldest first, each with
    its refund's record; only the buyer's when `user_id` is given."""
    p = payments.c
    statement = _STREAMED.where(*_window(start, end, after, None, user_id))
    statement = statement.order_by(p.paid_at, p.id).limit(limit)
    return [StreamedPayment._make(row) for row in await session.execute(statement)]


async def window_lines(
    session: AsyncSession,
    start: dt.datetime,
    end: dt.datetime,
    after: PaymentKey | None,
    through: PaymentKey,
    user_id: str | None = None,
) -> dict[str, list[StreamedLine]]:
    """The priced lines of the sessions of the payments payment_batch read (those after `after` up to `through`),
    in order, by session id, in one query.

    The sessions are named by the batch's key range, not by a list of ids: the statement stays the same
    whatever the batch holds, so the driver prepares it once.
    """
    c = checkout_lines.c
    sessions = select(payments.c.session_id).where(*_window(start, end, after, through, user_id))
    query = (
        select(c.session_id, c.kind, c.item_id, c.title, c.amount)
        .where(c.session_id.in_(sessions))
        .order_by(c.session_id, c.position)
    )
    lines: dict[str, list[StreamedLine]] = {}
    for session_id, *line in await session.execute(query):
        lines.setdefault(session_id, []).append(StreamedLine(*line))
    return lines


def _window(
    start: dt.datetime,
    end: dt.datetime,
    after: PaymentKey | None,
    through: PaymentKey | None,
    user_id: str | None,
) -> list[ColumnElement[bool]]:
    """Payments paid in [start, end), after `after` and up to `through` when given, of `user_id` when given."""
    p = payments.c
    conditions: list[ColumnElement[bool]] = [p.paid_at >= start, p.paid_at < end]
    if user_id is not None:
        conditions.append(p.user_id == user_id)
    if after is not None:
        conditions.append(tuple_(p.paid_at, p.id) > _bound(after))
    if through is not None:
        conditions.append(tuple_(p.paid_at, p.id) <= _bound(through, "through"))
    return conditions


_p, _r = payments.c, refunds.c
_STREAMED = select(
    _p.id,
    _p.qpay_payment_id,
    _p.session_id,
    _p.user_id,
    _p.status,
    _p.amount,
    _p.currency,
    _p.paid_at,
    _p.outcome,
    _p.late,
    _p.overpaid,
    _p.refund_due,
    _p.refunded_at,
    _r.reason,
    _r.refunded_by,
    _r.external,
).select_from(payments.outerjoin(refunds, _r.payment_id == _p.id))


def _bound(key: PaymentKey, name: str = "after") -> Tuple:
    return tuple_(bindparam(f"{name}_time", key.paid_at, type_=UTCDateTime), bindparam(f"{name}_id", key.payment_id))


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
