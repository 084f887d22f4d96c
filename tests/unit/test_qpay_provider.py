"""The QPay adapter's own mistakes are upstream failures (INTERNAL), never the caller's INVALID_ARGUMENT."""

from __future__ import annotations

import datetime as dt

import pytest

from payment_service.adapters.qpay.client import QPayClient
from payment_service.adapters.qpay.errors import QPayRequestInvalid, qpay_failure
from payment_service.adapters.qpay.provider import QPayProvider
from payment_service.domain.errors import InvalidRequest, UpstreamRejected, UpstreamUnavailable
from tests.unit.payment_fakes import a_session


async def test_an_overlong_sender_invoice_no_is_upstream_rejected_not_invalid_request() -> None:
    # Never started: the request is refused before any I/O.
    provider = QPayProvider(QPayClient("http://127.0.0.1:9/v2", "id", "secret"), "INVOICE")

    with pytest.raises(UpstreamRejected, match="sender_invoice_no") as raised:
        await provider.open_invoice(a_session(1_000), "s" * 46, "http://127.0.0.1:9/qpay/callback")

    assert not isinstance(raised.value, InvalidRequest)
    assert raised.value.field is None, "the gateway never sent this field; none is named"


async def test_a_page_limit_the_client_refuses_is_the_adapters_error_not_the_callers() -> None:
    client = QPayClient("http://127.0.0.1:9/v2", "id", "secret")
    today = dt.date.today()

    with pytest.raises(QPayRequestInvalid) as raised:
        await client.list_payments(
            object_type="MERCHANT", object_id="m", start_date=today, end_date=today, page_limit=101
        )

    assert isinstance(qpay_failure("list payments", raised.value), UpstreamRejected)


def test_an_unreachable_qpay_is_upstream_unavailable() -> None:
    from payment_service.adapters.qpay.errors import QPayUnavailable

    assert isinstance(qpay_failure("report a payment", QPayUnavailable("refused")), UpstreamUnavailable)
