"""The QPay client against the QPay simulator, both real, over HTTP on loopback."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from paygrant.qpay_sim import RunningSimulator, start_simulator
from paygrant.qpay_sim.control_client import SimulatorControl
from payment_service.adapters.qpay.client import QPayClient
from payment_service.adapters.qpay.errors import (
    QPayConflict,
    QPayNotFound,
    QPayRequestInvalid,
    QPayServerError,
    QPayUnauthorized,
    QPayUnavailable,
    QPayValidationError,
    error_from_response,
)
from payment_service.adapters.qpay.models import InvoiceRequest, QPayInvoice

CLIENT_ID = "TEST_MERCHANT"
CLIENT_SECRET = "123456"
INVOICE_CODE = "TEST_INVOICE"
DAY = 24 * 60 * 60


class ShiftedClock:
    """Wall time plus an offset, so a test can jump the client towards token expiry."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class CallbackReceiver:
    """A merchant endpoint that records every callback QPay sends it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._arrived = asyncio.Condition()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        async with self._arrived:
            self.calls.append((request.path, dict(request.query)))
            self._arrived.notify_all()
        return web.Response(text="SUCCESS")

    async def wait_for_calls(self, count: int) -> None:
        async with asyncio.timeout(5), self._arrived:
            await self._arrived.wait_for(lambda: len(self.calls) >= count)


async def raw_qpay(sim: RunningSimulator, method: str, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
    """A QPay call that bypasses the client, to see what the simulator itself answers."""
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sim.base_url}/auth/token", headers={"Authorization": f"Basic {basic}"}) as response:
            token = (await response.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with http.request(method, sim.base_url + path, json=body, headers=headers) as response:
            return response.status, await response.read()


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    simulator = await start_simulator("127.0.0.1", 0)
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest_asyncio.fixture
async def control(sim: RunningSimulator) -> SimulatorControl:
    return SimulatorControl(sim.base_url)


@pytest_asyncio.fixture
async def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest_asyncio.fixture
async def client(sim: RunningSimulator, clock: ShiftedClock) -> AsyncIterator[QPayClient]:
    async with QPayClient(sim.base_url, CLIENT_ID, CLIENT_SECRET, clock=clock) as qpay:
        yield qpay


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    merchant = CallbackReceiver()
    await merchant.start()
    try:
        yield merchant
    finally:
        await merchant.stop()


def invoice_request(
    callback_url: str = "http://127.0.0.1:9/callback",
    *,
    amount: Decimal = Decimal("15000"),
    sender_invoice_no: str | None = None,
    invoice_code: str = INVOICE_CODE,
) -> InvoiceRequest:
    return InvoiceRequest(
        invoice_code=invoice_code,
        sender_invoice_no=sender_invoice_no or uuid.uuid4().hex,
        invoice_receiver_code="terminal",
        invoice_description="Course: algebra",
        amount=amount,
        callback_url=callback_url,
    )


async def paid_invoice(client: QPayClient, control: SimulatorControl, **pay: Any) -> tuple[QPayInvoice, str]:
    invoice = await client.create_invoice(invoice_request())
    result = await control.pay(invoice.invoice_id, **pay)
    return invoice, result["payment_id"]


# --- tokens ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_many_calls_share_one_token(client: QPayClient, control: SimulatorControl) -> None:
    invoice = await client.create_invoice(invoice_request())
    for _ in range(5):
        await client.get_invoice(invoice.invoice_id)

    assert client.token_requests == 1
    requests = await control.requests()
    assert requests["token"] == 1
    assert requests["invoice_get"] == 5


@pytest.mark.asyncio
async def test_concurrent_first_calls_fetch_one_token(
    sim: RunningSimulator, client: QPayClient, control: SimulatorControl
) -> None:
    invoice = await client.create_invoice(invoice_request())

    async with QPayClient(sim.base_url, CLIENT_ID, CLIENT_SECRET) as fresh:
        infos = await asyncio.gather(*(fresh.get_invoice(invoice.invoice_id) for _ in range(20)))

        assert fresh.token_requests == 1
    assert {info.invoice_id for info in infos} == {invoice.invoice_id}
    assert (await control.requests())["token"] == 2  # one per client


@pytest.mark.asyncio
async def test_token_near_expiry_is_renewed_with_the_refresh_token(
    client: QPayClient, control: SimulatorControl, clock: ShiftedClock
) -> None:
    invoice = await client.create_invoice(invoice_request())
    clock.offset = DAY - 30  # inside the renewal margin, refresh token still valid

    info = await client.get_invoice(invoice.invoice_id)

    assert info.invoice_id == invoice.invoice_id
    assert client.token_requests == 2
    requests = await control.requests()
    assert (requests["token"], requests["refresh"]) == (1, 1)


@pytest.mark.asyncio
async def test_expired_refresh_token_logs_in_again(
    client: QPayClient, control: SimulatorControl, clock: ShiftedClock
) -> None:
    invoice = await client.create_invoice(invoice_request())
    clock.offset = DAY + 60  # both tokens past their expiry

    await client.get_invoice(invoice.invoice_id)

    requests = await control.requests()
    assert (requests["token"], requests.get("refresh", 0)) == (2, 0)
    assert client.token_requests == 2


@pytest.mark.asyncio
async def test_refused_refresh_falls_back_to_login(
    client: QPayClient, control: SimulatorControl, clock: ShiftedClock
) -> None:
    invoice = await client.create_invoice(invoice_request())
    await control.revoke_tokens(refresh=True)
    clock.offset = DAY - 30

    info = await client.get_invoice(invoice.invoice_id)

    assert info.status == "OPEN"
    requests = await control.requests()
    assert (requests["token"], requests["refresh"]) == (2, 1)
    assert client.token_requests == 3


@pytest.mark.asyncio
async def test_revoked_access_token_is_replaced_and_the_call_retried_once(
    client: QPayClient, control: SimulatorControl
) -> None:
    invoice = await client.create_invoice(invoice_request())
    await control.revoke_tokens()

    info = await client.get_invoice(invoice.invoice_id)

    assert info.invoice_id == invoice.invoice_id
    assert client.token_requests == 2
    assert (await control.requests())["invoice_get"] == 2  # the 401, then the retry


@pytest.mark.asyncio
async def test_wrong_secret_is_unauthorized_without_retrying(sim: RunningSimulator) -> None:
    async with QPayClient(sim.base_url, CLIENT_ID, "wrong") as qpay:
        with pytest.raises(QPayUnauthorized) as raised:
            await qpay.create_invoice(invoice_request())

        assert raised.value.code == "AUTHENTICATION_FAILED"
        assert qpay.token_requests == 1


# --- invoices -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_invoice_is_created_read_and_cancelled(sim: RunningSimulator, client: QPayClient) -> None:
    request = invoice_request(amount=Decimal("15000.50"))

    invoice = await client.create_invoice(request)

    assert base64.b64decode(invoice.qr_image).startswith(b"\x89PNG\r\n\x1a\n")
    assert invoice.qr_text
    assert invoice.short_url.startswith(sim.root_url)
    assert len(invoice.deeplinks) >= 5
    assert all(link.name and "qPay_QRcode=" in link.link for link in invoice.deeplinks)

    info = await client.get_invoice(invoice.invoice_id)
    assert (info.status, info.sender_invoice_no, info.amount) == (
        "OPEN",
        request.sender_invoice_no,
        Decimal("15000.50"),
    )

    await client.cancel_invoice(invoice.invoice_id)

    assert (await client.get_invoice(invoice.invoice_id)).status == "CANCELLED"
    with pytest.raises(QPayValidationError) as raised:
        await client.cancel_invoice(invoice.invoice_id)
    assert raised.value.code == "INVOICE_ALREADY_CANCELED"


@pytest.mark.asyncio
async def test_foreign_invoice_code_is_rejected(client: QPayClient) -> None:
    with pytest.raises(QPayValidationError) as raised:
        await client.create_invoice(invoice_request(invoice_code="SOMEONE_ELSE"))

    assert raised.value.code == "INVOICE_CODE_INVALID"


@pytest.mark.asyncio
async def test_reused_sender_invoice_no_is_a_conflict(client: QPayClient) -> None:
    await client.create_invoice(invoice_request(sender_invoice_no="session-1"))

    with pytest.raises(QPayConflict) as raised:
        await client.create_invoice(invoice_request(sender_invoice_no="session-1"))

    assert raised.value.status == 409


@pytest.mark.asyncio
async def test_overlong_sender_invoice_no_is_refused_by_client_and_simulator(sim: RunningSimulator) -> None:
    with pytest.raises(QPayRequestInvalid):
        invoice_request(sender_invoice_no="x" * 46)

    body = {**invoice_request().to_json(), "sender_invoice_no": "x" * 46}
    status, raw = await raw_qpay(sim, "POST", "/invoice", body)
    error = error_from_response(status, raw)

    assert isinstance(error, QPayValidationError)
    assert set(error.field_errors) == {"sender_invoice_no"}


@pytest.mark.asyncio
async def test_unknown_ids_raise_not_found_from_422(client: QPayClient) -> None:
    with pytest.raises(QPayNotFound) as invoice_missing:
        await client.get_invoice(str(uuid.uuid4()))
    with pytest.raises(QPayNotFound) as payment_missing:
        await client.get_payment("123456789012345")
    with pytest.raises(QPayNotFound):
        await client.check_payment(str(uuid.uuid4()))

    assert (invoice_missing.value.status, invoice_missing.value.code) == (422, "INVOICE_NOTFOUND")
    assert (payment_missing.value.status, payment_missing.value.code) == (422, "PAYMENT_NOTFOUND")


# --- payments and callbacks -----------------------------------------------------------


@pytest.mark.asyncio
async def test_paying_sends_the_callback_and_the_payment_reads_back(
    client: QPayClient, control: SimulatorControl, receiver: CallbackReceiver
) -> None:
    callback_url = f"{receiver.url}/qpay/callback?session=s-1&secret=abc"
    invoice = await client.create_invoice(invoice_request(callback_url, amount=Decimal("25000")))

    paid = await control.pay(invoice.invoice_id)

    payment_id = paid["payment_id"]
    assert paid["callback_status"] == 200
    assert receiver.calls == [("/qpay/callback", {"session": "s-1", "secret": "abc", "qpay_payment_id": payment_id})]

    payment = await client.get_payment(payment_id)
    assert (payment.status, payment.amount, payment.currency) == ("PAID", Decimal("25000"), "MNT")
    assert (payment.object_type, payment.object_id) == ("INVOICE", invoice.invoice_id)
    assert payment.payment_type == "P2P"
    assert payment.paid_at is not None
    assert abs(payment.paid_at - datetime.now(UTC)) < timedelta(minutes=1)

    check = await client.check_payment(invoice.invoice_id)
    assert (check.count, check.paid_amount) == (1, Decimal("25000"))
    assert [(row.payment_id, row.object_id, row.status) for row in check.rows] == [
        (payment_id, invoice.invoice_id, "PAID")
    ]
    assert (await client.get_invoice(invoice.invoice_id)).status == "PAID"


@pytest.mark.asyncio
async def test_callback_url_without_query_gets_the_payment_id_as_its_query(
    client: QPayClient, control: SimulatorControl, receiver: CallbackReceiver
) -> None:
    invoice = await client.create_invoice(invoice_request(f"{receiver.url}/cb"))

    paid = await control.pay(invoice.invoice_id)

    assert receiver.calls == [("/cb", {"qpay_payment_id": paid["payment_id"]})]


@pytest.mark.asyncio
async def test_partial_payment_leaves_the_invoice_open(client: QPayClient, control: SimulatorControl) -> None:
    invoice = await client.create_invoice(invoice_request(amount=Decimal("10000")))

    await control.pay(invoice.invoice_id, amount=Decimal("4000.25"))

    check = await client.check_payment(invoice.invoice_id)
    assert check.paid_amount == Decimal("4000.25")
    assert check.rows[0].amount == Decimal("4000.25")
    assert (await client.get_invoice(invoice.invoice_id)).status == "OPEN"


@pytest.mark.asyncio
async def test_payment_list_filters_by_date_range_and_pages(client: QPayClient, control: SimulatorControl) -> None:
    _, first = await paid_invoice(client, control)
    _, second = await paid_invoice(client, control)
    now = datetime.now(UTC)

    merchant = await client.list_payments(
        object_type="MERCHANT",
        object_id=CLIENT_ID,
        start_date=now - timedelta(hours=1),
        end_date=now + timedelta(hours=1),
    )
    by_code = await client.list_payments(
        object_type="INVOICE", object_id=INVOICE_CODE, start_date=now.date(), end_date=now.date()
    )
    yesterday = (now - timedelta(days=1)).date()
    earlier = await client.list_payments(
        object_type="MERCHANT", object_id=CLIENT_ID, start_date=yesterday, end_date=yesterday
    )
    page_two = await client.list_payments(
        object_type="MERCHANT",
        object_id=CLIENT_ID,
        start_date=now.date(),
        end_date=now.date(),
        page_number=2,
        page_limit=1,
    )

    assert merchant.count == 2
    assert {row.payment_id for row in merchant.rows} == {first, second}
    assert all(row.status == "PAID" and row.object_type == "INVOICE" for row in merchant.rows)
    assert {row.payment_id for row in by_code.rows} == {first, second}
    assert (earlier.count, earlier.rows) == (0, ())
    assert page_two.count == 2
    assert len(page_two.rows) == 1


@pytest.mark.asyncio
async def test_page_limit_over_100_is_refused_by_client_and_simulator(
    client: QPayClient, sim: RunningSimulator
) -> None:
    today = datetime.now(UTC).date()
    with pytest.raises(QPayRequestInvalid):
        await client.list_payments(
            object_type="MERCHANT", object_id=CLIENT_ID, start_date=today, end_date=today, page_limit=101
        )

    body = {
        "object_type": "MERCHANT",
        "object_id": CLIENT_ID,
        "start_date": today.isoformat(),
        "end_date": today.isoformat(),
        "offset": {"page_number": 1, "page_limit": 101},
    }
    status, raw = await raw_qpay(sim, "POST", "/payment/list", body)

    assert status == 400
    assert "offset.page_limit" in error_from_response(status, raw).field_errors


# --- refunds --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_bank_transfer_cannot_be_refunded_or_cancelled(client: QPayClient, control: SimulatorControl) -> None:
    _, payment_id = await paid_invoice(client, control, payment_type="P2P")

    with pytest.raises(QPayValidationError) as refund:
        await client.refund_payment(payment_id)
    with pytest.raises(QPayValidationError) as cancel:
        await client.cancel_payment(payment_id)

    assert refund.value.code == cancel.value.code == "PAYMENT_SETTLED"
    assert (await client.get_payment(payment_id)).status == "PAID"


@pytest.mark.asyncio
async def test_card_payment_refund_marks_it_refunded(client: QPayClient, control: SimulatorControl) -> None:
    invoice, payment_id = await paid_invoice(client, control, payment_type="CARD")

    await client.refund_payment(payment_id, callback_url="http://127.0.0.1:9/refund", note="return")

    payment = await client.get_payment(payment_id)
    assert (payment.status, payment.payment_type) == ("REFUNDED", "CARD")
    assert (await client.check_payment(invoice.invoice_id)).paid_amount == Decimal(0)
    with pytest.raises(QPayValidationError) as again:
        await client.refund_payment(payment_id)
    assert again.value.code == "PAYMENT_ALREADY_CANCELED"


@pytest.mark.asyncio
async def test_card_payment_cancel_marks_it_refunded(client: QPayClient, control: SimulatorControl) -> None:
    _, payment_id = await paid_invoice(client, control, payment_type="CARD")

    await client.cancel_payment(payment_id)

    assert (await client.get_payment(payment_id)).status == "REFUNDED"


# --- faults ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_server_fault_raises_server_error_with_the_html_page(
    client: QPayClient, control: SimulatorControl
) -> None:
    invoice = await client.create_invoice(invoice_request())
    await control.set_faults(fail={"invoice_get": 500})

    with pytest.raises(QPayServerError) as raised:
        await client.get_invoice(invoice.invoice_id)

    assert (raised.value.status, raised.value.code) == (500, "HTTP_500")
    assert "500 Internal Server Error" in raised.value.message
    await control.clear_faults()
    assert (await client.get_invoice(invoice.invoice_id)).status == "OPEN"


@pytest.mark.asyncio
async def test_counted_fault_fails_only_that_many_calls(client: QPayClient, control: SimulatorControl) -> None:
    invoice = await client.create_invoice(invoice_request())
    await control.set_faults(fail={"invoice_get": {"status": 503, "times": 1}})

    with pytest.raises(QPayServerError):
        await client.get_invoice(invoice.invoice_id)
    info = await client.get_invoice(invoice.invoice_id)

    assert info.status == "OPEN"
    assert (await control.faults())["fail"] == {}


@pytest.mark.asyncio
async def test_not_found_fault_on_payment_check_raises_not_found(client: QPayClient, control: SimulatorControl) -> None:
    invoice = await client.create_invoice(invoice_request())
    await control.set_faults(fail={"payment_check": 422})

    with pytest.raises(QPayNotFound) as raised:
        await client.check_payment(invoice.invoice_id)

    assert raised.value.code == "INVOICE_NOTFOUND"


@pytest.mark.asyncio
async def test_token_fault_surfaces_as_server_error(sim: RunningSimulator, control: SimulatorControl) -> None:
    await control.set_faults(fail={"token": 502})

    async with QPayClient(sim.base_url, CLIENT_ID, CLIENT_SECRET) as qpay:
        with pytest.raises(QPayServerError) as raised:
            await qpay.create_invoice(invoice_request())

    assert raised.value.status == 502


@pytest.mark.asyncio
async def test_invalid_fault_switch_is_rejected_and_changes_nothing(control: SimulatorControl) -> None:
    with pytest.raises(aiohttp.ClientResponseError) as refused:
        await control.set_faults(callback="drop", fail={"no_such_endpoint": 500})

    assert refused.value.status == 400
    assert await control.faults() == {"callback": "normal", "callback_delay": 0.0, "fail": {}, "delay": {}}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "delay",
    [{"no_such_endpoint": 1}, {"invoice_create": -1}, {"invoice_create": "soon"}, {"invoice_create": True}, [1]],
)
async def test_invalid_delay_switch_is_rejected_and_changes_nothing(control: SimulatorControl, delay: Any) -> None:
    await control.set_faults(delay={"invoice_get": 0.5})

    with pytest.raises(aiohttp.ClientResponseError) as refused:
        await control.set_faults(callback="drop", delay=delay)

    assert refused.value.status == 400
    assert await control.faults() == {
        "callback": "normal",
        "callback_delay": 0.0,
        "fail": {},
        "delay": {"invoice_get": 0.5},
    }


@pytest.mark.asyncio
async def test_delayed_invoice_answer_times_out_the_client_after_the_invoice_was_created(
    sim: RunningSimulator, control: SimulatorControl
) -> None:
    await control.set_faults(delay={"invoice_create": 1.0})
    request = invoice_request("http://127.0.0.1:9/cb?session_id=s-1")

    async with QPayClient(sim.base_url, CLIENT_ID, CLIENT_SECRET, timeout=0.5) as qpay:
        with pytest.raises(QPayUnavailable):
            await qpay.create_invoice(request)

    created = await control.invoice_numbered(request.sender_invoice_no)
    assert created is not None
    assert (created["invoice_status"], created["callback_url"]) == ("OPEN", request.callback_url)
    assert sim.state.requests["invoice_create"] == 1


@pytest.mark.asyncio
async def test_a_delayed_answer_within_the_client_timeout_arrives_and_clearing_faults_ends_the_delay(
    client: QPayClient, control: SimulatorControl
) -> None:
    await control.set_faults(delay={"invoice_create": 0.2})
    assert (await control.faults())["delay"] == {"invoice_create": 0.2}
    invoice = await client.create_invoice(invoice_request())  # answers late, within the client's timeout

    assert (await client.get_invoice(invoice.invoice_id)).status == "OPEN"
    assert (await control.clear_faults())["delay"] == {}
    assert await control.invoice_numbered("no-such-number") is None


@pytest.mark.asyncio
async def test_unreachable_qpay_raises_unavailable(refused_port: int) -> None:
    async with QPayClient(f"http://127.0.0.1:{refused_port}/v2", CLIENT_ID, CLIENT_SECRET, timeout=2) as qpay:
        with pytest.raises(QPayUnavailable) as raised:
            await qpay.get_invoice("anything")

    assert raised.value.status == 0


@pytest.mark.asyncio
async def test_duplicate_callback_fault_sends_the_callback_twice(
    client: QPayClient, control: SimulatorControl, receiver: CallbackReceiver
) -> None:
    invoice = await client.create_invoice(invoice_request(f"{receiver.url}/cb"))
    await control.set_faults(callback="duplicate")

    paid = await control.pay(invoice.invoice_id)

    expected = ("/cb", {"qpay_payment_id": paid["payment_id"]})
    assert receiver.calls == [expected, expected]
    assert paid["callback_status"] == 200


@pytest.mark.asyncio
async def test_dropped_callback_fault_sends_nothing_but_the_payment_exists(
    client: QPayClient, control: SimulatorControl, receiver: CallbackReceiver
) -> None:
    invoice = await client.create_invoice(invoice_request(f"{receiver.url}/cb"))
    await control.set_faults(callback="drop")

    paid = await control.pay(invoice.invoice_id)

    assert paid["callback_status"] is None
    assert receiver.calls == []
    assert (await control.invoice(invoice.invoice_id))["callbacks"] == []
    check = await client.check_payment(invoice.invoice_id)
    assert [row.payment_id for row in check.rows] == [paid["payment_id"]]


@pytest.mark.asyncio
async def test_delayed_callback_arrives_after_pay_returns(
    client: QPayClient, control: SimulatorControl, receiver: CallbackReceiver
) -> None:
    invoice = await client.create_invoice(invoice_request(f"{receiver.url}/cb"))
    await control.set_faults(callback_delay=0.3)

    paid = await control.pay(invoice.invoice_id)

    assert paid["callback_status"] is None
    assert receiver.calls == []
    await receiver.wait_for_calls(1)
    assert receiver.calls == [("/cb", {"qpay_payment_id": paid["payment_id"]})]
    attempts = (await control.invoice(invoice.invoice_id))["callbacks"]
    assert [attempt["status"] for attempt in attempts] == [200]
