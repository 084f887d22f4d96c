"""The inbox: the ids of the payment events applied so far, written in the applying transaction."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Sequence

from sqlalchemy import Delete, delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from entitlement_service.adapters.bulk import chunks, dialect_of, insert_on_conflict, one_of
from entitlement_service.adapters.orm import inbox
from entitlement_service.domain.events import PaymentEvent


class SqlInbox:
    """The inbox table, in the one session given."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record_new(self, events: Sequence[PaymentEvent], received_at: dt.datetime) -> set[str]:
        """Puts the events' ids in the inbox; returns the ids that were not there (events new to it).

        INSERT … ON CONFLICT (event_id) DO NOTHING: an id a concurrent transaction is recording waits for
        that transaction, and counts as new only if it rolls back. Only a conflict on the event id means
        "applied before": any other failure of the insert is an error to see, never a success that would
        let the sender drop the event. Ids go in sorted order, so two batches holding some of the same
        ids wait for each other in one direction only (no deadlock).
        """
        first_copies = {event.event_id: event for event in reversed(events)}
        rows = [
            {
                "event_id": event_id,
                "event_type": first_copies[event_id].type.value,
                "payment_id": first_copies[event_id].payment_id,
                "received_at": received_at,
            }
            for event_id in sorted(first_copies)
        ]
        return set(await self._session.scalars(_record_new_statement(dialect_of(self._session)), rows))

    async def withdraw(self, event_ids: Collection[str]) -> None:
        """Takes ids recorded in this transaction out again: their events were refused, not applied."""
        for chunk in chunks(event_ids):
            await self._session.execute(_withdraw_statement(dialect_of(self._session)), {"event_ids": chunk})


@functools.cache
def _record_new_statement(dialect: str) -> ReturningInsert[tuple[str]]:
    insert = insert_on_conflict(dialect, inbox).on_conflict_do_nothing(index_elements=[inbox.c.event_id])
    return insert.returning(inbox.c.event_id)


@functools.cache
def _withdraw_statement(dialect: str) -> Delete:
    return delete(inbox).where(one_of(dialect, inbox.c.event_id, "event_ids"))
