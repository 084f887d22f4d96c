"""The SQLAlchemy outbox: rows are added in the caller's transaction, claimed in batches under a lease."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, Integer, Select, String, bindparam, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import ExecutableReturnsRows

from paygrant.db import UTCDateTime
from payment_service.adapters.orm import outbox
from payment_service.domain.events import PaymentEvent
from payment_service.domain.outbox import OutboxMessage, OutboxStatus
from payment_service.domain.outbox_listing import OutboxEventQuery

_c = outbox.c
_older = outbox.alias("older")
# An older row of the same payment that is not sent yet: the row must wait for it (a refund after its completion).
_WAITS_FOR_OLDER = exists().where(
    _older.c.payment_id == _c.payment_id, _older.c.id < _c.id, _older.c.status != OutboxStatus.SENT
)
_other = outbox.alias("other")


@functools.cache
def _claim_statement() -> ExecutableReturnsRows:
    """The claim (SqlOutboxRepository.claim_due), built once with bound parameters: a relay claims after every
    commit, and a statement used again keeps its cache key rather than computing it on every claim."""
    due = (
        select(_c.id)
        .where(
            _c.status == OutboxStatus.PENDING,
            _c.next_attempt_at <= bindparam("now", type_=UTCDateTime),
            ~_WAITS_FOR_OLDER,
        )
        .order_by(_c.next_attempt_at)
        .limit(bindparam("limit", type_=Integer))
        .with_for_update(skip_locked=True, of=outbox)
    )
    claim = (
        update(outbox)
        .where(_c.id.in_(due.scalar_subquery()))
        .values(
            next_attempt_at=bindparam("lease_until", type_=UTCDateTime), lease_token=bindparam("token", type_=String)
        )
        .returning(*_c)
    )
    return select(OutboxMessage).from_statement(claim)


def _pending_others(payment_ids: list[str], ids: list[int]) -> Select[tuple[str]]:
    """The payments among `payment_ids` with a pending row other than `ids`: it waits behind one of `ids`.

    Not correlated with the row being recorded: SQLite's RETURNING renders a correlated subquery's
    columns without their tables, so the comparison would name the inner table twice. Bounded by the
    batch's payments instead, it reads their rows through ix_outbox_payment_id.
    """
    return select(_other.c.payment_id).where(
        _other.c.payment_id.in_(payment_ids), _other.c.status == OutboxStatus.PENDING, _other.c.id.not_in(ids)
    )


class SqlOutboxRepository:
    """The transactional outbox: rows are added in the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.added = 0

    def add(self, event: PaymentEvent, now: dt.datetime) -> OutboxMessage:
        """Stages the event for delivery; it commits (or not) with everything else."""
        message = OutboxMessage.of(event, now)
        self._session.add(message)
        self.added += 1
        return message

    async def claim_due(self, now: dt.datetime, limit: int, lease_until: dt.datetime) -> list[OutboxMessage]:
        """Leases up to `limit` due pending rows to the caller until `lease_until`, oldest due first.

        One UPDATE over a SELECT … FOR UPDATE SKIP LOCKED: relays claiming at the same moment skip each
        other's rows instead of waiting (SQLite, with one writer at a time, has nothing to skip). A row
        is claimed only when no older row of its payment waits to be sent, so a batch holds at most one
        row per payment and a refund is claimed only after its completion was sent.
        """
        values = {"now": now, "limit": limit, "lease_until": lease_until, "token": str(uuid.uuid4())}
        claimed = (await self._session.scalars(_claim_statement(), values)).all()
        return sorted(claimed, key=lambda message: message.id or 0)

    async def record_outcomes(self, messages: Sequence[OutboxMessage]) -> bool:
        """Writes each message's status, attempts and timing, where its claim still holds it (a relay whose lease
        ran out, so that another relay may have taken the row over, writes nothing); returns whether a pending
        message of their payments waits behind one of them (it may be due now).

        One UPDATE per distinct outcome: the messages a relay sent in one call share theirs, so a batch
        delivered is recorded in one statement; a failure's backoff is jittered per message, so failures
        take a statement each.
        """
        payment_ids = sorted({message.payment_id for message in messages})
        rows_by_outcome: dict[tuple[Any, ...], list[int]] = {}
        for message in messages:
            outcome = (
                message.lease_token,
                message.status,
                message.attempts,
                message.next_attempt_at,
                message.last_error,
                message.sent_at,
            )
            rows_by_outcome.setdefault(outcome, []).append(message.id or 0)
        successors_waiting = False
        for (claim, status, attempts, next_attempt_at, last_error, sent_at), ids in rows_by_outcome.items():
            recorded = await self._session.scalars(
                update(outbox)
                .where(_c.id.in_(ids), _c.lease_token == claim)
                .values(
                    status=status,
                    attempts=attempts,
                    next_attempt_at=next_attempt_at,
                    last_error=last_error,
                    sent_at=sent_at,
                    lease_token=None,
                )
                .returning(_c.payment_id.in_(_pending_others(payment_ids, ids)))
            )
            successors_waiting = any(recorded.all()) or successors_waiting
        return successors_waiting

    async def delete_sent_before(self, cutoff: dt.datetime, limit: int) -> int:
        """Deletes up to `limit` rows sent before `cutoff` (rows another transaction holds are skipped);
        returns how many."""
        doomed = (
            select(_c.id)
            .where(_c.sent_at < cutoff, _c.status == OutboxStatus.SENT)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        result = cast("CursorResult[Any]", await self._session.execute(delete(outbox).where(_c.id.in_(doomed))))
        return int(result.rowcount)

    async def oldest_pending_at(self) -> dt.datetime | None:
        """When the oldest row still pending was written, or None when none is."""
        oldest = select(func.min(_c.created_at)).where(_c.status == OutboxStatus.PENDING)
        found: dt.datetime | None = (await self._session.execute(oldest)).scalar_one()
        return found

    async def count_by_status(self) -> dict[OutboxStatus, int]:
        """How many rows are pending, sent and dead."""
        query = select(_c.status, func.count()).group_by(_c.status)
        return {OutboxStatus(status): count for status, count in (await self._session.execute(query)).all()}

    async def dead(self, limit: int) -> Sequence[OutboxMessage]:
        """The oldest rows that stopped being retried, for an operator to look at."""
        query = select(OutboxMessage).where(_c.status == OutboxStatus.DEAD).order_by(_c.id).limit(limit)
        return (await self._session.scalars(query)).all()

    async def page(self, query: OutboxEventQuery) -> list[OutboxMessage]:
        """Up to page_size + 1 rows matching the query after its row, in the order they were written."""
        statement = select(OutboxMessage)
        if query.status is not None:
            statement = statement.where(_c.status == query.status)
        if query.created_before is not None:
            statement = statement.where(_c.created_at < query.created_before)
        if query.payment_ids:
            statement = statement.where(_c.payment_id.in_(query.payment_ids))
        if query.after_id is not None:
            statement = statement.where(_c.id > query.after_id)
        return list(await self._session.scalars(statement.order_by(_c.id).limit(query.page_size + 1)))

    async def revive_dead(self, event_ids: Sequence[str] | None, now: dt.datetime) -> int:
        """Puts dead rows (all, or those of `event_ids`) back in line with fresh attempts; returns how many."""
        statement = update(outbox).where(_c.status == OutboxStatus.DEAD)
        if event_ids is not None:
            statement = statement.where(_c.event_id.in_(event_ids))
        result = await self._session.execute(
            statement.values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now).execution_options(
                synchronize_session=False
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
