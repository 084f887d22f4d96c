"""What an operator (or reconciliation) does with the outbox: see how it stands, list its events, retry dead
rows, and announce a payment again."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from paygrant.db import utcnow
from payment_service.domain.outbox import OutboxMessage, OutboxStatus
from payment_service.domain.outbox_listing import OutboxEventQuery
from payment_service.service_layer.queries import load_payment
from payment_service.service_layer.unit_of_work import UnitOfWorkFactory


@dataclass(frozen=True)
class DeadRow:
    """A row the relay gave up on."""

    event_id: str
    event_type: str
    payment_id: str
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class OutboxReport:
    """Row counts by status, when the oldest pending row was written, and the oldest dead rows."""

    counts: dict[OutboxStatus, int]
    dead: list[DeadRow]
    oldest_pending_at: dt.datetime | None = None


async def outbox_report(uow_factory: UnitOfWorkFactory, dead_limit: int = 50) -> OutboxReport:
    """How the outbox stands now."""
    async with uow_factory() as uow:
        counts = await uow.outbox.count_by_status()
        oldest_pending_at = await uow.outbox.oldest_pending_at()
        dead = [
            DeadRow(row.event_id, row.event_type, row.payment_id, row.attempts, row.last_error)
            for row in (await uow.outbox.dead(dead_limit) if dead_limit else [])
        ]
    return OutboxReport({status: counts.get(status, 0) for status in OutboxStatus}, dead, oldest_pending_at)


async def retry_dead(uow_factory: UnitOfWorkFactory, event_ids: Sequence[str] | None = None) -> int:
    """Sends dead rows (all, or those named) back to the relay with a fresh attempt budget."""
    async with uow_factory() as uow:
        revived = await uow.outbox.revive_dead(event_ids, utcnow())
        await uow.commit()
    return revived


@dataclass(frozen=True)
class OutboxPage:
    """One page of outbox rows, and the token of the next one (empty on the last page)."""

    events: list[OutboxMessage]
    next_page_token: str


async def list_outbox_events(query: OutboxEventQuery, uow_factory: UnitOfWorkFactory) -> OutboxPage:
    """The page the query asks for; one row past it is read to know whether another page follows."""
    async with uow_factory() as uow:
        rows = await uow.outbox.page(query)
    page = rows[: query.page_size]
    if len(rows) <= query.page_size:
        return OutboxPage(page, "")
    return OutboxPage(page, query.next_page_token(page[-1].id or 0))


async def resend_payment_event(payment_id: str, uow_factory: UnitOfWorkFactory) -> OutboxMessage:
    """Writes a new outbox row announcing what the GRANTED payment is now (see CheckoutSession.announce_again)."""
    async with uow_factory() as uow:
        payment, session = await load_payment(uow, payment_id)
        message = uow.outbox.add(session.announce_again(payment), utcnow())
        await uow.commit()
    return message
