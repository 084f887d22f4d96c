"""The outbox relay on a real database: exactly-once hand-over between relays, wake-ups, operators' retries."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy import text, update

from paygrant.contract_rules import EventType
from paygrant.db import Database, open_database, utcnow
from payment_service.adapters.orm import SCHEMA, outbox
from payment_service.adapters.outbox_notifications import OutboxNotifications
from payment_service.domain.errors import DeliveryFailed
from payment_service.domain.events import PaidItem, PaymentEvent
from payment_service.domain.outbox import OutboxStatus, RetryPolicy
from payment_service.service_layer.outbox_admin import outbox_report, retry_dead
from payment_service.service_layer.relay import DeliverBatch, OutboxRelay
from payment_service.service_layer.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.conftest import POSTGRES_ONLY, NewDatabase
from tests.waiting import wait_for_event

FAST_RETRY = RetryPolicy(max_attempts=3, base_seconds=60, max_seconds=60)


def _event() -> PaymentEvent:
    return PaymentEvent(
        event_id=str(uuid.uuid4()),
        type=EventType.PAYMENT_COMPLETED,
        payment_id=str(uuid.uuid4()),
        user_id="user-1",
        currency="MNT",
        items=(PaidItem("course", "c1", 100),),
        occurred_at=utcnow(),
    )


async def _enqueue(uow_factory: UnitOfWorkFactory, count: int) -> list[str]:
    events = [_event() for _ in range(count)]
    async with uow_factory() as uow:
        for event in events:
            uow.outbox.add(event, utcnow())
        await uow.commit()
    return [e.event_id for e in events]


class Recorder:
    """A receiver that applies every event and remembers which, signalling each arrival."""

    def __init__(self) -> None:
        self.delivered: list[str] = []
        self.arrived = asyncio.Event()

    async def __call__(self, events: Sequence[PaymentEvent]) -> list[DeliveryFailed | None]:
        self.delivered.extend(event.event_id for event in events)
        self.arrived.set()
        return [None] * len(events)


@pytest.fixture
async def database(new_database: NewDatabase) -> AsyncIterator[Database]:
    """A fresh payment database on each backend."""
    async with open_database(await new_database("payment"), SCHEMA) as opened:
        yield opened


def _units(database: Database) -> UnitOfWorkFactory:
    return lambda: UnitOfWork(database.sessions)


def _relay_units(database: Database) -> UnitOfWorkFactory:
    """What the service gives its relay: units of work in autocommit, not waiting for the flush (a lost claim or
    outcome has its row delivered again)."""
    return lambda: UnitOfWork(database.async_commit_sessions)


@POSTGRES_ONLY
async def test_two_relays_at_once_deliver_each_row_exactly_once(new_database: NewDatabase) -> None:
    url = await new_database("payment")
    # Two processes: each its own engine and pool.
    async with open_database(url, SCHEMA) as first_db, open_database(url, SCHEMA) as second_db:
        event_ids = await _enqueue(_units(first_db), 60)
        delivered: Counter[str] = Counter()
        holds_a_batch = [asyncio.Event(), asyncio.Event()]

        def delivering_as(me: int) -> DeliverBatch:
            async def deliver(events: Sequence[PaymentEvent]) -> list[DeliveryFailed | None]:
                # Each relay holds what it claimed until the other holds a batch too: they run side by side.
                holds_a_batch[me].set()
                await asyncio.wait_for(holds_a_batch[1 - me].wait(), 10)
                delivered.update(event.event_id for event in events)
                return [None] * len(events)

            return deliver

        first = OutboxRelay(_relay_units(first_db), delivering_as(0), FAST_RETRY, poll_seconds=1, batch_size=10)
        second = OutboxRelay(_relay_units(second_db), delivering_as(1), FAST_RETRY, poll_seconds=1, batch_size=10)
        counts = await asyncio.gather(first.deliver_due(), second.deliver_due())

        assert sorted(delivered) == sorted(event_ids)
        assert set(delivered.values()) == {1}, "some row was delivered twice"
        assert sum(counts) == 60 and min(counts) > 0, f"both relays should share the work, got {counts}"
        assert (await outbox_report(_units(first_db))).counts[OutboxStatus.SENT] == 60


async def test_a_failed_delivery_is_recorded_on_the_row(database: Database) -> None:
    uow_factory = _units(database)
    await _enqueue(uow_factory, 1)

    async def unreachable(events: Sequence[PaymentEvent]) -> list[DeliveryFailed | None]:
        raise DeliveryFailed("UNAVAILABLE: connection refused")

    assert await OutboxRelay(uow_factory, unreachable, FAST_RETRY, poll_seconds=1).deliver_due() == 1

    report = await outbox_report(uow_factory)
    assert report.counts == {OutboxStatus.PENDING: 1, OutboxStatus.SENT: 0, OutboxStatus.DEAD: 0}
    async with uow_factory() as uow:
        assert await uow.outbox.claim_due(utcnow(), 10, utcnow()) == [], "the next attempt waits for the backoff"


async def test_a_commit_with_outbox_rows_wakes_the_relay_in_its_process(database: Database) -> None:
    recorder = Recorder()
    relay = OutboxRelay(_relay_units(database), recorder, FAST_RETRY, poll_seconds=60)
    await relay.start()
    try:
        await wait_for_event(relay.idle, what="the relay's first pass")  # the next poll is a minute away
        # The payment service's units of work call the hook after a commit that wrote outbox rows.
        [event_id] = await _enqueue(lambda: UnitOfWork(database.sessions, on_outbox_commit=relay.wake), 1)
        await wait_for_event(recorder.arrived, what="the woken relay's delivery")
    finally:
        await relay.stop()
    assert recorder.delivered == [event_id]


@POSTGRES_ONLY
async def test_a_relay_in_another_process_wakes_on_notify_not_on_its_poll(new_database: NewDatabase) -> None:
    url = await new_database("payment")
    async with open_database(url, SCHEMA) as writer_db, open_database(url, SCHEMA) as relay_db:
        recorder = Recorder()
        relay = OutboxRelay(_relay_units(relay_db), recorder, FAST_RETRY, poll_seconds=60)
        notifications = OutboxNotifications(url, relay.wake)
        await relay.start()
        await notifications.start()
        try:
            await wait_for_event(notifications.listening, what="LISTEN to be active")
            # Connecting woke the relay once (rows may have committed unheard); wait until that pass is over.
            await wait_for_event(relay.idle, what="the relay to wait for its next poll")
            [event_id] = await _enqueue(_units(writer_db), 1)  # no in-process wake: only NOTIFY can reach it
            await wait_for_event(recorder.arrived, what="the delivery woken by NOTIFY")
        finally:
            await notifications.stop()
            await relay.stop()
        assert recorder.delivered == [event_id]


async def test_an_undecodable_row_goes_dead_and_does_not_block_the_rows_behind_it(database: Database) -> None:
    uow_factory = _units(database)
    [poisoned, healthy] = await _enqueue(uow_factory, 2)
    async with database.engine.begin() as conn:  # written by a buggy or older version
        await conn.execute(update(outbox).where(outbox.c.event_id == poisoned).values(payload={"payment_id": "p"}))
    recorder = Recorder()

    await OutboxRelay(uow_factory, recorder, FAST_RETRY, poll_seconds=1).deliver_due()

    assert recorder.delivered == [healthy]
    report = await outbox_report(uow_factory)
    assert [(row.event_id, row.attempts) for row in report.dead] == [(poisoned, 1)]
    assert report.counts[OutboxStatus.SENT] == 1


async def test_an_operator_sees_dead_rows_and_sends_them_back_to_the_relay(database: Database) -> None:
    uow_factory = _units(database)
    [dead_event, _] = await _enqueue(uow_factory, 2)

    async def refuses_the_first(events: Sequence[PaymentEvent]) -> list[DeliveryFailed | None]:
        refusal = DeliveryFailed("user_id: payment of another user", permanent=True)
        return [refusal if event.event_id == dead_event else None for event in events]

    await OutboxRelay(uow_factory, refuses_the_first, FAST_RETRY, poll_seconds=1).deliver_due()
    report = await outbox_report(uow_factory)
    assert report.counts == {OutboxStatus.PENDING: 0, OutboxStatus.SENT: 1, OutboxStatus.DEAD: 1}
    assert [(row.event_id, row.attempts) for row in report.dead] == [(dead_event, 1)]
    assert "another user" in (report.dead[0].last_error or "")

    assert await retry_dead(uow_factory, ["no-such-event"]) == 0
    assert await retry_dead(uow_factory) == 1
    recorder = Recorder()
    await OutboxRelay(uow_factory, recorder, FAST_RETRY, poll_seconds=1).deliver_due()
    assert recorder.delivered == [dead_event]
    assert (await outbox_report(uow_factory)).counts[OutboxStatus.SENT] == 2


@POSTGRES_ONLY
async def test_a_relays_commits_do_not_wait_for_the_flush_and_units_of_work_do(database: Database) -> None:
    # A lost lease or sent mark has its row delivered again; a lost payment would be money forgotten.
    async with database.async_commit_sessions() as relays:
        assert (await relays.execute(text("SHOW synchronous_commit"))).scalar_one() == "off"
    for sessions in (database.sessions, database.autocommit_sessions):
        async with sessions() as durable:
            assert (await durable.execute(text("SHOW synchronous_commit"))).scalar_one() == "on"
