"""The SQLAlchemy outbox: messages are added in the caller's transaction and claimed with SKIP LOCKED."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payment_service.adapters.orm import outbox
from payment_service.domain.events import PaymentEvent
from payment_service.domain.outbox import OutboxMessage, OutboxStatus


class SqlOutboxRepository:
    """The transactional outbox: rows are added in the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.added = 0

    def add(self, event: PaymentEvent, now: dt.datetime) -> None:
        """Stages the event for delivery; it commits (or not) with everything else."""
        self._session.add(OutboxMessage.of(event, now))
        self.added += 1

    async def claim_next(self, now: dt.datetime) -> OutboxMessage | None:
        """Locks the oldest due pending row that no other relay holds (SKIP LOCKED)."""
        query = (
            select(OutboxMessage)
            .where(outbox.c.status == OutboxStatus.PENDING, outbox.c.next_attempt_at <= now)
            .order_by(outbox.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        return (await self._session.scalars(query)).one_or_none()

    async def count_by_status(self) -> dict[OutboxStatus, int]:
        """How many rows are pending, sent and dead."""
        query = select(outbox.c.status, func.count()).group_by(outbox.c.status)
        return {OutboxStatus(status): count for status, count in (await self._session.execute(query)).all()}

    async def dead(self, limit: int) -> Sequence[OutboxMessage]:
        """The oldest rows that stopped being retried, for an operator to look at."""
        query = select(OutboxMessage).where(outbox.c.status == OutboxStatus.DEAD).order_by(outbox.c.id).limit(limit)
        return (await self._session.scalars(query)).all()

    async def revive_dead(self, event_ids: Sequence[str] | None, now: dt.datetime) -> int:
        """Puts dead rows (all, or those of `event_ids`) back in line with fresh attempts; returns how many."""
        statement = update(outbox).where(outbox.c.status == OutboxStatus.DEAD)
        if event_ids is not None:
            statement = statement.where(outbox.c.event_id.in_(event_ids))
        result = await self._session.execute(
            statement.values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now).execution_options(
                synchronize_session=False
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
