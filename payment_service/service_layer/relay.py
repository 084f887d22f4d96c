"""The outbox relay: delivers outbox messages to the entitlement service in batches, at least once.

Claim, deliver, record. A relay leases up to `batch_size` due messages in one statement
(domain.outbox explains the lease), delivers them in one call with no transaction open, records
every outcome (one statement for all the messages delivered), and claims the next batch at once
when there may be one: the batch was full, or a message waited behind one just recorded sent (a
refund behind its completion is due now). Messages committed meanwhile wake the relay as usual
(wake), and those that come due with time (a backoff, a lease ended) are found by the poll. Each
of these statements stands alone, as nothing needs two of them to commit together: the service
runs the relay's units of work in autocommit, so a claim costs one round trip to the database
rather than four (BEGIN, claim, COMMIT, and a ping), and without waiting for the write-ahead log's
flush (Database.async_commit_sessions): a crash that loses a claim or a sent mark only has the
row delivered again. Messages of one payment go in the order they were written: a claim takes
only a payment's oldest unsent message.

A wake-up (a new outbox row committed) is answered at once, even while a batch is on its way: if a
delivery slot is free the new rows are claimed and sent in it, rather than waiting for the batch
in flight to be answered and recorded. At a light load that wait is most of a payment's latency.

Why a lease rather than the row locks of a transaction held open through the call: a lock lives
only as long as its transaction, so the transaction (and a database connection per relay, and
the locks of a whole batch) would stay open for as long as the call may take; a slow entitlement
service would pin connections and hold back vacuum. A lease is a time written on the row: nothing
stays open while a batch is delivered, and the rows of a relay that died come back to every relay
when its lease ends. The price is that they wait for that end rather than coming back at once, so
the lease is kept short, yet longer than a call's timeout: a live relay never outlives its lease
while it still waits for an answer (and if it ever did, its token no longer matches and it
records nothing; the receiver applies each event id once either way).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from paygrant.db import utcnow
from paygrant.failure_log import log_failure
from paygrant.metrics import RELAY_DELIVERY_SECONDS
from paygrant.request_id import log_extra
from paygrant.runtime import BackgroundService
from payment_service.domain.errors import DeliveryFailed
from payment_service.domain.events import PaymentEvent
from payment_service.domain.outbox import OutboxMessage, RetryPolicy, UndecodableMessage
from payment_service.service_layer.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)

# Delivers events in one call: a result per event, None when it was applied, else why not. Raises
# DeliveryFailed when the whole call failed (nothing was applied).
DeliverBatch = Callable[[Sequence[PaymentEvent]], Awaitable[Sequence[DeliveryFailed | None]]]

DEFAULT_BATCH_SIZE = 100
DEFAULT_LEASE = dt.timedelta(seconds=30)
DEFAULT_IN_FLIGHT = 2  # batches a relay has on their way at once


class OutboxRelay(BackgroundService):
    """Delivers due messages a batch at a time; woken by wake() after a commit, else polls.

    `idle` is set whenever a pass found nothing more to deliver and the relay is about to wait
    with no wake-up pending; wake() clears it.
    """

    name = "outbox-relay"

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        deliver: DeliverBatch,
        policy: RetryPolicy,
        poll_seconds: float,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        lease: dt.timedelta = DEFAULT_LEASE,
        in_flight: int = DEFAULT_IN_FLIGHT,
    ) -> None:
        self._uow_factory = uow_factory
        self._deliver = deliver
        self._policy = policy
        self._poll_seconds = poll_seconds
        self._batch_size = batch_size
        self._lease = lease
        self._in_flight = in_flight
        self._wakeup = asyncio.Event()
        self.idle = asyncio.Event()

    def wake(self) -> None:
        """Asks the loop to look for messages now rather than at its next poll."""
        self.idle.clear()
        self._wakeup.set()

    async def deliver_due(self) -> int:
        """Delivers batches until none is due, up to `in_flight` at once; returns how many messages were attempted.

        While one batch is on its way the next is claimed and sent, so the relay's own database work
        overlaps the receiver's; a wake-up while batches are on their way claims at once when a slot is
        free. Order per payment holds all the same: a message waits in the outbox until the one before
        it of its payment is recorded sent, whoever carries it.
        """
        attempted = 0
        delivering: set[asyncio.Task[list[OutboxMessage]]] = set()
        woken: asyncio.Task[bool] | None = None
        maybe_more = True  # false after a claim took less than a batch and no wake-up came since
        try:
            while True:
                if maybe_more and len(delivering) < self._in_flight:
                    self._wakeup.clear()  # the claim sees every row committed before it
                    claimed = await self.claim()
                    maybe_more = len(claimed) == self._batch_size
                    if claimed:
                        delivering.add(asyncio.create_task(self.deliver(claimed)))
                        attempted += len(claimed)
                        continue
                if not delivering:
                    return attempted
                # Until a batch is recorded (its follow-up claimed with it), or a wake-up while a slot is free.
                if woken is None and len(delivering) < self._in_flight:
                    woken = asyncio.create_task(self._wakeup.wait())
                await asyncio.wait(self._waits(delivering, woken), return_when=asyncio.FIRST_COMPLETED)
                if woken is not None and woken.done():
                    woken, maybe_more = None, True
                for task in [task for task in delivering if task.done()]:
                    delivering.remove(task)
                    follow_up = task.result()
                    if follow_up:
                        delivering.add(asyncio.create_task(self.deliver(follow_up)))
                        attempted += len(follow_up)
                    maybe_more = maybe_more or len(follow_up) == self._batch_size
        finally:
            pending = self._waits(delivering, woken)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    @staticmethod
    def _waits(
        delivering: set[asyncio.Task[list[OutboxMessage]]], woken: asyncio.Task[bool] | None
    ) -> list[asyncio.Task[Any]]:
        """The tasks a pass waits on: its deliveries, and the wake-up while it listens for one."""
        return [*delivering, *([woken] if woken is not None else [])]

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

    async def claim(self) -> list[OutboxMessage]:
        """Leases the next batch of due messages to this relay, and commits the lease."""
        now = utcnow()
        async with self._uow_factory() as uow:
            claimed = await uow.outbox.claim_due(now, self._batch_size, now + self._lease)
            await uow.commit()
        return claimed

    async def deliver(self, claimed: Sequence[OutboxMessage]) -> list[OutboxMessage]:
        """Delivers claimed messages in one call, records the outcome of each, then claims the next batch when
        there may be one: returned, leased to this relay, for the caller to deliver.

        There may be one after a full batch, when a failed message is due again at once (no backoff), and
        when a message waited behind one just recorded: a refund behind its completion is due only once the
        completion is recorded sent, and no wake-up announces it.
        """
        sendable: list[OutboxMessage] = []
        events: list[PaymentEvent] = []
        undecodable: list[tuple[OutboxMessage, DeliveryFailed]] = []
        for message in claimed:
            try:
                events.append(message.event())
            except UndecodableMessage as error:
                # A message that cannot be decoded must not hold up the rest of its batch: it goes dead at once.
                undecodable.append((message, DeliveryFailed(str(error), permanent=True)))
            else:
                sendable.append(message)
        results: Sequence[DeliveryFailed | None] = []
        if events:
            try:
                results = await self._deliver(events)
            except DeliveryFailed as failure:
                log.warning("delivery of %d outbox events failed: %s", len(events), failure)
                results = [failure] * len(events)
            self._log_delivered(events, results)
        now = utcnow()  # one time for the batch: the messages sent together are recorded together
        for message, result in [*zip(sendable, results, strict=True), *undecodable]:
            self._record(message, result, now)
        async with self._uow_factory() as uow:
            successors_waiting = await uow.outbox.record_outcomes(claimed)
            follow_up = []
            retry_due = any(message.is_pending and message.next_attempt_at <= now for message in claimed)
            if successors_waiting or retry_due or len(claimed) == self._batch_size:
                follow_up = await uow.outbox.claim_due(now, self._batch_size, now + self._lease)
            await uow.commit()
        return follow_up

    @staticmethod
    def _log_delivered(events: Sequence[PaymentEvent], results: Sequence[DeliveryFailed | None]) -> None:
        """A debug line per event delivered, under its checkout's request id (the entitlement service logs
        each apply at INFO, so this side stays quiet at its usual level)."""
        if not log.isEnabledFor(logging.DEBUG):
            return
        for event, result in zip(events, results, strict=True):
            if result is None:
                log.debug(
                    "outbox event %s (%s of payment %s) delivered",
                    event.event_id,
                    event.type,
                    event.payment_id,
                    extra=log_extra(event.request_id),
                )

    def _record(self, message: OutboxMessage, failure: DeliveryFailed | None, now: dt.datetime) -> None:
        if failure is None:
            message.mark_sent(now)
            RELAY_DELIVERY_SECONDS.observe((now - message.created_at).total_seconds())
            return
        message.record_failure(str(failure), failure.permanent, self._policy, now)
        if message.is_dead:
            log.error("outbox event %s is dead after %d attempts: %s", message.event_id, message.attempts, failure)
