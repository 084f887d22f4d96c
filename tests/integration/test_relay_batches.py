"""The relay's batches on real databases: order per payment across relays, leases after a death, retention."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, text, update

from entitlement_service.adapters.orm import SCHEMA as ENTITLEMENT_SCHEMA
from entitlement_service.bootstrap import EntitlementApp
from entitlement_service.settings import EntitlementSettings
from paygrant.contract_rules import EventType
from paygrant.db import Database, open_database, utcnow
from payment_service.adapters.entitlement_client import EntitlementClient
from payment_service.adapters.orm import SCHEMA, outbox
from payment_service.domain.errors import DeliveryFailed
from payment_service.domain.events import PaidItem, PaymentEvent
from payment_service.domain.outbox import RetryPolicy
from payment_service.service_layer.outbox_retention import OutboxRetention
from payment_service.service_layer.relay import OutboxRelay
from payment_service.service_layer.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.conftest import POSTGRES_ONLY, NewDatabase
from tests.waiting import eventually, wait_for_event

RETRY_AT_ONCE = RetryPolicy(max_attempts=5, base_seconds=0.001, max_seconds=0.001)
LEASE = dt.timedelta(seconds=1)


def _event(payment_id: str, kind: EventType, user_id: str = "u1") -> PaymentEvent:
    return PaymentEvent(
        str(uuid.uuid4()), kind, payment_id, user_id, "MNT", (PaidItem("course", f"c-{payment_id}", 100),), utcnow()
    )


async def _enqueue(uow_factory: UnitOfWorkFactory, events: Sequence[PaymentEvent]) -> None:
    async with uow_factory() as uow:
        for event in events:
            uow.outbox.add(event, utcnow())
        await uow.commit()


def _units(database: Database) -> UnitOfWorkFactory:
    return lambda: UnitOfWork(database.sessions)


def _relay_units(database: Database) -> UnitOfWorkFactory:
    """What the service gives its relay: units of work in autocommit, not waiting for the flush (a lost claim or
    outcome has its row delivered again)."""
    return lambda: UnitOfWork(database.async_commit_sessions)


async def _statuses(database: Database) -> dict[str, int]:
    async with database.engine.connect() as conn:
        counted = await conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
        return {str(status): count for status, count in counted}


@pytest.fixture
async def payment_url(new_database: NewDatabase) -> str:
    return await new_database("payment")


@pytest.fixture
async def database(payment_url: str) -> AsyncIterator[Database]:
    async with open_database(payment_url, SCHEMA) as opened:
        yield opened


@pytest.fixture
async def entitlements(new_database: NewDatabase) -> AsyncIterator[tuple[EntitlementClient, Database]]:
    """The entitlement service on port 0 (database only), a client of it, and its database."""
    url = await new_database("entitlement")
    app = EntitlementApp(EntitlementSettings(entitlement_database_url=url, entitlement_grpc_port=0))
    await app.start()
    client = EntitlementClient(f"127.0.0.1:{app.grpc_port}", timeout=20)
    await client.start()
    try:
        async with open_database(url, ENTITLEMENT_SCHEMA, migrate=False) as database:
            yield client, database
    finally:
        await client.stop()
        await app.stop()


class Passes:
    """Runs passes of a relay and adds up the rows they attempted: a condition for `eventually`."""

    def __init__(self, relay: OutboxRelay) -> None:
        self.relay = relay
        self.attempted = 0

    async def reached(self, total: int) -> bool:
        """Runs one pass; true once the passes so far attempted `total` rows."""
        self.attempted += await self.relay.deliver_due()
        return self.attempted >= total


@POSTGRES_ONLY
@pytest.mark.parametrize("batch_size", [1, 5])
async def test_two_relays_never_deliver_a_refund_before_its_completion(
    payment_url: str, entitlements: tuple[EntitlementClient, Database], batch_size: int
) -> None:
    client, entitlement_db = entitlements
    # Each refund right behind its completion: taken in claim order, a pair would be split between the relays.
    rows = [
        _event(f"pay-{n}", kind)
        for n in range(100)
        for kind in (EventType.PAYMENT_COMPLETED, EventType.PAYMENT_REFUNDED)
    ]
    async with open_database(payment_url, SCHEMA) as first_db, open_database(payment_url, SCHEMA) as second_db:
        await _enqueue(_units(first_db), rows)
        relays = [
            OutboxRelay(_relay_units(db), client.apply_events, RETRY_AT_ONCE, poll_seconds=1, batch_size=batch_size)
            for db in (first_db, second_db)
        ]

        counts = await asyncio.gather(*(relay.deliver_due() for relay in relays))

        assert sum(counts) == 200 and min(counts) > 0, f"both relays should share the work, got {counts}"
        assert await _statuses(first_db) == {"SENT": 200}
    async with entitlement_db.engine.connect() as conn:
        # A refund applied before its completion would have left a mark (and its completion granted nothing).
        assert (await conn.execute(text("SELECT count(*) FROM refund_marks"))).scalar_one() == 0
        statuses = (await conn.execute(text("SELECT status, count(*) FROM purchases GROUP BY status"))).all()
        assert [tuple(row) for row in statuses] == [("revoked", 100)]
        assert (await conn.execute(text("SELECT count(*) FROM entitlements"))).scalar_one() == 0


async def test_a_refund_behind_its_completion_goes_in_the_same_pass_and_a_lone_batch_claims_no_more(
    database: Database,
) -> None:
    completion, refund = _event("pay-1", EventType.PAYMENT_COMPLETED), _event("pay-1", EventType.PAYMENT_REFUNDED)
    await _enqueue(_units(database), [completion, refund, _event("pay-2", EventType.PAYMENT_COMPLETED)])
    calls: list[list[str]] = []

    async def applies(events: Sequence[PaymentEvent]) -> list[DeliveryFailed | None]:
        calls.append([event.event_id for event in events])
        return [None] * len(events)

    statements: list[str] = []

    def note(*call: Any) -> None:
        statements.append(call[2])

    event.listen(Engine, "before_cursor_execute", note)  # whichever engine the relay's sessions use
    try:
        relay = OutboxRelay(_relay_units(database), applies, RETRY_AT_ONCE, poll_seconds=60)
        assert await relay.deliver_due() == 3  # no poll: the refund was claimed after its completion was recorded
    finally:
        event.remove(Engine, "before_cursor_execute", note)
    assert calls[1] == [refund.event_id] and completion.event_id in calls[0]
    claims = [statement for statement in statements if statement.startswith("UPDATE outbox SET next_attempt_at")]
    assert len(claims) == 2, "the first claim and the refund's after its completion was recorded; none after the refund"


async def test_a_refund_waits_while_its_completion_is_retried(database: Database) -> None:
    completion, refund = _event("pay-1", EventType.PAYMENT_COMPLETED), _event("pay-1", EventType.PAYMENT_REFUNDED)
    await _enqueue(_units(database), [completion, refund])
    calls: list[list[str]] = []

    async def fails_the_first_call(events: Sequence[PaymentEvent]) -> list[DeliveryFailed | None]:
        calls.append([event.event_id for event in events])
        if len(calls) == 1:
            raise DeliveryFailed("UNAVAILABLE: connection refused")
        return [None] * len(events)

    passes = Passes(OutboxRelay(_relay_units(database), fails_the_first_call, RETRY_AT_ONCE, poll_seconds=1))
    await eventually(lambda: passes.reached(3), what="the completion twice, then the refund")

    assert calls == [[completion.event_id], [completion.event_id], [refund.event_id]]


async def test_a_relay_killed_mid_batch_loses_nothing(payment_url: str) -> None:
    async with open_database(payment_url, SCHEMA) as dying_db, open_database(payment_url, SCHEMA) as other_db:
        events = [_event(f"pay-{n}", EventType.PAYMENT_COMPLETED) for n in range(5)]
        await _enqueue(_units(dying_db), events)
        in_flight, never = asyncio.Event(), asyncio.Event()

        async def hangs(batch: Sequence[PaymentEvent]) -> list[DeliveryFailed | None]:
            in_flight.set()
            await never.wait()
            raise AssertionError("a dead relay gets no answer")

        dying = OutboxRelay(_relay_units(dying_db), hangs, RETRY_AT_ONCE, poll_seconds=1, lease=LEASE)
        killed = asyncio.create_task(dying.deliver_due())
        await wait_for_event(in_flight, what="the first relay to claim and start delivering")
        received: list[str] = []

        async def receives(batch: Sequence[PaymentEvent]) -> list[DeliveryFailed | None]:
            received.extend(event.event_id for event in batch)
            return [None] * len(batch)

        other = OutboxRelay(_relay_units(other_db), receives, RETRY_AT_ONCE, poll_seconds=1, lease=LEASE)
        assert await other.deliver_due() == 0, "the rows are leased to the first relay"
        killed.cancel()  # it dies mid-batch: nothing of it runs any more

        passes = Passes(other)
        await eventually(lambda: passes.reached(5), what="the other relay to take the rows over after the lease")

        assert sorted(received) == sorted(e.event_id for e in events)
        assert await _statuses(other_db) == {"SENT": 5}


async def test_a_relay_whose_lease_ran_out_records_nothing(database: Database) -> None:
    await _enqueue(_units(database), [_event("pay-1", EventType.PAYMENT_COMPLETED)])
    slow = OutboxRelay(_relay_units(database), _never_called, RETRY_AT_ONCE, poll_seconds=1, lease=LEASE)
    claimed = await slow.claim()
    taken_over = Passes(OutboxRelay(_relay_units(database), _applies, RETRY_AT_ONCE, poll_seconds=1, lease=LEASE))
    await eventually(lambda: taken_over.reached(1), what="another relay to take the row over")

    for message in claimed:  # the slow relay's answer comes at last: a refusal it may no longer record
        message.record_failure("INVALID_ARGUMENT: late", True, RETRY_AT_ONCE, utcnow())
    async with _units(database)() as uow:
        await uow.outbox.record_outcomes(claimed)
        await uow.commit()

    assert await _statuses(database) == {"SENT": 1}


async def _never_called(events: Sequence[PaymentEvent]) -> list[DeliveryFailed | None]:
    raise AssertionError("not delivered in this test")


async def _applies(events: Sequence[PaymentEvent]) -> list[DeliveryFailed | None]:
    return [None] * len(events)


async def test_sent_rows_are_deleted_after_the_retention_period_in_small_batches(database: Database) -> None:
    await _enqueue(_units(database), [_event(f"pay-{n}", EventType.PAYMENT_COMPLETED) for n in range(10)])
    await OutboxRelay(_relay_units(database), _applies, RETRY_AT_ONCE, poll_seconds=1).deliver_due()
    await _enqueue(_units(database), [_event("pay-pending", EventType.PAYMENT_COMPLETED)])
    async with database.engine.begin() as conn:
        oldest = select(outbox.c.id).order_by(outbox.c.id).limit(7).scalar_subquery()
        week_ago = utcnow() - dt.timedelta(days=8)
        await conn.execute(update(outbox).where(outbox.c.id.in_(oldest)).values(sent_at=week_ago))
    units_opened = 0

    def counting_units() -> UnitOfWork:
        nonlocal units_opened
        units_opened += 1
        return UnitOfWork(database.sessions)

    retention = OutboxRetention(counting_units, dt.timedelta(days=7), batch_size=3, interval_seconds=60)

    assert await retention.prune() == 7
    assert units_opened == 3, "7 rows in transactions of at most 3"
    assert await _statuses(database) == {"SENT": 3, "PENDING": 1}
    assert await retention.prune() == 0


@POSTGRES_ONLY
async def test_a_call_refused_for_one_events_bytes_blames_that_event_alone(
    entitlements: tuple[EntitlementClient, Database],
) -> None:
    client, _ = entitlements
    good = _event("pay-1", EventType.PAYMENT_COMPLETED)
    with_nul = _event("pay-2", EventType.PAYMENT_COMPLETED, user_id="u\x00")  # no event may hold a NUL

    results = await client.apply_events([good, with_nul, _event("pay-3", EventType.PAYMENT_COMPLETED)])

    assert [result is not None and result.permanent for result in results] == [False, True, False]
    assert results[0] is not None and "events[1]" in str(results[0]), "the others were not applied: retried"
    assert await client.apply_events([good]) == [None], "and apply when sent again"
