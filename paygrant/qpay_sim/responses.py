"""HTTP answers in QPay's shapes: JSON with exact amounts, errors, proxy error pages."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from aiohttp import web


class QPayReject(Exception):
    """Raised by a handler to answer a QPay-style error instead of a result."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}

    def response(self) -> web.Response:
        """`{"error": CODE or {field: {type, message}}, "message": ...}`."""
        error: Any = self.code
        if self.fields:
            error = {name: {"type": kind, "message": text} for name, (kind, text) in self.fields.items()}
        return json_response({"error": error, "message": self.message}, status=self.status)


def json_response(data: Any, *, status: int = 200) -> web.Response:
    """A JSON answer; Decimals not already turned into numbers are sent as strings."""
    return web.json_response(data, status=status, dumps=_dumps)


def _dumps(data: Any) -> str:
    return json.dumps(data, default=_encode, ensure_ascii=False)


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def empty_ok() -> web.Response:
    """200 with no body, as QPay answers cancels and refunds."""
    return web.Response(status=200)


def proxy_error_page(status: int) -> web.Response:
    """The HTML a gateway in front of QPay answers when QPay is down."""
    reason = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}.get(
        status, "Internal Server Error"
    )
    body = (
        f"<html><head><title>{status} {reason}</title></head>"
        f"<body><center><h1>{status} {reason}</h1></center><hr><center>nginx</center>"
        "</body></html>"
    )
    return web.Response(status=status, text=body, content_type="text/html")


# What QPay calls the missing object of each endpoint, for 422 faults.
_NOT_FOUND = {
    "invoice_get": "INVOICE_NOTFOUND",
    "invoice_cancel": "INVOICE_NOTFOUND",
    "payment_check": "INVOICE_NOTFOUND",
    "payment_get": "PAYMENT_NOTFOUND",
    "payment_refund": "PAYMENT_NOTFOUND",
    "payment_cancel": "PAYMENT_NOTFOUND",
}


def fault_response(status: int, endpoint: str) -> web.Response:
    """The answer of an endpoint told to fail: a proxy page for 5xx, QPay JSON otherwise."""
    if status >= 500:
        return proxy_error_page(status)
    code = _NOT_FOUND.get(endpoint, "OBJECT_NOTFOUND") if status == 422 else "SIMULATED_FAULT"
    return QPayReject(status, code, f"simulated failure of {endpoint}").response()


def amount_text(amount: Decimal) -> str:
    """An amount as QPay writes it in rows: a string with two decimals."""
    return f"{amount:.2f}"


def amount_number(amount: Decimal) -> int | float:
    """An amount as QPay writes `paid_amount`: a JSON number."""
    if amount == amount.to_integral_value():
        return int(amount)
    return float(amount)
