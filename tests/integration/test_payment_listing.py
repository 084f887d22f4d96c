"""ListPayments and StreamPayments as use cases, on PostgreSQL and SQLite: keyset pages and batches."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterable

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from entitlement_service.bootstrap import EntitlementApp
from entitlement_service.settings import EntitlementSettings
from paygrant.common.v1.common_pb2 import ItemRef
from paygrant.payment.v1 import payment_pb2 as pb
from paygrant.payment.v1.payment_pb2_grpc import PaymentServiceStub
from paygrant.qpay_sim.app import start_simulator
from paygrant.timestamps import to_timestamp
from payment_service.bootstrap import PaymentApp
from payment_service.domain.errors import InvalidRequest
from payment_service.domain.payment import Payment, PaymentOutcome
from payment_service.domain.payment_listing import PaymentFilters, PaymentKey, parse_list_query, parse_stream_query
from payment_service.entrypoints.payment_listing_messages import list_query, stream_query
from payment_service.service_layer.payment_listing import list_payments, stream_payments
from payment_service.settings import PaymentSettings
from tests.conftest import POSTGRES_ONLY, NewDatabase
from tests.integration.payment_harness import PaymentHarness

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
FREEBIE = ItemRef(kind="test", id="placement")
INVALID = grpc.StatusCode.INVALID_ARGUMENT


def payment(session_id: str, at: dt.datetime, user: str = "user-1", **flags: object) -> Payment:
    return Payment(
        id=str(uuid.uuid4()),
        qpay_payment_id=uuid.uuid4().hex,
        session_id=session_id,
        user_id=user,
        amount=1_500_000,
        currency="MNT",
        paid_at=at,
        **flags,  # type: ignore[arg-type]
    )


async def record(harness: PaymentHarness, payments: Iterable[Payment]) -> list[Payment]:
    recorded = list(payments)
    async with harness.uow_factory() as uow:
        for p in recorded:
            uow.payments.add(p)
        await uow.commit()
    return recorded


def newest_first(payments: Iterable[Payment]) -> list[str]:
    return [p.id for p in sorted(payments, key=PaymentKey.of, reverse=True)]


def oldest_first(payments: Iterable[Payment]) -> list[str]:
    return [p.id for p in sorted(payments, key=PaymentKey.of)]


async def every_page(harness: PaymentHarness, filters: PaymentFilters, page_size: int = 0) -> list[str]:
    listed, token = [], ""
    while True:
        page = await list_payments(parse_list_query(filters, page_size, token), harness.uow_factory)
        listed += [p.id for p in page.payments]
        if not page.next_page_token:
            return listed
        token = page.next_page_token


async def test_pages_list_each_payment_once_newest_first_while_new_ones_arrive(harness: PaymentHarness) -> None:
    session = await harness.new_checkout()
    # Ties in paid_at included (three per minute): the id orders them.
    seeded = await record(harness, [payment(session, T0 + dt.timedelta(minutes=n // 3)) for n in range(23)])
    listed, token, pages = [], "", 0
    arrived: list[Payment] = []
    while True:
        page = await list_payments(parse_list_query(PaymentFilters(), 5, token), harness.uow_factory)
        assert len(page.payments) <= 5
        listed += [p.id for p in page.payments]
        pages += 1
        # Newer payments arrive between pages: they sort before the first page and never shift the rest.
        arrived += await record(harness, [payment(session, T0 + dt.timedelta(days=1, minutes=pages))])
        if not page.next_page_token:
            break
        token = page.next_page_token
    assert (listed, pages) == (newest_first(seeded), 5)
    assert await every_page(harness, PaymentFilters()) == newest_first(seeded + arrived)


async def test_a_payment_recorded_behind_the_cursor_with_an_old_time_appears_once_at_its_place(
    harness: PaymentHarness,
) -> None:
    session = await harness.new_checkout()
    seeded = await record(harness, [payment(session, T0 + dt.timedelta(minutes=n)) for n in range(6)])
    first = await list_payments(parse_list_query(PaymentFilters(), 3, ""), harness.uow_factory)
    [old] = await record(harness, [payment(session, T0 - dt.timedelta(minutes=1))])
    rest = await list_payments(parse_list_query(PaymentFilters(), 10, first.next_page_token), harness.uow_factory)
    listed = [p.id for p in first.payments + rest.payments]
    assert listed == newest_first([*seeded, old])
    assert rest.next_page_token == ""


async def test_filters_select_by_user_session_outcome_flags_and_paid_range(harness: PaymentHarness) -> None:
    one, two = await harness.new_checkout("k-1", "user-1"), await harness.new_checkout("k-2", "user-2")
    granted = payment(one, T0)
    short = payment(one, T0 + dt.timedelta(hours=1), outcome=PaymentOutcome.SHORT)
    late = payment(two, T0 + dt.timedelta(hours=2), user="user-2", late=True)
    duplicate = payment(
        two, T0 + dt.timedelta(hours=3), user="user-2", outcome=PaymentOutcome.DUPLICATE, refund_due=True
    )
    await record(harness, [granted, short, late, duplicate])
    expectations = {
        PaymentFilters(): [duplicate, late, short, granted],
        PaymentFilters(user_id="user-2"): [duplicate, late],
        PaymentFilters(session_id=one): [short, granted],
        PaymentFilters(outcome=PaymentOutcome.SHORT): [short],
        PaymentFilters(outcome=PaymentOutcome.GRANTED): [late, granted],
        PaymentFilters(late=True): [late],
        PaymentFilters(late=False): [duplicate, short, granted],
        PaymentFilters(refund_due=True): [duplicate],
        PaymentFilters(refund_due=False, user_id="user-2"): [late],
        # [paid_from, paid_to): the start is in, the end is out.
        PaymentFilters(paid_from=T0 + dt.timedelta(hours=1), paid_to=T0 + dt.timedelta(hours=3)): [late, short],
        PaymentFilters(paid_from=T0 + dt.timedelta(hours=3)): [duplicate],
        PaymentFilters(paid_to=T0 + dt.timedelta(hours=1)): [granted],
        PaymentFilters(user_id="nobody"): [],
    }
    for filters, expected in expectations.items():
        assert await every_page(harness, filters, page_size=1) == [p.id for p in expected], filters


async def test_a_page_token_is_refused_with_other_filters_or_when_tampered_with(harness: PaymentHarness) -> None:
    session = await harness.new_checkout()
    await record(harness, [payment(session, T0 + dt.timedelta(minutes=n)) for n in range(3)])
    page = await list_payments(parse_list_query(PaymentFilters(user_id="user-1"), 1, ""), harness.uow_factory)
    token = page.next_page_token
    assert token
    digest, _, key = token.partition(".")
    refused = [
        (PaymentFilters(), token),
        (PaymentFilters(user_id="user-2"), token),
        (PaymentFilters(user_id="user-1", late=False), token),
        (PaymentFilters(user_id="user-1"), f"{'0' * len(digest)}.{key}"),
        (PaymentFilters(user_id="user-1"), f"{digest}.{PaymentKey(T0, ' padded').token()}"),
        (PaymentFilters(user_id="user-1"), key),
        (PaymentFilters(user_id="user-1"), f"{digest}.not-a-key"),
        (PaymentFilters(user_id="user-1"), "x" * 5_000),
    ]
    for filters, bad in refused:
        with pytest.raises(InvalidRequest) as refusal:
            parse_list_query(filters, 1, bad)
            pytest.fail(f"{bad!r} accepted with {filters}")
        assert refusal.value.field == "page_token"
    parse_list_query(PaymentFilters(user_id="user-1"), 1, token)  # its own filters accept it (any page size)
    parse_list_query(PaymentFilters(user_id="user-1"), 50, token)


async def test_the_stream_gives_a_range_in_key_order_in_batches_and_resumes_after_a_last_key(
    harness: PaymentHarness,
) -> None:
    session = await harness.new_checkout()
    inside = await record(harness, [payment(session, T0 + dt.timedelta(seconds=n // 2)) for n in range(25)])
    await record(harness, [payment(session, T0 - dt.timedelta(seconds=1)), payment(session, T0 + dt.timedelta(1))])
    end = T0 + dt.timedelta(hours=1)
    batches = [b async for b in stream_payments(parse_stream_query(T0, end, "", 7), harness.uow_factory)]
    assert [len(b.payments) for b in batches] == [7, 7, 7, 4]
    assert [p.id for b in batches for p in b.payments] == oldest_first(inside)
    assert all(b.lines == {} for b in batches)  # lines only when asked for
    # Resumed after the second batch's last key, the stream gives exactly what followed it.
    resume_from = PaymentKey.of(batches[1].payments[-1]).token()
    resumed = [b async for b in stream_payments(parse_stream_query(T0, end, resume_from, 100), harness.uow_factory)]
    assert [p.id for b in resumed for p in b.payments] == oldest_first(inside)[14:]
    # A range that divides into full batches ends with no empty batch; an empty range yields nothing.
    exact = [b async for b in stream_payments(parse_stream_query(T0, end, "", 5), harness.uow_factory)]
    assert [len(b.payments) for b in exact] == [5] * 5
    after_end = parse_stream_query(T0 + dt.timedelta(2), T0 + dt.timedelta(3), "", 0)
    assert [b async for b in stream_payments(after_end, harness.uow_factory)] == []


def _list(**fields: object) -> pb.ListPaymentsRequest:
    return pb.ListPaymentsRequest(**fields)  # type: ignore[arg-type]


def _stream(**fields: object) -> pb.StreamPaymentsRequest:
    defaults: dict[str, object] = {"start_time": to_timestamp(T0), "end_time": to_timestamp(T0 + dt.timedelta(1))}
    return pb.StreamPaymentsRequest(**{**defaults, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (_list(user_id=" padded"), "user_id"),
        (_list(user_id="u" * 129), "user_id"),
        (_list(session_id="bad\nid"), "session_id"),
        (_list(outcome=42), "outcome"),
        (_list(outcome=-1), "outcome"),
        (_list(paid_from=to_timestamp(T0), paid_to=to_timestamp(T0)), "paid_to"),
        (_list(paid_from=to_timestamp(T0), paid_to=to_timestamp(T0 - dt.timedelta(1))), "paid_to"),
        (_list(page_size=-1), "page_size"),
        (_list(page_size=501), "page_size"),
        (_list(page_token="garbage"), "page_token"),
        (pb.StreamPaymentsRequest(end_time=to_timestamp(T0)), "start_time"),
        (pb.StreamPaymentsRequest(start_time=to_timestamp(T0)), "end_time"),
        (_stream(end_time=to_timestamp(T0 - dt.timedelta(seconds=1))), "end_time"),
        (_stream(end_time=to_timestamp(T0)), "end_time"),
        (_stream(batch_size=-5), "batch_size"),
        (_stream(batch_size=5_001), "batch_size"),
        (_stream(after_key="garbage"), "after_key"),
        (_stream(after_key=PaymentKey(T0, " padded").token()), "after_key"),
        (_stream(user_id="bad\tuser"), "user_id"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(request_: object, field: str) -> None:
    parse = list_query if isinstance(request_, pb.ListPaymentsRequest) else stream_query
    with pytest.raises(InvalidRequest) as refusal:
        parse(request_)  # type: ignore[arg-type]
    assert refusal.value.field == field


def test_empty_filters_and_sizes_mean_any_and_the_defaults() -> None:
    query = list_query(pb.ListPaymentsRequest(late=False))
    assert (query.filters, query.page_size, query.after) == (PaymentFilters(late=False), 50, None)
    assert stream_query(_stream()).batch_size == 1_000


@pytest.fixture
async def payment_stub(new_database: NewDatabase) -> AsyncIterator[PaymentServiceStub]:
    """The payment service on port 0 (no relay, no sweep) with a free product, over a real channel."""
    simulator = await start_simulator()
    entitlement = EntitlementApp(
        EntitlementSettings(entitlement_database_url=await new_database("entitlement"), entitlement_grpc_port=0)
    )
    await entitlement.start()  # CreateCheckout asks it what the buyer owns
    settings = PaymentSettings(
        payment_database_url=await new_database("payment"),
        payment_grpc_port=0,
        callback_port=0,
        qpay_base_url=simulator.base_url,
        entitlement_target=f"127.0.0.1:{entitlement.grpc_port}",
        relay_enabled=False,
        sweep_enabled=False,
    )
    app = PaymentApp(settings)
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            stub = PaymentServiceStub(channel)
            product = pb.Product(item=FREEBIE, title="Placement test", amount=0, active=True)
            await stub.PutProduct(pb.PutProductRequest(product=product))
            yield stub
    finally:
        await app.stop()
        await entitlement.stop()
        await simulator.stop()


def _bad_request_fields(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)
    fields: list[str] = []
    for detail in status.details if status else []:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            fields += [violation.field for violation in bad_request.field_violations]
    return fields


@POSTGRES_ONLY
async def test_over_grpc_pages_and_batches_carry_payments_and_bad_input_names_its_field(
    payment_stub: PaymentServiceStub,
) -> None:
    paid = []
    for n in range(5):
        request = pb.CreateCheckoutRequest(idempotency_key=f"free-{n}", user_id=f"user-{n % 2}", items=[FREEBIE])
        paid.append((await payment_stub.CreateCheckout(request)).payment_id)
    first = await payment_stub.ListPayments(pb.ListPaymentsRequest(user_id="user-0", page_size=2))
    rest = await payment_stub.ListPayments(
        pb.ListPaymentsRequest(user_id="user-0", page_size=2, page_token=first.next_page_token)
    )
    assert [p.payment_id for p in [*first.payments, *rest.payments]] == [paid[4], paid[2], paid[0]]
    assert rest.next_page_token == ""
    assert all(p.user_id == "user-0" and p.outcome == pb.PAYMENT_OUTCOME_GRANTED for p in first.payments)
    now = dt.datetime.now(dt.UTC)
    window = {"start_time": to_timestamp(now - dt.timedelta(hours=1)), "end_time": to_timestamp(now)}
    batches = [b async for b in payment_stub.StreamPayments(pb.StreamPaymentsRequest(batch_size=2, **window))]
    assert [len(b.payments) for b in batches] == [2, 2, 1]
    assert [p.payment_id for b in batches for p in b.payments] == paid
    resumed = payment_stub.StreamPayments(pb.StreamPaymentsRequest(after_key=batches[0].last_key, **window))
    assert [p.payment_id async for b in resumed for p in b.payments] == paid[2:]
    assert all(not p.lines for b in batches for p in b.payments)
    # with_lines fills in what each payment paid for; user_id keeps one buyer's payments.
    lined = payment_stub.StreamPayments(pb.StreamPaymentsRequest(with_lines=True, user_id="user-1", **window))
    payments = [p async for b in lined for p in b.payments]
    assert [p.payment_id for p in payments] == [paid[1], paid[3]]
    assert [[(line.item.id, line.amount) for line in p.lines] for p in payments] == [[("placement", 0)]] * 2

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await payment_stub.ListPayments(pb.ListPaymentsRequest(user_id="user-1", page_token=first.next_page_token))
    assert (refused.value.code(), _bad_request_fields(refused.value)) == (INVALID, ["page_token"])
    inverted = pb.StreamPaymentsRequest(start_time=window["end_time"], end_time=window["start_time"])
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        _ = [b async for b in payment_stub.StreamPayments(inverted)]
    assert (refused.value.code(), _bad_request_fields(refused.value)) == (INVALID, ["end_time"])
