"""GetPurchaseStats and StreamPurchases through a real channel, on PostgreSQL and SQLite.

Purchases are seeded as rows (any time, source and status), so every expectation below is
computed by hand from the table at the top of each test.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import insert

from entitlement_service.adapters.orm import SCHEMA, purchases
from entitlement_service.bootstrap import EntitlementApp
from entitlement_service.settings import EntitlementSettings
from paygrant.common.v1.common_pb2 import ItemRef
from paygrant.db import open_database
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.entitlement.v1.entitlement_pb2_grpc import EntitlementServiceStub
from paygrant.timestamps import from_timestamp, to_timestamp
from tests.conftest import NewDatabase

INT64_MAX = 2**63 - 1
MARCH = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
APRIL = dt.datetime(2025, 4, 1, tzinfo=dt.UTC)
MAY = dt.datetime(2025, 5, 1, tzinfo=dt.UTC)
TICK = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class Bought:
    """A purchase row to seed."""

    kind: str
    item: str
    amount: int
    at: dt.datetime
    currency: str = "MNT"
    source: str = "paid"
    revoked: bool = False
    id: str = ""


@dataclass
class Service:
    """The service on port 0 and a way to put rows straight into its database."""

    stub: Any
    database_url: str

    async def seed(self, bought: Iterable[Bought]) -> list[str]:
        """Inserts the purchases; returns their ids in the order given."""
        rows = [_row(b) for b in bought]
        async with open_database(self.database_url, SCHEMA, migrate=False) as database, database.engine.begin() as db:
            await db.execute(insert(purchases), rows)
        return [row["id"] for row in rows]


def _row(bought: Bought) -> dict[str, Any]:
    return {
        "id": bought.id or str(uuid.uuid4()),
        "user_id": f"user-{uuid.uuid4().hex[:6]}",
        "item_kind": bought.kind,
        "item_id": bought.item,
        "payment_id": None if bought.source != "paid" else str(uuid.uuid4()),
        "amount": bought.amount,
        "currency": bought.currency,
        "source": bought.source,
        "status": "revoked" if bought.revoked else "active",
        "purchased_at": bought.at,
        "revoked_at": bought.at + dt.timedelta(days=1) if bought.revoked else None,
    }


@pytest.fixture
async def service(new_database: NewDatabase) -> AsyncIterator[Service]:
    database_url = await new_database("entitlement")
    app = EntitlementApp(EntitlementSettings(entitlement_database_url=database_url, entitlement_grpc_port=0))
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            yield Service(EntitlementServiceStub(channel), database_url)
    finally:
        await app.stop()


def refused_field(error: grpc.aio.AioRpcError) -> str:
    """The field an INVALID_ARGUMENT names in its BadRequest detail."""
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    status = rpc_status.from_call(error)
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    [violation] = bad_request.field_violations
    return str(violation.field)


# ---------------------------------------------------------------- GetPurchaseStats

STATS_SEED = (
    Bought("course", "algebra", 1000, MARCH),  # the first instant of March and of its first day
    Bought("course", "algebra", 1000, MARCH + dt.timedelta(days=1) - TICK, revoked=True),  # the day's last
    Bought("course", "physics", 3000, MARCH + dt.timedelta(days=1, hours=10)),
    Bought("test", "mock", 0, MARCH + dt.timedelta(days=1, hours=11), source="free"),
    Bought("course", "algebra", 0, APRIL - dt.timedelta(seconds=1), source="admin"),
    Bought("course", "algebra", 50, MARCH + dt.timedelta(days=14), currency="USD"),
    Bought("test", "mock", 500, APRIL),  # April's first instant
    Bought("course", "physics", 100, MAY - TICK, revoked=True),
    Bought("course", "chemistry", 700, MARCH - TICK),  # before every range asked below
    Bought("course", "chemistry", 700, MAY),  # at the end of a range: excluded
)


def stats_request(start: dt.datetime, end: dt.datetime, granularity: Any, **fields: Any) -> Any:
    return pb.GetPurchaseStatsRequest(
        start_time=to_timestamp(start), end_time=to_timestamp(end), granularity=granularity, **fields
    )


def tally(amount: int, count: int) -> Any:
    return pb.Tally(amount=amount, count=count)


def period(
    start: dt.datetime,
    currency: str,
    purchases: Any,
    refunds: Any,
    kinds: list[tuple[str, Any]],
    sources: list[tuple[Any, Any]],
    items: list[tuple[str, str, Any]],
) -> Any:
    return pb.PeriodStats(
        period_start=to_timestamp(start),
        currency=currency,
        purchases=purchases,
        refunds=refunds,
        by_kind=[pb.KindTally(kind=kind, tally=t) for kind, t in kinds],
        by_source=[pb.SourceTally(source=source, tally=t) for source, t in sources],
        top_items=[pb.ItemTally(item=ItemRef(kind=kind, id=item), tally=t) for kind, item, t in items],
    )


MARCH_MNT = period(
    MARCH,
    "MNT",
    purchases=tally(5000, 5),
    refunds=tally(1000, 1),
    kinds=[("course", tally(5000, 4)), ("test", tally(0, 1))],
    # Equal amounts and counts: by the source's name (admin before free).
    sources=[(pb.SOURCE_PAID, tally(5000, 3)), (pb.SOURCE_ADMIN, tally(0, 1)), (pb.SOURCE_FREE, tally(0, 1))],
    items=[("course", "physics", tally(3000, 1)), ("course", "algebra", tally(2000, 3)), ("test", "mock", tally(0, 1))],
)
MARCH_USD = period(
    MARCH,
    "USD",
    purchases=tally(50, 1),
    refunds=tally(0, 0),
    kinds=[("course", tally(50, 1))],
    sources=[(pb.SOURCE_PAID, tally(50, 1))],
    items=[("course", "algebra", tally(50, 1))],
)
APRIL_MNT = period(
    APRIL,
    "MNT",
    purchases=tally(600, 2),
    refunds=tally(100, 1),
    kinds=[("test", tally(500, 1)), ("course", tally(100, 1))],
    sources=[(pb.SOURCE_PAID, tally(600, 2))],
    items=[("test", "mock", tally(500, 1)), ("course", "physics", tally(100, 1))],
)


async def test_monthly_stats_split_by_currency_kind_and_source_with_refunds_and_top_items(service: Service) -> None:
    await service.seed(STATS_SEED)

    answer = await service.stub.GetPurchaseStats(stats_request(MARCH, MAY, pb.GRANULARITY_MONTH))

    assert list(answer.periods) == [MARCH_MNT, MARCH_USD, APRIL_MNT]


async def test_daily_stats_put_each_purchase_in_its_utc_day(service: Service) -> None:
    await service.seed(STATS_SEED)
    second_day = MARCH + dt.timedelta(days=1)

    answer = await service.stub.GetPurchaseStats(stats_request(MARCH, MARCH + dt.timedelta(days=2), pb.GRANULARITY_DAY))

    assert list(answer.periods) == [
        period(
            MARCH,
            "MNT",
            purchases=tally(2000, 2),
            refunds=tally(1000, 1),
            kinds=[("course", tally(2000, 2))],
            sources=[(pb.SOURCE_PAID, tally(2000, 2))],
            items=[("course", "algebra", tally(2000, 2))],
        ),
        period(
            second_day,
            "MNT",
            purchases=tally(3000, 2),
            refunds=tally(0, 0),
            kinds=[("course", tally(3000, 1)), ("test", tally(0, 1))],
            sources=[(pb.SOURCE_PAID, tally(3000, 1)), (pb.SOURCE_FREE, tally(0, 1))],
            items=[("course", "physics", tally(3000, 1)), ("test", "mock", tally(0, 1))],
        ),
    ]


async def test_stats_of_one_kind_and_a_shorter_top_list(service: Service) -> None:
    await service.seed(STATS_SEED)

    of_tests = await service.stub.GetPurchaseStats(stats_request(MARCH, MAY, pb.GRANULARITY_MONTH, kind="test"))
    top_one = await service.stub.GetPurchaseStats(stats_request(MARCH, APRIL, pb.GRANULARITY_MONTH, top_items=1))

    assert [(from_timestamp(p.period_start), p.currency, p.purchases) for p in of_tests.periods] == [
        (MARCH, "MNT", tally(0, 1)),
        (APRIL, "MNT", tally(500, 1)),
    ]
    assert [p.top_items for p in top_one.periods] == [MARCH_MNT.top_items[:1], MARCH_USD.top_items[:1]]


async def test_stats_of_a_range_without_purchases_have_no_periods(service: Service) -> None:
    await service.seed(STATS_SEED)
    later = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)

    answer = await service.stub.GetPurchaseStats(
        stats_request(later, later + dt.timedelta(days=31), pb.GRANULARITY_DAY)
    )

    assert list(answer.periods) == []


async def test_a_sum_past_int64_is_out_of_range(service: Service) -> None:
    await service.seed([Bought("course", "a", INT64_MAX, MARCH), Bought("course", "b", INT64_MAX, MARCH)])

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await service.stub.GetPurchaseStats(stats_request(MARCH, APRIL, pb.GRANULARITY_MONTH))

    assert raised.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert "int64" in str(raised.value.details())


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.GetPurchaseStatsRequest(end_time=to_timestamp(APRIL), granularity=pb.GRANULARITY_DAY), "start_time"),
        (pb.GetPurchaseStatsRequest(start_time=to_timestamp(MARCH), granularity=pb.GRANULARITY_DAY), "end_time"),
        (stats_request(MARCH, MARCH, pb.GRANULARITY_DAY), "end_time"),
        (stats_request(APRIL, MARCH, pb.GRANULARITY_DAY), "end_time"),
        (stats_request(MARCH, MARCH + dt.timedelta(days=3654), pb.GRANULARITY_MONTH), "end_time"),
        (stats_request(MARCH, APRIL, pb.GRANULARITY_UNSPECIFIED), "granularity"),
        (stats_request(MARCH, APRIL, 99), "granularity"),
        (stats_request(MARCH, APRIL, pb.GRANULARITY_DAY, kind="Not A Kind"), "kind"),
        (stats_request(MARCH, APRIL, pb.GRANULARITY_DAY, top_items=-1), "top_items"),
        (stats_request(MARCH, APRIL, pb.GRANULARITY_DAY, top_items=101), "top_items"),
    ],
)
async def test_invalid_stats_requests_name_the_field(service: Service, request_: Any, field: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await service.stub.GetPurchaseStats(request_)

    assert refused_field(raised.value) == field


async def test_ten_years_of_months_and_a_hundred_top_items_are_allowed(service: Service) -> None:
    await service.seed(STATS_SEED)
    request = stats_request(MARCH - dt.timedelta(days=3653), MARCH, pb.GRANULARITY_MONTH, top_items=100)

    answer = await service.stub.GetPurchaseStats(request)

    assert [p.purchases for p in answer.periods] == [tally(700, 1)]  # the chemistry course of February


# ---------------------------------------------------------------- StreamPurchases


def stream_request(start: dt.datetime = MARCH, end: dt.datetime = MAY, **fields: Any) -> Any:
    return pb.StreamPurchasesRequest(start_time=to_timestamp(start), end_time=to_timestamp(end), **fields)


async def read_stream(service: Service, request: Any) -> list[Any]:
    return [batch async for batch in service.stub.StreamPurchases(request)]


def ids(batches: Iterable[Any]) -> list[str]:
    return [purchase.purchase_id for batch in batches for purchase in batch.purchases]


async def seed_stream(service: Service, count: int) -> list[str]:
    """`count` purchases in March, three to a second (ties broken by id); returns their ids in key order."""
    bought = [
        Bought("course", f"c{n}", n, MARCH + dt.timedelta(seconds=n // 3), id=str(uuid.uuid4())) for n in range(count)
    ]
    await service.seed(bought)
    return [b.id for b in sorted(bought, key=lambda b: (b.at, b.id))]


async def test_the_stream_returns_every_purchase_of_the_range_once_in_key_order(service: Service) -> None:
    expected = await seed_stream(service, 25)
    await service.seed([Bought("course", "x", 1, MARCH - TICK), Bought("course", "y", 1, MAY)])  # just outside

    batches = await read_stream(service, stream_request(batch_size=4))

    assert ids(batches) == expected
    assert [len(batch.purchases) for batch in batches] == [4, 4, 4, 4, 4, 4, 1]


async def test_a_range_of_whole_batches_ends_without_an_empty_message(service: Service) -> None:
    expected = await seed_stream(service, 8)

    batches = await read_stream(service, stream_request(batch_size=4))

    assert ids(batches) == expected
    assert [len(batch.purchases) for batch in batches] == [4, 4]


async def test_an_empty_range_streams_no_message(service: Service) -> None:
    await seed_stream(service, 3)

    assert await read_stream(service, stream_request(start=APRIL)) == []


async def test_resuming_from_a_batch_key_continues_right_after_its_last_purchase(service: Service) -> None:
    expected = await seed_stream(service, 25)
    batches = await read_stream(service, stream_request(batch_size=4))

    resumed = await read_stream(service, stream_request(batch_size=5, after_key=batches[2].last_key))

    assert ids(resumed) == expected[12:]


async def test_purchases_recorded_after_the_last_key_appear_when_resumed(service: Service) -> None:
    expected = await seed_stream(service, 6)
    [*_, last] = await read_stream(service, stream_request(batch_size=4))
    late = await service.seed(
        [
            Bought("course", "late", 1, APRIL),  # after the key, in the range
            Bought("course", "old", 1, MARCH),  # before the key: already passed
            Bought("course", "later", 1, MAY),  # after the range
        ]
    )

    resumed = await read_stream(service, stream_request(after_key=last.last_key))

    assert ids(resumed) == [late[0]]
    full = ids(await read_stream(service, stream_request()))
    assert sorted(full) == sorted([*expected, late[0], late[1]])  # from the start, the old one is there too


async def test_a_streamed_purchase_carries_every_field(service: Service) -> None:
    [revoked] = await service.seed([Bought("course", "algebra", 1000, MARCH, source="paid", revoked=True)])

    [batch] = await read_stream(service, stream_request())

    [purchase] = batch.purchases
    assert purchase.purchase_id == revoked
    assert (purchase.item, purchase.amount, purchase.currency) == (ItemRef(kind="course", id="algebra"), 1000, "MNT")
    assert (purchase.source, purchase.status) == (pb.SOURCE_PAID, pb.PURCHASE_STATUS_REVOKED)
    assert from_timestamp(purchase.purchased_at) == MARCH
    assert from_timestamp(purchase.revoked_at) == MARCH + dt.timedelta(days=1)


def _token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.StreamPurchasesRequest(end_time=to_timestamp(MAY)), "start_time"),
        (pb.StreamPurchasesRequest(start_time=to_timestamp(MARCH)), "end_time"),
        (stream_request(start=MAY, end=MARCH), "end_time"),
        (stream_request(end=MARCH), "end_time"),
        (stream_request(batch_size=-1), "batch_size"),
        (stream_request(batch_size=5001), "batch_size"),
        (stream_request(after_key="not a key"), "after_key"),
        (stream_request(after_key="é"), "after_key"),
        (stream_request(after_key=_token("2025-03-01T00:00:00+00:00")), "after_key"),  # no id
        (stream_request(after_key=_token("2025-03-01T00:00:00|some-id")), "after_key"),  # no time zone
        (stream_request(after_key=_token("yesterday|some-id")), "after_key"),
        (stream_request(after_key=_token("2025-03-01T00:00:00+00:00|" + "x" * 600)), "after_key"),
    ],
)
async def test_invalid_stream_requests_name_the_field(service: Service, request_: Any, field: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await read_stream(service, request_)

    assert refused_field(raised.value) == field
