"""ApplyPaymentEvents against real databases: one transaction per batch, a result per event, over gRPC too."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from sqlalchemy import text

from entitlement_service.adapters.orm import SCHEMA
from entitlement_service.domain.errors import InvalidRequest, PaymentOfAnotherUser
from entitlement_service.domain.events import PaymentEvent
from entitlement_service.service_layer.apply_payment_event import Applied, EventOutcome, apply_payment_events
from entitlement_service.service_layer.ownership_cache import NoOwnershipCache
from entitlement_service.service_layer.unit_of_work import UnitOfWork
from paygrant.common.v1.common_pb2 import ItemRef
from paygrant.contract_rules import EventType
from paygrant.db import Database, open_database
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.timestamps import to_timestamp
from tests.conftest import POSTGRES_ONLY, NewDatabase
from tests.integration.entitlement_server import refusal, serving
from tests.unit.entitlement_events import T0, payment_event

COMPLETED, REFUNDED = EventType.PAYMENT_COMPLETED, EventType.PAYMENT_REFUNDED


@pytest.fixture
async def database(new_database: NewDatabase) -> AsyncIterator[Database]:
    """A fresh entitlement database on the test's backend."""
    async with open_database(await new_database("entitlement"), SCHEMA) as opened:
        yield opened


async def apply(events: list[PaymentEvent | InvalidRequest], database: Database) -> list[EventOutcome]:
    return await apply_payment_events(events, lambda: UnitOfWork(database.sessions), NoOwnershipCache())


async def rows(database: Database, sql: str) -> list[tuple[Any, ...]]:
    async with database.engine.connect() as conn:
        return [tuple(row) for row in await conn.execute(text(sql))]


async def row_counts(database: Database) -> dict[str, int]:
    tables = ["inbox", "purchases", "entitlements", "refund_marks"]
    return {table: (await rows(database, f"SELECT count(*) FROM {table}"))[0][0] for table in tables}


async def test_one_batch_reports_each_event_and_a_refused_one_blocks_nothing(database: Database) -> None:
    [earlier] = await apply([payment_event(COMPLETED, payment_id="pay-0")], database)
    assert earlier is Applied.NEW
    grant = payment_event(COMPLETED, payment_id="pay-1")
    refund_of_another_user = payment_event(REFUNDED, payment_id="pay-0", user_id="u2")
    early_refund = payment_event(REFUNDED, payment_id="pay-3", user_id="u3")
    late_completion = payment_event(COMPLETED, payment_id="pay-3", user_id="u3")
    invalid = InvalidRequest("occurred_at", "is required")
    batch: list[PaymentEvent | InvalidRequest] = [
        grant,
        refund_of_another_user,
        invalid,
        grant,
        early_refund,
        late_completion,
        payment_event(COMPLETED, payment_id="pay-2", user_id="u2"),
    ]

    outcomes = await apply(batch, database)

    assert outcomes[0] is Applied.NEW and outcomes[4:] == [Applied.NEW] * 3
    assert isinstance(outcomes[1], PaymentOfAnotherUser) and outcomes[2] is invalid
    assert outcomes[3] is Applied.DUPLICATE, "the same id twice in one batch is applied once"
    owned = await rows(database, "SELECT user_id, item_id, payment_id FROM entitlements ORDER BY 1, 2")
    assert owned == [
        ("u1", "algebra-1", "pay-0"),  # the refund naming another user revoked nothing
        ("u1", "mock-exam", "pay-0"),
        ("u2", "algebra-1", "pay-2"),
        ("u2", "mock-exam", "pay-2"),
    ]
    u1_payments = await rows(database, "SELECT payment_id, double_purchase FROM purchases WHERE user_id = 'u1'")
    assert sorted(u1_payments) == [("pay-0", False), ("pay-0", False), ("pay-1", True), ("pay-1", True)]
    assert await rows(database, "SELECT status FROM purchases WHERE payment_id = 'pay-3'") == [("revoked",)] * 2
    inbox = {event_id for (event_id,) in await rows(database, "SELECT event_id FROM inbox")}
    assert refund_of_another_user.event_id not in inbox and len(inbox) == 5

    again = await apply([refund_of_another_user, late_completion], database)
    assert isinstance(again[0], PaymentOfAnotherUser), "refused again: it was not recorded as applied"
    assert again[1] is Applied.DUPLICATE


class CrashBeforeCommit(UnitOfWork):
    """A unit of work that dies after every statement of the batch was sent, just before committing."""

    async def commit(self) -> None:
        raise RuntimeError("process died before commit")


async def test_a_batch_is_one_transaction_so_a_crash_before_commit_leaves_nothing(database: Database) -> None:
    batch: list[PaymentEvent | InvalidRequest] = [
        payment_event(COMPLETED, payment_id="pay-1"),
        payment_event(REFUNDED, payment_id="pay-2"),  # an early refund: a mark
        payment_event(COMPLETED, payment_id="pay-3", user_id="u2"),
    ]
    with pytest.raises(RuntimeError, match="before commit"):
        await apply_payment_events(batch, lambda: CrashBeforeCommit(database.sessions), NoOwnershipCache())

    assert await row_counts(database) == {"inbox": 0, "purchases": 0, "entitlements": 0, "refund_marks": 0}
    assert await apply(batch, database) == [Applied.NEW] * 3, "redelivered, every event applies"
    assert await row_counts(database) == {"inbox": 3, "purchases": 4, "entitlements": 4, "refund_marks": 1}


@POSTGRES_ONLY  # SQLite admits one writer at a time: the race needs PostgreSQL
async def test_concurrent_batches_sharing_events_apply_each_once_without_deadlock(database: Database) -> None:
    events = [payment_event(COMPLETED, payment_id=f"pay-{n}", user_id=f"u{n % 7}") for n in range(60)]
    # Overlapping batches in different orders, as relays re-delivering after a lease ran out would send them.
    batches: list[list[PaymentEvent | InvalidRequest]] = [
        list(events[:40]),
        list(reversed(events[20:])),
        list(events[::2]),
        list(reversed(events[1::2])),
    ]

    outcomes = await asyncio.wait_for(asyncio.gather(*(apply(batch, database) for batch in batches)), 60)

    applied = [o for batch in outcomes for o in batch if o is Applied.NEW]
    assert len(applied) == 60, "each event applied by exactly one batch"
    assert await row_counts(database) == {"inbox": 60, "purchases": 120, "entitlements": 14, "refund_marks": 0}


@POSTGRES_ONLY  # the service's own tests run on PostgreSQL and Redis
async def test_the_rpc_answers_a_result_per_event_with_the_field_at_fault(
    new_database: NewDatabase, redis_url: str, redis_prefix: str
) -> None:
    def request(
        event_id: str, payment_id: str, user_id: str = "u1", kind: str = "course"
    ) -> pb.ApplyPaymentEventRequest:
        return pb.ApplyPaymentEventRequest(
            event_id=event_id,
            type=pb.PAYMENT_EVENT_TYPE_COMPLETED,
            payment_id=payment_id,
            user_id=user_id,
            items=[pb.PaidItem(item=ItemRef(kind=kind, id="algebra-1"), amount=100)],
            occurred_at=to_timestamp(T0),
        )

    applied = payment_event(COMPLETED).event_id
    async with serving(await new_database("entitlement"), redis_url, redis_prefix) as stub:
        sent = [
            request(applied, "pay-1"),
            request(payment_event(COMPLETED).event_id, "pay-1", user_id="u2"),
            request("not-a-uuid", "pay-2"),
            request(payment_event(COMPLETED).event_id, "pay-3", kind="Course"),
            request(applied, "pay-1"),
        ]
        answer = await stub.ApplyPaymentEvents(pb.ApplyPaymentEventsRequest(events=sent))
        results = [(r.event_id, r.duplicate, r.error.field, r.HasField("error")) for r in answer.results]
        assert results == [
            (applied, False, "", False),
            (sent[1].event_id, False, "user_id", True),
            ("not-a-uuid", False, "event_id", True),
            (sent[3].event_id, False, "items[0].item.kind", True),
            (applied, True, "", False),
        ]
        assert "another user" in answer.results[1].error.description
        check = pb.CheckOwnershipRequest(user_id="u1", item=ItemRef(kind="course", id="algebra-1"))
        assert (await stub.CheckOwnership(check)).owned
        for events, why in (([], "none"), ([sent[0]] * 1001, "over the limit")):
            code, field = await refusal(stub.ApplyPaymentEvents(pb.ApplyPaymentEventsRequest(events=events)))
            assert (code, field) == (grpc.StatusCode.INVALID_ARGUMENT, "events"), why


async def test_each_event_applied_now_is_logged_once_under_its_request_id(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    grant = dataclasses.replace(payment_event(COMPLETED, payment_id="pay-1"), request_id="gw-1")
    unknown = payment_event(COMPLETED, payment_id="pay-2", user_id="u2")
    caplog.set_level(logging.INFO, logger="entitlement_service")

    await apply([grant, unknown, grant], database)
    await apply([grant], database)

    applied = [record for record in caplog.records if " applied: " in record.getMessage()]
    assert [(record.__dict__.get("request_id"), record.getMessage()) for record in applied] == [
        ("gw-1", f"payment event {grant.event_id} applied: PaymentCompleted of payment pay-1 for user u1, 2 item(s)"),
        (None, f"payment event {unknown.event_id} applied: PaymentCompleted of payment pay-2 for user u2, 2 item(s)"),
    ]


@POSTGRES_ONLY  # the service's own tests run on PostgreSQL and Redis
async def test_a_malformed_request_id_is_refused_naming_it_and_the_refusal_names_the_calls_id(
    new_database: NewDatabase, redis_url: str, redis_prefix: str
) -> None:
    event = pb.ApplyPaymentEventRequest(
        event_id=payment_event(COMPLETED).event_id,
        type=pb.PAYMENT_EVENT_TYPE_COMPLETED,
        payment_id="pay-1",
        user_id="u1",
        items=[pb.PaidItem(item=ItemRef(kind="course", id="algebra-1"), amount=100)],
        occurred_at=to_timestamp(T0),
        request_id="two words",
    )
    async with serving(await new_database("entitlement"), redis_url, redis_prefix) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ApplyPaymentEvent(event, metadata=(("x-request-id", "call-9"),))

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (refused.value.details() or "").startswith("request_id: ")
    assert ("x-request-id", "call-9") in tuple(refused.value.trailing_metadata() or ())
