"""QPay error bodies become typed errors, without any I/O."""

from __future__ import annotations

import json

import pytest

from payment_service.adapters.qpay.errors import (
    QPayConflict,
    QPayError,
    QPayForbidden,
    QPayNotFound,
    QPayServerError,
    QPayUnauthorized,
    QPayUnavailable,
    QPayValidationError,
    error_from_response,
)
from payment_service.domain.errors import PaymentServiceError


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, QPayValidationError),
        (401, QPayUnauthorized),
        (403, QPayForbidden),
        (409, QPayConflict),
        (422, QPayNotFound),
        (500, QPayServerError),
        (503, QPayServerError),
    ],
)
def test_status_selects_the_error_class(status: int, expected: type[QPayError]) -> None:
    body = json.dumps({"error": "SOME_CODE", "message": "something went wrong"})

    error = error_from_response(status, body)

    assert type(error) is expected
    assert (error.status, error.code, error.message) == (status, "SOME_CODE", "something went wrong")
    assert error.field_errors == {}


def test_qpay_not_found_answer_422_keeps_its_code() -> None:
    error = error_from_response(422, b'{"error":"INVOICE_NOTFOUND","message":"Invoice not found"}')

    assert isinstance(error, QPayNotFound)
    assert error.code == "INVOICE_NOTFOUND"
    assert "INVOICE_NOTFOUND" in str(error)


def test_field_error_object_becomes_field_errors() -> None:
    body = {
        "error": {
            "sender_invoice_no": {"type": "string.max", "message": "too long"},
            "amount": {"type": "any.required"},
        },
        "message": "Validation failed",
    }

    error = error_from_response(400, json.dumps(body).encode())

    assert isinstance(error, QPayValidationError)
    assert error.code == "INVALID_FIELDS"
    assert error.message == "Validation failed"
    assert error.field_errors == {"sender_invoice_no": "too long", "amount": "any.required"}


def test_field_errors_without_message_are_summarised_in_the_message() -> None:
    body = {"error": {"amount": {"type": "number.positive", "message": "must be positive"}}}

    error = error_from_response(400, json.dumps(body))

    assert error.message == "amount: must be positive"


def test_non_json_server_error_page_becomes_server_error_with_a_snippet() -> None:
    page = b"<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>"

    error = error_from_response(502, page)

    assert isinstance(error, QPayServerError)
    assert error.status == 502
    assert error.code == "HTTP_502"
    assert "502 Bad Gateway" in error.message
    assert "\n" not in error.message


def test_empty_body_falls_back_to_the_http_status_code() -> None:
    error = error_from_response(500, b"")

    assert isinstance(error, QPayServerError)
    assert (error.code, error.message) == ("HTTP_500", "HTTP_500")


def test_json_without_error_key_uses_the_status_as_code() -> None:
    error = error_from_response(409, '{"message": "duplicate"}')

    assert isinstance(error, QPayConflict)
    assert (error.code, error.message) == ("HTTP_409", "duplicate")


def test_error_code_key_is_read_like_error() -> None:
    error = error_from_response(401, '{"error_code": "AUTHENTICATION_FAILED", "message": "bad"}')

    assert isinstance(error, QPayUnauthorized)
    assert error.code == "AUTHENTICATION_FAILED"


def test_unmapped_client_status_is_a_plain_qpay_error() -> None:
    error = error_from_response(429, '{"error": "TOO_MANY_REQUESTS"}')

    assert type(error) is QPayError
    assert (error.status, error.code, error.message) == (429, "TOO_MANY_REQUESTS", "TOO_MANY_REQUESTS")


def test_json_array_body_is_treated_as_unreadable_text() -> None:
    error = error_from_response(400, "[1, 2]")

    assert isinstance(error, QPayValidationError)
    assert (error.code, error.message) == ("HTTP_400", "[1, 2]")


def test_invalid_utf8_body_does_not_raise_while_mapping() -> None:
    error = error_from_response(500, b"\xff\xfe broken")

    assert isinstance(error, QPayServerError)
    assert "broken" in error.message


def test_unavailable_has_status_zero_and_is_a_qpay_error_outside_the_service_hierarchy() -> None:
    error = QPayUnavailable("connection refused")

    assert isinstance(error, QPayError)
    assert not isinstance(error, PaymentServiceError), "QPay errors are translated at the adapter, never raised past it"
    assert (error.status, error.code, error.message) == (0, "UNAVAILABLE", "connection refused")
