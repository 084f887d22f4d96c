"""The entitlement service as callers see it: EntitlementApp on port 0, every RPC over a real channel."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import redis.exceptions
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from entitlement_service.adapters.orm import SCHEMA
from entitlement_service.bootstrap import SERVICE_NAME, EntitlementApp
from entitlement_service.settings import EntitlementSettings
from paygrant.common.v1.common_pb2 import ItemRef
from paygrant.db import open_database
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.entitlement.v1.entitlement_pb2_grpc import EntitlementServiceStub
from paygrant.timestamps import from_timestamp, to_timestamp
from tests.conftest import POSTGRES_ONLY, NewDatabase
from tests.integration.entitlement_server import refusal
from tests.waiting import eventually

pytestmark = POSTGRES_ONLY

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
ALGEBRA = ItemRef(kind="course", id="algebra-1")
MOCK_EXAM = ItemRef(kind="test", id="mock-exam")


@pytest.fixture
async def database_url(new_database: NewDatabase) -> str:
    return await new_database("entitlement")


@pytest.fixture
async def channel(database_url: str, redis_url: str, redis_prefix: str) -> AsyncIterator[grpc.aio.Channel]:
    settings = EntitlementSettings(
        entitlement_database_url=database_url,
        entitlement_grpc_port=0,
        redis_url=redis_url,
        redis_key_prefix=redis_prefix,
    )
    app = EntitlementApp(settings)
    await app.start()
    try:
        assert app.listening == {"EntitlementService gRPC": f"127.0.0.1:{app.grpc_port}"}
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            yield channel
    finally:
        await app.stop()


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> Any:
    return EntitlementServiceStub(channel)


def payment_event(
    kind: pb.PaymentEventType, items: list[tuple[ItemRef, int]], event_id: str | None = None, payment_id: str = "pay-1"
) -> Any:
    return pb.ApplyPaymentEventRequest(
        event_id=event_id or str(uuid.uuid4()),
        type=kind,
        payment_id=payment_id,
        user_id="u1",
        items=[pb.PaidItem(item=item, amount=amount) for item, amount in items],
        occurred_at=to_timestamp(T0),
    )


async def test_every_rpc_answers_through_a_real_channel(stub: Any) -> None:
    completion = payment_event(pb.PAYMENT_EVENT_TYPE_COMPLETED, [(ALGEBRA, 25_000), (MOCK_EXAM, 0)])
    assert (await stub.ApplyPaymentEvent(completion)).duplicate is False
    assert (await stub.ApplyPaymentEvent(completion)).duplicate is True

    checked = await stub.CheckOwnership(pb.CheckOwnershipRequest(user_id="u1", item=ALGEBRA))
    assert (checked.owned, checked.source, from_timestamp(checked.purchased_at)) == (True, pb.SOURCE_PAID, T0)

    queries = [
        pb.OwnershipQuery(user_id="u2", item=ALGEBRA),
        pb.OwnershipQuery(user_id="u1", item=MOCK_EXAM),
        pb.OwnershipQuery(user_id="u1", item=ALGEBRA),
    ]
    batch = await stub.BatchCheckOwnership(pb.BatchCheckOwnershipRequest(queries=queries))
    assert [r.query for r in batch.results] == queries
    assert [(r.owned, r.source) for r in batch.results] == [
        (False, pb.SOURCE_UNSPECIFIED),
        (True, pb.SOURCE_FREE),
        (True, pb.SOURCE_PAID),
    ]
    assert not batch.results[0].HasField("purchased_at")

    listed = await stub.ListEntitlements(pb.ListEntitlementsRequest(user_id="u1"))
    assert [(e.item, e.source, e.payment_id) for e in listed.entitlements] == [
        (ALGEBRA, pb.SOURCE_PAID, "pay-1"),
        (MOCK_EXAM, pb.SOURCE_FREE, "pay-1"),
    ]
    only_tests = await stub.ListEntitlements(pb.ListEntitlementsRequest(user_id="u1", kind="test"))
    assert [e.item for e in only_tests.entitlements] == [MOCK_EXAM]

    refund = await stub.ApplyPaymentEvent(payment_event(pb.PAYMENT_EVENT_TYPE_REFUNDED, []))
    assert refund.duplicate is False
    after = await stub.CheckOwnership(pb.CheckOwnershipRequest(user_id="u1", item=ALGEBRA))
    assert (after.owned, after.source, after.HasField("purchased_at")) == (False, pb.SOURCE_UNSPECIFIED, False)


async def test_an_invalid_query_of_a_batch_gets_its_own_error_and_the_others_are_answered(stub: Any) -> None:
    await stub.ApplyPaymentEvent(payment_event(pb.PAYMENT_EVENT_TYPE_COMPLETED, [(ALGEBRA, 25_000)]))
    queries = [
        pb.OwnershipQuery(user_id="u1", item=ItemRef(kind="Course", id="algebra-1")),
        pb.OwnershipQuery(user_id="u1", item=ALGEBRA),
        pb.OwnershipQuery(user_id="", item=ALGEBRA),
    ]
    batch = await stub.BatchCheckOwnership(pb.BatchCheckOwnershipRequest(queries=queries))
    assert [r.query for r in batch.results] == queries
    assert [(r.owned, r.error.field) for r in batch.results] == [(False, "item.kind"), (True, ""), (False, "user_id")]
    assert not batch.results[1].HasField("error")
    assert batch.results[2].error.description == "is required"


async def test_a_fully_consistent_check_reads_the_database_past_the_cache(stub: Any, database_url: str) -> None:
    await stub.ApplyPaymentEvent(payment_event(pb.PAYMENT_EVENT_TYPE_COMPLETED, [(ALGEBRA, 100)]))
    question = pb.CheckOwnershipRequest(user_id="u1", item=ALGEBRA)
    assert (await stub.CheckOwnership(question)).owned  # "owned" is now cached
    async with open_database(database_url, SCHEMA) as database, database.engine.begin() as conn:
        await conn.execute(text("DELETE FROM entitlements"))  # behind the caches' back
    assert (await stub.CheckOwnership(question)).owned, "the default consistency answers from a cache"
    fresh = pb.CheckOwnershipRequest(user_id="u1", item=ALGEBRA, consistency=pb.CONSISTENCY_FULLY_CONSISTENT)
    assert not (await stub.CheckOwnership(fresh)).owned
    batch = pb.BatchCheckOwnershipRequest(
        queries=[pb.OwnershipQuery(user_id="u1", item=ALGEBRA)], consistency=pb.CONSISTENCY_FULLY_CONSISTENT
    )
    assert not (await stub.BatchCheckOwnership(batch)).results[0].owned


async def test_health_reports_serving(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)

    async def serving() -> bool:
        answer = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
        return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

    await eventually(serving, within=5, what="SERVING")


async def test_reflection_lists_the_service(channel: grpc.aio.Channel) -> None:
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    services = [s.name async for r in responses for s in r.list_services_response.service]
    assert SERVICE_NAME in services


UNKNOWN: Any = 7  # a number no enum of the contract declares


async def test_bad_input_is_refused_naming_the_field(stub: Any) -> None:
    three_items = [(ALGEBRA, 1), (MOCK_EXAM, 1), (ItemRef(kind="X", id="a"), 1)]
    bad_kind = payment_event(pb.PAYMENT_EVENT_TYPE_COMPLETED, three_items)
    refusals = [
        (stub.ApplyPaymentEvent(bad_kind), "items[2].item.kind"),
        (stub.ApplyPaymentEvent(payment_event(pb.PAYMENT_EVENT_TYPE_UNSPECIFIED, [(ALGEBRA, 1)])), "type"),
        (stub.ApplyPaymentEvent(payment_event(pb.PAYMENT_EVENT_TYPE_COMPLETED, [(ALGEBRA, 1)], "42")), "event_id"),
        (stub.CheckOwnership(pb.CheckOwnershipRequest(item=ALGEBRA)), "user_id"),
        (stub.BatchCheckOwnership(pb.BatchCheckOwnershipRequest()), "queries"),
        (stub.ListEntitlements(pb.ListEntitlementsRequest(user_id="u1", kind="Course")), "kind"),
        (stub.CheckOwnership(pb.CheckOwnershipRequest(user_id="u1", item=ALGEBRA, consistency=UNKNOWN)), "consistency"),
    ]
    for call, field in refusals:
        assert await refusal(call) == (grpc.StatusCode.INVALID_ARGUMENT, field)


# Ways the inbox insert can fail that do not mean "this event id was applied before" (only pk_inbox means that):
# statements that break the insert, then statements that repair it.
BROKEN_INBOXES = {
    "not-null-column": (
        [
            "ALTER TABLE inbox ADD COLUMN note text NOT NULL DEFAULT 'x'",
            "ALTER TABLE inbox ALTER COLUMN note DROP DEFAULT",
        ],
        ["ALTER TABLE inbox DROP COLUMN note"],
    ),
    "foreign-key": (
        [
            "ALTER TABLE inbox ADD CONSTRAINT fk_inbox_payment_id_refund_marks"
            " FOREIGN KEY (payment_id) REFERENCES refund_marks (payment_id) NOT VALID"
        ],
        ["ALTER TABLE inbox DROP CONSTRAINT fk_inbox_payment_id_refund_marks"],
    ),
    "another-unique-index": (["CREATE UNIQUE INDEX uq_inbox_one_row ON inbox ((1))"], ["DROP INDEX uq_inbox_one_row"]),
}


async def execute(engine: AsyncEngine, statements: list[str]) -> None:
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        tables = ["inbox", "purchases", "entitlements", "refund_marks"]
        return {t: (await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one() for t in tables}


@pytest.mark.parametrize(("breaks", "repairs"), BROKEN_INBOXES.values(), ids=BROKEN_INBOXES)
async def test_an_inbox_insert_failing_for_another_reason_than_a_known_event_answers_internal_not_duplicate(
    stub: Any, database_url: str, breaks: list[str], repairs: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    earlier = payment_event(pb.PAYMENT_EVENT_TYPE_COMPLETED, [(MOCK_EXAM, 0)], payment_id="pay-0")
    assert (await stub.ApplyPaymentEvent(earlier)).duplicate is False  # the inbox is not empty
    event = payment_event(pb.PAYMENT_EVENT_TYPE_COMPLETED, [(ALGEBRA, 25_000)])
    async with open_database(database_url, SCHEMA, migrate=False) as admin:
        await execute(admin.engine, breaks)
        before = await row_counts(admin.engine)
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await stub.ApplyPaymentEvent(event)
        assert failed.value.code() == grpc.StatusCode.INTERNAL
        assert any(record.exc_info and isinstance(record.exc_info[1], IntegrityError) for record in caplog.records)
        assert await row_counts(admin.engine) == before
        await execute(admin.engine, repairs)
    assert (await stub.ApplyPaymentEvent(event)).duplicate is False  # redelivered, it applies: nothing was lost
    assert (await stub.CheckOwnership(pb.CheckOwnershipRequest(user_id="u1", item=ALGEBRA))).owned


async def test_a_failed_start_closes_the_database_it_opened(database_url: str, refused_port: int) -> None:
    settings = EntitlementSettings(
        entitlement_database_url=database_url, entitlement_grpc_port=0, redis_url=f"redis://127.0.0.1:{refused_port}/0"
    )
    app = EntitlementApp(settings)  # kept alive: collecting it would close its connections anyway
    with pytest.raises(redis.exceptions.ConnectionError):
        await app.start()  # migrated the database, then could not reach Redis
    async with open_database(database_url, SCHEMA, migrate=False) as observer, observer.engine.connect() as conn:
        others = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        assert (await conn.execute(text(others))).scalar_one() == 0
    assert app.listening == {}
