"""The outbox relay: delivers each outbox message to the entitlement service, at least once.

A message is claimed with FOR UPDATE SKIP LOCKED (PostgreSQL), so many relays can run side by
side; the lock is held while it is delivered, so a relay that dies mid-delivery releases it and
another delivers it again (the receiver applies each event id once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from paygrant.db import utcnow
from paygrant.failure_log import log_failure
from paygrant.runtime import BackgroundService
from payment_service.domain.errors import DeliveryFailed
from payment_service.domain.events import PaymentEvent
from payment_service.domain.outbox import OutboxMessage, RetryPolicy, UndecodableMessage
from payment_service.service_layer.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)

Deliver = Callable[[PaymentEvent], Awaitable[None]]


class OutboxRelay(BackgroundService):
    """Delivers due messages; woken by wake() after a commit, else polls.

    `idle` is set whenever a pass found nothing more to deliver and the relay is about to wait
    with no wake-up pending; wake() clears it.
    """

    name = "outbox-relay"

    def __init__(
        self, uow_factory: UnitOfWorkFactory, deliver: Deliver, policy: RetryPolicy, poll_seconds: float
    ) -> None:
        self._uow_factory = uow_factory
        self._deliver = deliver
        self._policy = policy
        self._poll_seconds = poll_seconds
        self._wakeup = asyncio.Event()
        self.idle = asyncio.Event()

    def wake(self) -> None:
        """Asks the loop to look for messages now rather than at its next poll."""
        self.idle.clear()
        self._wakeup.set()

    async def deliver_due(self) -> int:
        """Delivers messages until none is due; returns how many were attempted."""
        attempted = 0
        while await self._deliver_one():
            attempted += 1
        return attempted

    async def run(self) -> None:
        """Delivers whatever is due, then waits for a wake-up or the poll interval; forever."""
        while True:
            try:
                await self.deliver_due()
            except Exception as error:  # the database may be briefly away; the loop must outlive it
                log_failure("outbox relay pass", error)
            if not self._wakeup.is_set():
                self.idle.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll_seconds)
            self._wakeup.clear()

    async def _deliver_one(self) -> bool:
        async with self._uow_factory() as uow:
            message = await uow.outbox.claim_next(utcnow())
            if message is None:
                return False
            await self._attempt(message)
            await uow.commit()
            return True

    async def _attempt(self, message: OutboxMessage) -> None:
        try:
            # A message that cannot be decoded must not block the ones behind it: it goes dead at once.
            await self._deliver(message.event())
        except (UndecodableMessage, DeliveryFailed) as error:
            permanent = not isinstance(error, DeliveryFailed) or error.permanent
            message.record_failure(str(error), permanent, self._policy, utcnow())
            if message.is_dead:
                log.error("outbox event %s is dead after %d attempts: %s", message.event_id, message.attempts, error)
            else:
                log.warning("outbox event %s attempt %d failed: %s", message.event_id, message.attempts, error)
        else:
            message.mark_sent(utcnow())
