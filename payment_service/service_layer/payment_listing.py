"""ListPayments and StreamPayments: recorded payments read a keyset page or batch at a time.

The stream reads each batch in a short transaction of its own: no transaction or connection stays
open while a batch waits for the caller to take it, and memory stays at one batch. Payments
recorded meanwhile appear when their key comes after the batches already sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from payment_service.domain.payment import Payment
from payment_service.domain.payment_listing import (
    PaymentKey,
    PaymentListQuery,
    PaymentStreamQuery,
    StreamedLine,
    StreamedPayment,
)
from payment_service.service_layer.unit_of_work import UnitOfWorkFactory


@dataclass(frozen=True)
class PaymentPage:
    """One page, and the token of the next one (empty on the last page)."""

    payments: list[Payment]
    next_page_token: str


async def list_payments(query: PaymentListQuery, uow_factory: UnitOfWorkFactory) -> PaymentPage:
    """The page the query asks for; one row past it is read to know whether another page follows."""
    async with uow_factory() as uow:
        rows = await uow.payments.page(query)
    page = rows[: query.page_size]
    if len(rows) <= query.page_size:
        return PaymentPage(page, "")
    return PaymentPage(page, query.next_page_token(PaymentKey.of(page[-1])))


@dataclass(frozen=True)
class PaymentBatch:
    """A run of payments in key order, with their sessions' lines when the query asked for them."""

    payments: list[StreamedPayment]
    lines: dict[str, list[StreamedLine]]  # by session id; empty unless asked for


async def stream_payments(query: PaymentStreamQuery, uow_factory: UnitOfWorkFactory) -> AsyncIterator[PaymentBatch]:
    """Non-empty batches of up to batch_size payments in (paid_at, id) order; ends after the first short batch."""
    after = query.after
    while True:
        async with uow_factory() as uow:
            batch = await uow.payments.batch(query.start, query.end, after, query.batch_size, query.user_id)
            lines = {}
            if query.with_lines and batch:
                through = PaymentKey.of(batch[-1])
                lines = await uow.payments.batch_lines(query.start, query.end, after, through, query.user_id)
        if batch:
            yield PaymentBatch(batch, lines)
        if len(batch) < query.batch_size:
            return
        after = PaymentKey.of(batch[-1])
