"""The QPay callback listener over HTTP: SUCCESS only for this session's payment, and no secret in any log line.

The callback's query carries the session's secret, so every refusal, malformed request, outage and
unexpected failure is checked against the captured log records: no secret, no traceback where none belongs.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web

from paygrant.db import create_engine, session_factory
from payment_service.domain.callback import CALLBACK_PATH
from payment_service.entrypoints.callback_http import create_callback_app
from payment_service.service_layer.payment_confirmation import PaymentConfirmation
from payment_service.service_layer.unit_of_work import UnitOfWork
from tests.integration.payment_harness import CHECK_INTERVAL, PaymentHarness
from tests.unit.payment_fakes import FakePaymentProvider

# aiohttp's limit for a request line or a header line.
PAST_THE_LIMIT = 9000


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record, debug ones too, so a secret cannot hide below the default level."""
    caplog.set_level(logging.DEBUG)
    return caplog


async def _serve(confirmation: PaymentConfirmation) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(create_callback_app(confirmation), access_log=None)  # as the payment service runs it
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def listener(harness: PaymentHarness) -> AsyncIterator[str]:
    """The base URL of a callback listener over the harness's use cases."""
    runner, base_url = await _serve(harness.confirmation)
    yield base_url
    await runner.cleanup()


async def _secret_of(harness: PaymentHarness, session_id: str) -> str:
    """The session's callback secret, read from the callback URL checkout gave QPay."""
    invoice = (await harness.checkouts.get(session_id)).invoice
    assert invoice is not None
    callback_url = (await harness.sim.invoice(invoice.invoice_id))["invoice"]["callback_url"]
    [secret] = parse_qs(urlsplit(str(callback_url)).query)["secret"]
    return secret


async def _get(base_url: str, **query: str) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(base_url + CALLBACK_PATH, params=query) as response:
        return response.status, await response.text(), dict(response.headers)


def _assert_logs_hold_no(secret: str, caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        assert secret not in record.getMessage(), f"secret logged by {record.name}: {record.getMessage()[:200]}"
        assert secret[:12] not in record.getMessage(), f"part of the secret logged by {record.name}"


def _assert_no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []


async def test_success_is_answered_only_for_a_payment_recorded_for_this_session(
    harness: PaymentHarness, listener: str, debug_logs: pytest.LogCaptureFixture
) -> None:
    session_a = await harness.new_checkout("key-a", "user-a")
    session_b = await harness.new_checkout("key-b", "user-b")
    paid_b = await harness.pay_silently(session_b)
    secret_a, secret_b = await _secret_of(harness, session_a), await _secret_of(harness, session_b)
    assert (await _get(listener, session_id=session_b, secret=secret_b, qpay_payment_id=paid_b))[:2] == (
        200,
        "SUCCESS",
    )

    status, body, _ = await _get(listener, session_id=session_a, secret=secret_a, qpay_payment_id=paid_b)

    assert status == 409 and body.startswith("REFUSED: qpay_payment_id:") and "not for the invoice" in body
    assert await harness.count("payments") == 1
    _assert_logs_hold_no(secret_a, debug_logs)
    _assert_logs_hold_no(secret_b, debug_logs)


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"secret": "forged-secret-0123456789abcdef", "qpay_payment_id": "qp-1"}, 403),
        ({"secret": "forged-secret-0123456789abcdef"}, 400),
        ({"secret": "forged-secret-0123456789abcdef", "qpay_payment_id": "qp-1", "session_id": "no-such"}, 404),
        ({"secret": "forged-secret-0123456789abcdef", "qpay_payment_id": "qp-1", "session_id": "s\x00-1"}, 400),
        ({"secret": "forged-secret-0123456789abcdef", "qpay_payment_id": "qp-1", "session_id": "s" * 5000}, 400),
        ({"secret": "forged-secret-0123456789abcdef\r\nforged line", "qpay_payment_id": "qp-1"}, 400),
    ],
    ids=["wrong-secret", "missing-payment-id", "unknown-session", "nul-in-session-id", "huge-session-id", "crlf"],
)
async def test_a_refusal_says_why_and_its_log_line_holds_no_secret(
    harness: PaymentHarness,
    listener: str,
    debug_logs: pytest.LogCaptureFixture,
    query: dict[str, str],
    status: int,
) -> None:
    session_id = await harness.new_checkout()

    answer = await _get(listener, **({"session_id": session_id} | query))

    assert answer[0] == status and answer[1].startswith("REFUSED: ")
    assert [r.getMessage() for r in debug_logs.records if "refused" in r.getMessage()], "the refusal is logged"
    _assert_logs_hold_no(query["secret"], debug_logs)
    _assert_no_tracebacks(debug_logs)


async def _raw_request(base_url: str, request: bytes) -> bytes:
    """Sends bytes as they are (no client would send them) and reads the answer until the server closes."""
    host, port = urlsplit(base_url).hostname, urlsplit(base_url).port
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(10):
            return await reader.read()
    finally:
        writer.close()


def _callback_request(secret: str, pad_query: int = 0, pad_header: int = 0) -> bytes:
    query = f"session_id=s-1&secret={secret}&qpay_payment_id=qp-1" + ("&pad=" + "x" * pad_query if pad_query else "")
    header = f"X-Padding: {'h' * pad_header}\r\n" if pad_header else ""
    return f"GET {CALLBACK_PATH}?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n{header}\r\n".encode()


@pytest.mark.parametrize(
    "oversized", [{"pad_query": PAST_THE_LIMIT}, {"pad_header": PAST_THE_LIMIT}], ids=["request-line", "header"]
)
async def test_a_request_past_the_listeners_limit_answers_400_without_traceback_or_secret(
    harness: PaymentHarness, listener: str, debug_logs: pytest.LogCaptureFixture, oversized: dict[str, int]
) -> None:
    secret = await _secret_of(harness, await harness.new_checkout())

    answer = await _raw_request(listener, _callback_request(secret, **oversized))

    assert re.match(rb"HTTP/1\.[01] 400 ", answer), answer[:80]
    assert [r.getMessage() for r in debug_logs.records if "malformed request" in r.getMessage()], "refusal logged"
    _assert_no_tracebacks(debug_logs)
    _assert_logs_hold_no(secret, debug_logs)


async def test_a_database_outage_answers_503_so_qpay_calls_again(
    refused_port: int, debug_logs: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{refused_port}/payment")
    sessions = session_factory(engine)
    runner, base_url = await _serve(
        PaymentConfirmation(lambda: UnitOfWork(sessions), FakePaymentProvider(), CHECK_INTERVAL)
    )
    secret = "the-session-secret-0123456789"
    try:
        status, body, headers = await _get(base_url, session_id="s-1", secret=secret, qpay_payment_id="qp-1")
    finally:
        await runner.cleanup()
        await engine.dispose()

    assert status == 503 and body.startswith("UNAVAILABLE: ")
    assert "Connect call failed" not in body, "the driver's text stays in the log"
    assert headers["Retry-After"].isdigit()
    _assert_no_tracebacks(debug_logs)
    _assert_logs_hold_no(secret, debug_logs)


async def test_an_unexpected_failure_answers_500_with_an_error_id_that_the_log_line_carries(
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    def broken_unit_of_work() -> UnitOfWork:
        raise RuntimeError("SELECT * FROM checkout_sessions WHERE callback_secret_hash = 'c0ffee'")

    runner, base_url = await _serve(PaymentConfirmation(broken_unit_of_work, FakePaymentProvider(), CHECK_INTERVAL))
    try:
        status, body, _ = await _get(base_url, session_id="s-1", secret="s3cret-value", qpay_payment_id="qp-1")
    finally:
        await runner.cleanup()

    found = re.fullmatch(r"ERROR: internal error \(error id ([0-9a-f]{8})\)", body)
    assert status == 500 and found, body  # and so no SQL, no hash
    [record] = [r for r in debug_logs.records if found.group(1) in r.getMessage()]
    assert record.exc_info is not None, "the traceback is logged, under the id the caller was given"
