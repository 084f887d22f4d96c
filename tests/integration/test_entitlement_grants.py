"""GrantEntitlement, RevokeEntitlement and double purchases over gRPC, on PostgreSQL and SQLite, with Redis."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from sqlalchemy import text

from entitlement_service.adapters.orm import SCHEMA
from paygrant.common.v1.common_pb2 import ItemRef
from paygrant.db import Database, open_database
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.timestamps import to_timestamp
from tests.conftest import NewDatabase
from tests.integration.entitlement_server import refusal, serving

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
ALGEBRA = ItemRef(kind="course", id="algebra-1")
TABLES = ("purchases", "entitlements", "admin_actions")


@dataclass
class Service:
    """The running service and its database, read behind its back to count rows."""

    stub: Any
    database: Database

    async def rows(self) -> dict[str, int]:
        async with self.database.engine.connect() as conn:
            return {t: (await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one() for t in TABLES}

    async def owns(self, user_id: str = "u1") -> tuple[bool, int]:
        answer = await self.stub.CheckOwnership(pb.CheckOwnershipRequest(user_id=user_id, item=ALGEBRA))
        return answer.owned, answer.source


@pytest.fixture
async def service(new_database: NewDatabase, redis_url: str, redis_prefix: str) -> AsyncIterator[Service]:
    url = await new_database("entitlement")
    async with serving(url, redis_url, redis_prefix) as stub, open_database(url, SCHEMA, migrate=False) as database:
        yield Service(stub, database)


def grant(key: str = "g-1", **changes: Any) -> pb.GrantEntitlementRequest:
    fields = {"user_id": "u1", "item": ALGEBRA, "reason": "support ticket 7", "actor": "alice", "idempotency_key": key}
    return pb.GrantEntitlementRequest(**{**fields, **changes})


def revoke(key: str = "r-1", **changes: Any) -> pb.RevokeEntitlementRequest:
    fields = {"user_id": "u1", "item": ALGEBRA, "reason": "by mistake", "actor": "bob", "idempotency_key": key}
    return pb.RevokeEntitlementRequest(**{**fields, **changes})


def payment(kind: pb.PaymentEventType, payment_id: str, at: dt.datetime = T0) -> pb.ApplyPaymentEventRequest:
    items = [pb.PaidItem(item=ALGEBRA, amount=25_000)] if kind == pb.PAYMENT_EVENT_TYPE_COMPLETED else []
    return pb.ApplyPaymentEventRequest(
        event_id=str(uuid.uuid4()),
        type=kind,
        payment_id=payment_id,
        user_id="u1",
        items=items,
        occurred_at=to_timestamp(at),
    )


async def history(stub: Any) -> list[Any]:
    return list((await stub.ListPurchases(pb.ListPurchasesRequest(user_id="u1"))).purchases)


async def test_a_grant_gives_the_item_and_is_recorded_with_who_and_why(service: Service) -> None:
    assert await service.owns() == (False, pb.SOURCE_UNSPECIFIED)  # cached as "not owned" now
    answer = await service.stub.GrantEntitlement(grant())
    granted = answer.purchase
    assert answer.duplicate is False
    assert (granted.source, granted.status, granted.amount, granted.currency) == (
        pb.SOURCE_ADMIN,
        pb.PURCHASE_STATUS_ACTIVE,
        0,
        "MNT",
    )
    assert (granted.reason, granted.actor, granted.payment_id, granted.user_id) == (
        "support ticket 7",
        "alice",
        "",
        "u1",
    )
    assert await service.owns() == (True, pb.SOURCE_ADMIN)  # the grant invalidated the cached answer
    assert await history(service.stub) == [granted]
    free = await service.stub.GrantEntitlement(grant("g-2", user_id="u2", source=pb.SOURCE_FREE))
    assert free.purchase.source == pb.SOURCE_FREE


async def test_the_same_key_and_request_answers_the_same_grant_and_writes_nothing(service: Service) -> None:
    first = await service.stub.GrantEntitlement(grant())
    before = await service.rows()
    again = await service.stub.GrantEntitlement(grant(source=pb.SOURCE_ADMIN))  # ADMIN is what unspecified means
    assert (again.purchase, again.duplicate) == (first.purchase, True)
    assert await service.rows() == before == {"purchases": 1, "entitlements": 1, "admin_actions": 1}


@pytest.mark.parametrize(
    "change",
    [{"user_id": "u2"}, {"reason": "another"}, {"actor": "mallory"}, {"source": pb.SOURCE_FREE}],
    ids=lambda change: next(iter(change)),
)
async def test_the_same_key_with_another_request_is_already_exists_and_writes_nothing(
    service: Service, change: dict[str, Any]
) -> None:
    await service.stub.GrantEntitlement(grant())
    before = await service.rows()
    assert await refusal(service.stub.GrantEntitlement(grant(**change))) == (grpc.StatusCode.ALREADY_EXISTS, "")
    assert await refusal(service.stub.RevokeEntitlement(revoke("g-1"))) == (grpc.StatusCode.ALREADY_EXISTS, "")
    assert await service.rows() == before


async def test_concurrent_grants_with_one_key_grant_once_and_all_answer_the_same_purchase(service: Service) -> None:
    answers = await asyncio.gather(*(service.stub.GrantEntitlement(grant()) for _ in range(6)))
    assert sorted(a.duplicate for a in answers) == [False] + [True] * 5
    assert len({a.purchase.purchase_id for a in answers}) == 1
    assert await service.rows() == {"purchases": 1, "entitlements": 1, "admin_actions": 1}


async def test_concurrent_requests_with_one_key_but_different_grants_let_one_win(service: Service) -> None:
    requests = [grant(reason=f"reason {n}") for n in range(4)]
    answers = await asyncio.gather(*(service.stub.GrantEntitlement(r) for r in requests), return_exceptions=True)
    won = [a for a in answers if isinstance(a, pb.GrantEntitlementResponse)]
    lost = [a for a in answers if isinstance(a, grpc.aio.AioRpcError)]
    assert len(won) == 1 and won[0].duplicate is False
    assert [a.code() for a in lost] == [grpc.StatusCode.ALREADY_EXISTS] * 3
    assert await service.rows() == {"purchases": 1, "entitlements": 1, "admin_actions": 1}


async def test_a_revoke_ends_the_grants_and_the_ownership(service: Service) -> None:
    await service.stub.GrantEntitlement(grant("g-1"))
    await service.stub.GrantEntitlement(grant("g-2", source=pb.SOURCE_FREE))
    assert await service.owns() == (True, pb.SOURCE_ADMIN)
    answer = await service.stub.RevokeEntitlement(revoke())
    assert (len(answer.revoked), answer.duplicate, answer.still_owned) == (2, False, False)
    assert {(p.status, p.revoke_reason, p.revoked_by) for p in answer.revoked} == {
        (pb.PURCHASE_STATUS_REVOKED, "by mistake", "bob")
    }
    assert all(p.HasField("revoked_at") for p in answer.revoked)
    assert await service.owns() == (False, pb.SOURCE_UNSPECIFIED)
    again = await service.stub.RevokeEntitlement(revoke())
    assert (list(again.revoked), again.duplicate, again.still_owned) == (list(answer.revoked), True, False)


async def test_a_revoke_never_touches_a_paid_purchase(service: Service) -> None:
    await service.stub.ApplyPaymentEvent(payment(pb.PAYMENT_EVENT_TYPE_COMPLETED, "pay-1"))
    granted = (await service.stub.GrantEntitlement(grant())).purchase
    assert await service.owns() == (True, pb.SOURCE_PAID)  # the earlier, paid purchase gives it
    answer = await service.stub.RevokeEntitlement(revoke())
    assert ([p.purchase_id for p in answer.revoked], answer.still_owned) == ([granted.purchase_id], True)
    statuses = {p.payment_id: p.status for p in await history(service.stub)}
    assert statuses == {"pay-1": pb.PURCHASE_STATUS_ACTIVE, "": pb.PURCHASE_STATUS_REVOKED}
    assert await service.owns() == (True, pb.SOURCE_PAID)
    before = await service.rows()
    assert await refusal(service.stub.RevokeEntitlement(revoke("r-2"))) == (grpc.StatusCode.NOT_FOUND, "")
    assert await service.rows() == before


async def test_a_revoke_of_nothing_granted_is_not_found_and_writes_nothing(service: Service) -> None:
    assert await refusal(service.stub.RevokeEntitlement(revoke())) == (grpc.StatusCode.NOT_FOUND, "")
    assert await service.rows() == {"purchases": 0, "entitlements": 0, "admin_actions": 0}
    await service.stub.GrantEntitlement(grant())
    assert len((await service.stub.RevokeEntitlement(revoke())).revoked) == 1  # the key was left free


async def test_concurrent_revokes_with_one_key_revoke_once(service: Service) -> None:
    await service.stub.GrantEntitlement(grant())
    answers = await asyncio.gather(*(service.stub.RevokeEntitlement(revoke()) for _ in range(5)))
    assert sorted(a.duplicate for a in answers) == [False] + [True] * 4
    assert len({tuple(p.purchase_id for p in a.revoked) for a in answers}) == 1


async def test_a_second_payment_is_flagged_double_and_a_refund_of_either_leaves_the_item_owned(
    service: Service,
) -> None:
    stub = service.stub
    await stub.ApplyPaymentEvent(payment(pb.PAYMENT_EVENT_TYPE_COMPLETED, "pay-1"))
    await stub.ApplyPaymentEvent(payment(pb.PAYMENT_EVENT_TYPE_COMPLETED, "pay-2", T0 + dt.timedelta(minutes=5)))
    assert [(p.payment_id, p.double_purchase) for p in await history(stub)] == [("pay-2", True), ("pay-1", False)]
    await stub.ApplyPaymentEvent(payment(pb.PAYMENT_EVENT_TYPE_REFUNDED, "pay-1"))
    listed = await history(stub)
    assert [(p.payment_id, p.status, p.revoke_reason) for p in listed] == [
        ("pay-2", pb.PURCHASE_STATUS_ACTIVE, ""),
        ("pay-1", pb.PURCHASE_STATUS_REVOKED, "refunded"),
    ]
    assert await service.owns() == (True, pb.SOURCE_PAID)
    owned = await stub.ListEntitlements(pb.ListEntitlementsRequest(user_id="u1"))
    assert [e.payment_id for e in owned.entitlements] == ["pay-2"]


async def test_refunding_the_double_purchase_revokes_only_it(service: Service) -> None:
    stub = service.stub
    await stub.ApplyPaymentEvent(payment(pb.PAYMENT_EVENT_TYPE_COMPLETED, "pay-1"))
    await stub.ApplyPaymentEvent(payment(pb.PAYMENT_EVENT_TYPE_COMPLETED, "pay-2", T0 + dt.timedelta(minutes=5)))
    await stub.ApplyPaymentEvent(payment(pb.PAYMENT_EVENT_TYPE_REFUNDED, "pay-2"))
    assert [(p.payment_id, p.status) for p in await history(stub)] == [
        ("pay-2", pb.PURCHASE_STATUS_REVOKED),
        ("pay-1", pb.PURCHASE_STATUS_ACTIVE),
    ]
    owned = await stub.ListEntitlements(pb.ListEntitlementsRequest(user_id="u1"))
    assert [e.payment_id for e in owned.entitlements] == ["pay-1"]


UNKNOWN: Any = 7  # a number no enum of the contract declares


async def test_malformed_grants_and_revokes_are_refused_naming_the_field(service: Service) -> None:
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    refusals = [
        (service.stub.GrantEntitlement(grant(source=pb.SOURCE_PAID)), "source"),
        (service.stub.GrantEntitlement(grant(source=UNKNOWN)), "source"),
        (service.stub.GrantEntitlement(grant(reason="   ")), "reason"),
        (service.stub.GrantEntitlement(grant(reason="r" * 501)), "reason"),
        (service.stub.GrantEntitlement(grant(actor="a" * 129)), "actor"),
        (service.stub.GrantEntitlement(grant(key="")), "idempotency_key"),
        (service.stub.GrantEntitlement(grant(item=ItemRef(kind="course"))), "item.id"),
        (service.stub.RevokeEntitlement(revoke(user_id="")), "user_id"),
        (service.stub.RevokeEntitlement(revoke(reason="")), "reason"),
        (service.stub.RevokeEntitlement(revoke(key="k" * 129)), "idempotency_key"),
    ]
    for call, field in refusals:
        assert await refusal(call) == (invalid, field)
    assert await service.rows() == {"purchases": 0, "entitlements": 0, "admin_actions": 0}
