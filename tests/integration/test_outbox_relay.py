"""The outbox relay: exactly-once hand-over between relays, retries, and dead rows."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from paygrant.db import create_engine, session_factory, upgrade_to_head, utcnow
from payment_service.adapters import orm
from payment_service.adapters.outbox_notifications import OutboxNotifications
from payment_service.bootstrap import MIGRATIONS
from payment_service.domain.errors import DeliveryFailed
from payment_service.domain.events import EventType, PaidItem, PaymentEvent
from payment_service.domain.outbox import OutboxStatus, RetryPolicy
from payment_service.service_layer.outbox_admin import outbox_report, retry_dead
from payment_service.service_layer.relay import OutboxRelay
from payment_service.service_layer.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.conftest import CreateDatabase

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


async def _migrated_uow_factory(url: str) -> tuple[UnitOfWorkFactory, object]:
    orm.start_mappers()
    engine = create_engine(url)
    await upgrade_to_head(engine, Path(MIGRATIONS))
    sessions = session_factory(engine)
    return (lambda: UnitOfWork(sessions)), engine


async def _enqueue(uow_factory: UnitOfWorkFactory, count: int) -> list[str]:
    events = [_event() for _ in range(count)]
    async with uow_factory() as uow:
        for event in events:
            uow.outbox.add(event, utcnow())
        await uow.commit()
    return [e.event_id for e in events]


async def _rows(uow_factory: UnitOfWorkFactory) -> list[orm.OutboxMessage]:
    async with uow_factory() as uow:
        return list((await uow._session.scalars(select(orm.OutboxMessage))).all())  # type: ignore[union-attr]


async def test_two_relays_at_once_deliver_each_row_exactly_once(create_pg_database: CreateDatabase) -> None:
    url = await create_pg_database("relay")
    first_factory, first_engine = await _migrated_uow_factory(url)
    second_factory, second_engine = await _migrated_uow_factory(url)  # a second process: its own pool
    event_ids = await _enqueue(first_factory, 60)
    delivered: Counter[str] = Counter()

    def deliver_as(relay_number: int):  # type: ignore[no-untyped-def]
        async def deliver(event: PaymentEvent) -> None:
            delivered[event.event_id] += 1
            await asyncio.sleep(0.005)  # a real call takes time; the other relay runs meanwhile

        return deliver

    first = OutboxRelay(first_factory, deliver_as(1), FAST_RETRY, poll_seconds=1)
    second = OutboxRelay(second_factory, deliver_as(2), FAST_RETRY, poll_seconds=1)
    counts = await asyncio.gather(first.deliver_due(), second.deliver_due())

    assert sorted(delivered) == sorted(event_ids)
    assert set(delivered.values()) == {1}, "some row was delivered twice"
    assert sum(counts) == 60 and min(counts) > 0, f"both relays should share the work, got {counts}"
    assert {row.status for row in await _rows(first_factory)} == {"SENT"}
    for engine in (first_engine, second_engine):
        await engine.dispose()  # type: ignore[attr-defined]


@pytest.fixture(params=["postgresql", "sqlite"])
async def relay_uow_factory(request: pytest.FixtureRequest, create_pg_database: CreateDatabase, tmp_path: Path):  # type: ignore[no-untyped-def]
    url = await create_pg_database("relay") if request.param == "postgresql" else f"sqlite+aiosqlite:///{tmp_path}/r.db"
    uow_factory, engine = await _migrated_uow_factory(url)
    yield uow_factory
    await engine.dispose()  # type: ignore[attr-defined]


async def test_failed_delivery_stays_pending_with_a_later_attempt(relay_uow_factory: UnitOfWorkFactory) -> None:
    await _enqueue(relay_uow_factory, 1)

    async def unreachable(event: PaymentEvent) -> None:
        raise DeliveryFailed("UNAVAILABLE: connection refused")

    before = utcnow()
    attempted = await OutboxRelay(relay_uow_factory, unreachable, FAST_RETRY, poll_seconds=1).deliver_due()

    [row] = await _rows(relay_uow_factory)
    assert attempted == 1
    assert (row.status, row.attempts) == ("PENDING", 1)
    assert row.last_error == "UNAVAILABLE: connection refused"
    assert row.next_attempt_at >= before + dt.timedelta(seconds=30)


async def test_row_goes_dead_after_the_attempt_limit_and_stays_visible(relay_uow_factory: UnitOfWorkFactory) -> None:
    await _enqueue(relay_uow_factory, 1)
    no_wait = RetryPolicy(max_attempts=3, base_seconds=0.001, max_seconds=0.001)

    async def unreachable(event: PaymentEvent) -> None:
        raise DeliveryFailed("UNAVAILABLE")

    relay = OutboxRelay(relay_uow_factory, unreachable, no_wait, poll_seconds=1)
    for _ in range(5):
        await relay.deliver_due()
        await asyncio.sleep(0.01)

    [row] = await _rows(relay_uow_factory)
    assert (row.status, row.attempts) == ("DEAD", 3)


async def test_a_permanently_refused_event_goes_dead_at_once(relay_uow_factory: UnitOfWorkFactory) -> None:
    await _enqueue(relay_uow_factory, 1)

    async def refuses(event: PaymentEvent) -> None:
        raise DeliveryFailed("INVALID_ARGUMENT: items[0].kind", permanent=True)

    await OutboxRelay(relay_uow_factory, refuses, FAST_RETRY, poll_seconds=1).deliver_due()

    [row] = await _rows(relay_uow_factory)
    assert (row.status, row.attempts) == ("DEAD", 1)


async def test_a_commit_with_outbox_rows_wakes_the_relay_in_its_process(payment_db_url: str) -> None:
    _, engine = await _migrated_uow_factory(payment_db_url)
    sessions = session_factory(engine)  # type: ignore[arg-type]
    delivered: list[str] = []

    async def deliver(event: PaymentEvent) -> None:
        delivered.append(event.event_id)

    relay = OutboxRelay(lambda: UnitOfWork(sessions), deliver, FAST_RETRY, poll_seconds=60)
    await relay.start()
    try:
        await asyncio.sleep(0.1)  # the first pass found nothing; the next poll is a minute away
        # The payment service's units of work call the hook after a commit that wrote outbox rows.
        [event_id] = await _enqueue(lambda: UnitOfWork(sessions, on_outbox_commit=relay.wake), 1)
        for _ in range(100):
            if delivered:
                break
            await asyncio.sleep(0.02)
    finally:
        await relay.stop()
        await engine.dispose()  # type: ignore[attr-defined]
    assert delivered == [event_id]


async def test_a_relay_in_another_process_wakes_on_notify_not_on_its_poll(
    create_pg_database: CreateDatabase,
) -> None:
    url = await create_pg_database("notify")
    writer_factory, writer_engine = await _migrated_uow_factory(url)
    relay_factory, relay_engine = await _migrated_uow_factory(url)
    delivered: list[str] = []

    async def deliver(event: PaymentEvent) -> None:
        delivered.append(event.event_id)

    relay = OutboxRelay(relay_factory, deliver, FAST_RETRY, poll_seconds=60)
    notifications = OutboxNotifications(url, relay.wake)
    await relay.start()
    await notifications.start()
    try:
        await asyncio.sleep(0.5)  # first pass done, listener connected; the next poll is a minute away
        [event_id] = await _enqueue(writer_factory, 1)  # no in-process wake: only NOTIFY can reach the relay
        for _ in range(100):
            if delivered:
                break
            await asyncio.sleep(0.02)
    finally:
        await notifications.stop()
        await relay.stop()
        for engine in (writer_engine, relay_engine):
            await engine.dispose()  # type: ignore[attr-defined]
    assert delivered == [event_id]


async def test_an_undecodable_row_goes_dead_and_does_not_block_the_rows_behind_it(
    relay_uow_factory: UnitOfWorkFactory,
) -> None:
    [poisoned, healthy] = await _enqueue(relay_uow_factory, 2)
    async with relay_uow_factory() as uow:
        row = await uow.outbox.claim_next(utcnow())
        assert row is not None and row.event_id == poisoned
        row.payload = {"payment_id": "p"}  # written by a buggy or older version
        await uow.commit()
    delivered: list[str] = []

    async def deliver(event: PaymentEvent) -> None:
        delivered.append(event.event_id)

    await OutboxRelay(relay_uow_factory, deliver, FAST_RETRY, poll_seconds=1).deliver_due()

    assert delivered == [healthy]
    statuses = {row.event_id: (row.status, row.attempts) for row in await _rows(relay_uow_factory)}
    assert statuses == {poisoned: ("DEAD", 1), healthy: ("SENT", 1)}


async def test_an_operator_sees_dead_rows_and_sends_them_back_to_the_relay(
    relay_uow_factory: UnitOfWorkFactory,
) -> None:
    [dead_event, _] = await _enqueue(relay_uow_factory, 2)

    async def refuses_the_first(event: PaymentEvent) -> None:
        if event.event_id == dead_event:
            raise DeliveryFailed("FAILED_PRECONDITION: payment of another user", permanent=True)

    await OutboxRelay(relay_uow_factory, refuses_the_first, FAST_RETRY, poll_seconds=1).deliver_due()
    report = await outbox_report(relay_uow_factory)
    assert report.counts == {OutboxStatus.PENDING: 0, OutboxStatus.SENT: 1, OutboxStatus.DEAD: 1}
    assert [(row.event_id, row.attempts) for row in report.dead] == [(dead_event, 1)]
    assert "another user" in (report.dead[0].last_error or "")

    assert await retry_dead(relay_uow_factory, ["no-such-event"]) == 0
    assert await retry_dead(relay_uow_factory) == 1
    delivered: list[str] = []

    async def accepts(event: PaymentEvent) -> None:
        delivered.append(event.event_id)

    await OutboxRelay(relay_uow_factory, accepts, FAST_RETRY, poll_seconds=1).deliver_due()
    assert delivered == [dead_event]
    assert (await outbox_report(relay_uow_factory)).counts[OutboxStatus.SENT] == 2
