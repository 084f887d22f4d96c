"""The entitlement service as callers see it: EntitlementApp on port 0, every RPC over a real channel."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from entitlement_service.bootstrap import SERVICE_NAME, EntitlementApp
from paygrant.common.v1.common_pb2 import ItemRef
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.entitlement.v1.entitlement_pb2_grpc import EntitlementServiceStub
from entitlement_service.settings import EntitlementSettings
from tests.conftest import CreateDatabase

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
ALGEBRA = ItemRef(kind="course", id="algebra-1")
MOCK_EXAM = ItemRef(kind="test", id="mock-exam")


@pytest.fixture
async def channel(create_pg_database: CreateDatabase, redis_url: str, redis_prefix: str) -> AsyncIterator[Any]:
    settings = EntitlementSettings(
        entitlement_database_url=await create_pg_database("ent_grpc"),
        entitlement_grpc_port=0,
        redis_url=redis_url,
        redis_key_prefix=redis_prefix,
    )
    app = EntitlementApp(settings)
    port = await app.start()
    assert port > 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    await app.stop()


@pytest.fixture
def stub(channel: Any) -> Any:
    return EntitlementServiceStub(channel)


def timestamp(at: dt.datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


def payment_event(kind: pb.PaymentEventType, items: list[tuple[ItemRef, int]], event_id: str | None = None) -> Any:
    return pb.ApplyPaymentEventRequest(
        event_id=event_id or str(uuid.uuid4()),
        type=kind,
        payment_id="pay-1",
        user_id="u1",
        items=[pb.PaidItem(item=item, amount=amount) for item, amount in items],
        occurred_at=timestamp(T0),
    )


async def test_every_rpc_answers_through_a_real_channel(stub: Any) -> None:
    completion = payment_event(pb.PAYMENT_EVENT_TYPE_COMPLETED, [(ALGEBRA, 25_000), (MOCK_EXAM, 0)])
    assert (await stub.ApplyPaymentEvent(completion)).duplicate is False
    assert (await stub.ApplyPaymentEvent(completion)).duplicate is True

    checked = await stub.CheckOwnership(pb.CheckOwnershipRequest(user_id="u1", item=ALGEBRA))
    assert (checked.owned, checked.source, checked.purchased_at.ToDatetime(tzinfo=dt.UTC)) == (True, pb.SOURCE_PAID, T0)

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


async def test_health_reports_serving(channel: Any) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    status = None
    for _ in range(50):
        status = (await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))).status
        if status == health_pb2.HealthCheckResponse.SERVING:
            break
        await asyncio.sleep(0.1)
    assert status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_service(channel: Any) -> None:
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    services = [s.name async for r in responses for s in r.list_services_response.service]
    assert SERVICE_NAME in services


async def violated_field(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call
    status = rpc_status.from_call(failed.value)
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert failed.value.details().startswith(bad_request.field_violations[0].field)
    return failed.value.code(), bad_request.field_violations[0].field


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
    ]
    for call, field in refusals:
        assert await violated_field(call) == (grpc.StatusCode.INVALID_ARGUMENT, field)
