"""The outbox relay: delivers each outbox row to the entitlement service, at least once.

A row is claimed with FOR UPDATE SKIP LOCKED (PostgreSQL), so many relays can run side by
side; the lock is held while the row is delivered, so a relay that dies mid-delivery
releases it and another delivers it again (the receiver applies each event id once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from paygrant.db import utcnow
from paygrant.runtime import BackgroundService
from payment_service.adapters.orm import OutboxMessage
from payment_service.domain.errors import DeliveryFailed
from payment_service.domain.events import PaymentEvent
from payment_service.domain.outbox import OutboxStatus, RetryPolicy
from payment_service.service_layer.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)

Deliver = Callable[[PaymentEvent], Awaitable[None]]


class OutboxRelay(BackgroundService):
    """Delivers due outbox rows; woken by wake() after a commit, else polls."""

    name = "outbox-relay"

    def __init__(
        self, uow_factory: UnitOfWorkFactory, deliver: Deliver, policy: RetryPolicy, poll_seconds: float
    ) -> None:
        self._uow_factory = uow_factory
        self._deliver = deliver
        self._policy = policy
        self._poll_seconds = poll_seconds
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        """Asks the loop to look for rows now rather than at its next poll."""
        self._wakeup.set()

    async def deliver_due(self) -> int:
        """Delivers rows until none is due; returns how many rows were attempted."""
        attempted = 0
        while await self._deliver_one():
            attempted += 1
        return attempted

    async def run(self) -> None:
        """Delivers whatever is due, then waits for a wake-up or the poll interval; forever."""
        while True:
            try:
                await self.deliver_due()
            except Exception:  # the database may be briefly away; the loop must outlive it
                log.exception("outbox relay pass failed; retrying after the poll interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll_seconds)
            self._wakeup.clear()

    async def _deliver_one(self) -> bool:
        async with self._uow_factory() as uow:
            row = await uow.outbox.claim_next(utcnow())
            if row is None:
                return False
            row.attempts += 1
            try:
                # A row that cannot be decoded must not block the rows behind it: it goes dead.
                event = PaymentEvent.from_payload(row.event_id, row.event_type, row.payload)
            except (KeyError, TypeError, ValueError) as error:
                decode_error = DeliveryFailed(f"undecodable outbox row: {error!r}", permanent=True)
                self._record_failure(row, decode_error)
                await uow.commit()
                return True
            try:
                await self._deliver(event)
            except DeliveryFailed as error:
                self._record_failure(row, error)
            else:
                row.status = OutboxStatus.SENT
                row.sent_at = utcnow()
                row.last_error = None
            await uow.commit()
            return True

    def _record_failure(self, row: OutboxMessage, error: DeliveryFailed) -> None:
        row.last_error = str(error)
        if error.permanent or self._policy.is_exhausted(row.attempts):
            row.status = OutboxStatus.DEAD
            log.error("outbox event %s is dead after %d attempts: %s", row.event_id, row.attempts, error)
        else:
            row.next_attempt_at = utcnow() + self._policy.delay(row.attempts)
            log.warning("outbox event %s attempt %d failed: %s", row.event_id, row.attempts, error)
