"""ListPurchases over gRPC on PostgreSQL and SQLite: keyset pages that stay right while purchases arrive."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from paygrant.common.v1.common_pb2 import ItemRef
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.timestamps import from_timestamp, to_timestamp
from tests.conftest import NewDatabase
from tests.integration.entitlement_server import refusal, serving

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture
async def stub(new_database: NewDatabase, redis_url: str, redis_prefix: str) -> AsyncIterator[Any]:
    async with serving(await new_database("entitlement"), redis_url, redis_prefix) as running:
        yield running


async def pay(stub: Any, payment_id: str, at: dt.datetime, item: str = "algebra-1", kind: str = "course") -> None:
    await stub.ApplyPaymentEvent(
        pb.ApplyPaymentEventRequest(
            event_id=str(uuid.uuid4()),
            type=pb.PAYMENT_EVENT_TYPE_COMPLETED,
            payment_id=payment_id,
            user_id="u1",
            items=[pb.PaidItem(item=ItemRef(kind=kind, id=item), amount=1_000)],
            occurred_at=to_timestamp(at),
        )
    )


def listing(page_size: int = 0, page_token: str = "", **filters: Any) -> pb.ListPurchasesRequest:
    return pb.ListPurchasesRequest(user_id="u1", page_size=page_size, page_token=page_token, **filters)


def order_key(purchase: Any) -> tuple[dt.datetime, str]:
    return from_timestamp(purchase.purchased_at), purchase.purchase_id


async def test_purchases_come_newest_first_with_their_history(stub: Any) -> None:
    await pay(stub, "pay-1", T0)
    await pay(stub, "pay-2", T0 + dt.timedelta(hours=1), item="geometry")
    granted = await stub.GrantEntitlement(
        pb.GrantEntitlementRequest(
            user_id="u1",
            item=ItemRef(kind="test", id="mock"),
            reason="promo",
            actor="alice",
            idempotency_key="g-1",
            source=pb.SOURCE_FREE,
        )
    )
    listed = (await stub.ListPurchases(listing())).purchases
    assert [p.payment_id for p in listed] == ["", "pay-2", "pay-1"]
    assert listed[0] == granted.purchase
    assert (listed[2].source, listed[2].amount, from_timestamp(listed[2].purchased_at)) == (pb.SOURCE_PAID, 1_000, T0)
    assert (listed[0].reason, listed[0].actor) == ("promo", "alice")
    only_tests = (await stub.ListPurchases(listing(kind="test"))).purchases
    assert [p.item.kind for p in only_tests] == ["test"]
    revoked = (await stub.ListPurchases(listing(status=pb.PURCHASE_STATUS_REVOKED))).purchases
    assert list(revoked) == []
    other_user = await stub.ListPurchases(pb.ListPurchasesRequest(user_id="u2"))
    assert (list(other_user.purchases), other_user.next_page_token) == ([], "")


async def test_pages_list_each_purchase_once_while_new_ones_arrive_between_pages(stub: Any) -> None:
    # Ties in purchased_at included: the id orders them.
    for n in range(23):
        await pay(stub, f"pay-{n:02}", T0 + dt.timedelta(minutes=n // 3))
    original = sorted((await stub.ListPurchases(listing(page_size=500))).purchases, key=order_key, reverse=True)
    assert len(original) == 23
    seen: list[Any] = []
    token, pages = "", 0
    while True:
        page = await stub.ListPurchases(listing(page_size=4, page_token=token))
        seen += page.purchases
        pages += 1
        # Between pages: a purchase newer than all, and a late event from the past, inside what is left to read.
        await pay(stub, f"new-{pages}", T0 + dt.timedelta(days=1))
        await pay(stub, f"late-{pages}", T0 + dt.timedelta(seconds=30), item=f"late-{pages}")
        token = page.next_page_token
        if not token:
            break
    ids = [p.purchase_id for p in seen]
    assert len(ids) == len(set(ids)), "a purchase was listed twice"
    assert [order_key(p) for p in seen] == sorted((order_key(p) for p in seen), reverse=True)
    listed_originals = [p.purchase_id for p in seen if p.payment_id.startswith("pay-")]
    assert listed_originals == [p.purchase_id for p in original], "a purchase was skipped"
    assert not any(p.payment_id.startswith("new-") for p in seen), "a newer purchase shifted into a later page"
    assert any(p.payment_id.startswith("late-") for p in seen)  # the late ones landed in what was left to read


async def test_the_last_page_has_no_token_and_a_full_last_page_ends_too(stub: Any) -> None:
    for n in range(4):
        await pay(stub, f"pay-{n}", T0 + dt.timedelta(minutes=n))
    first = await stub.ListPurchases(listing(page_size=2))
    second = await stub.ListPurchases(listing(page_size=2, page_token=first.next_page_token))
    assert (len(first.purchases), len(second.purchases), second.next_page_token) == (2, 2, "")
    assert [p.payment_id for p in [*first.purchases, *second.purchases]] == ["pay-3", "pay-2", "pay-1", "pay-0"]


async def test_a_token_with_other_filters_or_another_user_is_refused(stub: Any) -> None:
    for n in range(3):
        await pay(stub, f"pay-{n}", T0 + dt.timedelta(minutes=n))
    token = (await stub.ListPurchases(listing(page_size=1))).next_page_token
    assert token
    assert len((await stub.ListPurchases(listing(page_size=2, page_token=token))).purchases) == 2  # a new size is fine
    for other in (
        listing(page_token=token, kind="course"),
        listing(page_token=token, status=pb.PURCHASE_STATUS_ACTIVE),
        pb.ListPurchasesRequest(user_id="u2", page_token=token),
    ):
        assert await refusal(stub.ListPurchases(other)) == (INVALID, "page_token")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


UNKNOWN: Any = 7  # a number no enum of the contract declares


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"page_size": -1}, "page_size"),
        ({"page_size": 501}, "page_size"),
        ({"page_size": 2**31 - 1}, "page_size"),
        ({"status": UNKNOWN}, "status"),
        ({"status": -1}, "status"),
        ({"kind": "Course"}, "kind"),
        ({"page_token": "garbage"}, "page_token"),
        ({"page_token": "é" * 600}, "page_token"),
        ({"page_token": _b64(b"\xff\x00")}, "page_token"),
        (
            {"page_token": _b64(json.dumps({"t": "9999-12-31T23:59:59-01:00", "id": "x", "f": "y"}).encode())},
            "page_token",
        ),
        ({"page_token": _b64(b"[" * 300)}, "page_token"),
    ],
)
async def test_bad_page_sizes_tokens_and_filters_are_refused_naming_the_field(
    stub: Any, request_fields: dict[str, Any], field: str
) -> None:
    assert await refusal(stub.ListPurchases(listing(**request_fields))) == (INVALID, field)
    assert await refusal(stub.ListPurchases(pb.ListPurchasesRequest())) == (INVALID, "user_id")
