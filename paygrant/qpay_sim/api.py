"""The QPay v2 merchant endpoints, served under `/v2` like the real API."""

from __future__ import annotations

import asyncio
import base64
import functools
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from paygrant.qpay_sim.parsing import parse_amount, parse_offset, parse_range, read_json_object
from paygrant.qpay_sim.qr import qr_png_base64
from paygrant.qpay_sim.render import (
    check_row,
    deeplinks,
    invoice_json,
    list_row,
    payment_json,
    qr_text,
)
from paygrant.qpay_sim.responses import (
    QPayReject,
    amount_number,
    empty_ok,
    fault_response,
    json_response,
)
from paygrant.qpay_sim.state import STATE_KEY, SimInvoice, SimPayment, SimState

SENDER_INVOICE_NO_MAX = 45
_INVOICE_TEXT_FIELDS = (
    "sender_invoice_no",
    "invoice_receiver_code",
    "invoice_description",
    "callback_url",
)

Handler = Callable[[web.Request, SimState], Awaitable[web.StreamResponse]]
RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def qpay_endpoint(name: str, *, bearer: bool = True) -> Callable[[Handler], RouteHandler]:
    """Count the call, apply its fault switches, check the bearer token, answer rejects."""

    def wrap(handler: Handler) -> RouteHandler:
        @functools.wraps(handler)
        async def endpoint(request: web.Request) -> web.StreamResponse:
            state = request.app[STATE_KEY]
            state.requests[name] += 1
            # Faults come first: a failing gateway answers before QPay checks anything.
            failure = state.faults.take_failure(name)
            if failure is not None:
                return fault_response(failure, name)
            try:
                if bearer:
                    _require_access_token(request, state)
                response = await handler(request, state)
            except QPayReject as reject:
                response = reject.response()
            # The endpoint has acted already: a delay fault holds back only its answer.
            delay = state.faults.answer_delay(name)
            if delay > 0:
                await asyncio.sleep(delay)
            return response

        return endpoint

    return wrap


def _bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _basic_credentials(request: web.Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    client_id, colon, client_secret = decoded.partition(":")
    return (client_id, client_secret) if colon else None


def _require_access_token(request: web.Request, state: SimState) -> None:
    token = _bearer(request)
    if token is None:
        raise QPayReject(401, "NO_CREDENDIALS", "a bearer access token is required")
    if not state.access_valid(token):
        raise QPayReject(401, "AUTHENTICATION_FAILED", "the access token is invalid or expired")


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _invoice(state: SimState, invoice_id: Any) -> SimInvoice:
    invoice = state.invoices.get(invoice_id) if isinstance(invoice_id, str) else None
    if invoice is None:
        raise QPayReject(422, "INVOICE_NOTFOUND", "invoice not found")
    return invoice


def _payment(state: SimState, payment_id: str) -> SimPayment:
    payment = state.payments.get(payment_id)
    if payment is None:
        raise QPayReject(422, "PAYMENT_NOTFOUND", "payment not found")
    return payment


# --- auth -----------------------------------------------------------------------------


@qpay_endpoint("token", bearer=False)
async def issue_token(request: web.Request, state: SimState) -> web.StreamResponse:
    """`POST /auth/token` with HTTP Basic client id and secret."""
    credentials = _basic_credentials(request)
    if credentials is None:
        raise QPayReject(401, "NO_CREDENDIALS", "HTTP Basic credentials are required")
    client_id, client_secret = credentials
    settings = state.settings
    if not (_same(client_id, settings.client_id) and _same(client_secret, settings.client_secret)):
        raise QPayReject(401, "AUTHENTICATION_FAILED", "client id or secret is wrong")
    return json_response(state.issue_tokens())


@qpay_endpoint("refresh", bearer=False)
async def refresh_token(request: web.Request, state: SimState) -> web.StreamResponse:
    """`POST /auth/refresh` with the refresh token as bearer."""
    token = _bearer(request)
    if token is None or not state.refresh_valid(token):
        raise QPayReject(401, "AUTHENTICATION_FAILED", "the refresh token is invalid or expired")
    return json_response(state.issue_tokens())


# --- invoices -------------------------------------------------------------------------


@qpay_endpoint("invoice_create")
async def create_invoice(request: web.Request, state: SimState) -> web.StreamResponse:
    """`POST /invoice`: validate like QPay, then answer the QR and bank deeplinks."""
    body = await read_json_object(request)
    if body.get("invoice_code") != state.settings.invoice_code:
        raise QPayReject(400, "INVOICE_CODE_INVALID", "invoice_code is not this merchant's")
    fields: dict[str, tuple[str, str]] = {}
    for name in _INVOICE_TEXT_FIELDS:
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            fields[name] = ("any.required", f'"{name}" is required')
    sender_invoice_no = body.get("sender_invoice_no")
    if isinstance(sender_invoice_no, str) and len(sender_invoice_no) > SENDER_INVOICE_NO_MAX:
        fields["sender_invoice_no"] = (
            "string.max",
            f'"sender_invoice_no" must be at most {SENDER_INVOICE_NO_MAX} characters',
        )
    if body.get("amount") is None:
        fields["amount"] = ("any.required", '"amount" is required')
    if fields:
        raise QPayReject(400, "INVALID_FIELDS", "the invoice is invalid", fields)
    amount = parse_amount(body["amount"])
    if amount is None or amount <= 0:
        raise QPayReject(400, "INVALID_AMOUNT", "amount must be a positive number")
    if sender_invoice_no in state.invoice_by_sender_no:
        raise QPayReject(409, "INVOICE_ALREADY_EXISTS", "sender_invoice_no is already used")
    invoice = state.add_invoice(
        sender_invoice_no=body["sender_invoice_no"],
        receiver_code=body["invoice_receiver_code"],
        description=body["invoice_description"],
        amount=amount,
        callback_url=body["callback_url"],
    )
    text = qr_text(invoice)
    return json_response(
        {
            "invoice_id": invoice.invoice_id,
            "qr_text": text,
            "qr_image": qr_png_base64(text),
            "qPay_shortUrl": f"{request.url.origin()}/_sim/invoices/{invoice.invoice_id}",
            "urls": deeplinks(text),
        }
    )


@qpay_endpoint("invoice_get")
async def get_invoice(request: web.Request, state: SimState) -> web.StreamResponse:
    """`GET /invoice/{id}`."""
    return json_response(invoice_json(_invoice(state, request.match_info["invoice_id"])))


@qpay_endpoint("invoice_cancel")
async def cancel_invoice(request: web.Request, state: SimState) -> web.StreamResponse:
    """`DELETE /invoice/{id}`: only an OPEN invoice can be cancelled."""
    invoice = _invoice(state, request.match_info["invoice_id"])
    if invoice.status == "PAID":
        raise QPayReject(400, "INVOICE_PAID", "a paid invoice cannot be cancelled")
    if invoice.status == "CANCELLED":
        raise QPayReject(400, "INVOICE_ALREADY_CANCELED", "the invoice is already cancelled")
    invoice.status = "CANCELLED"
    return empty_ok()


# --- payments -------------------------------------------------------------------------


@qpay_endpoint("payment_get")
async def get_payment(request: web.Request, state: SimState) -> web.StreamResponse:
    """`GET /payment/{id}`."""
    return json_response(payment_json(_payment(state, request.match_info["payment_id"])))


@qpay_endpoint("payment_check")
async def check_payment(request: web.Request, state: SimState) -> web.StreamResponse:
    """`POST /payment/check` for one invoice: its payments and the amount paid."""
    body = await read_json_object(request)
    if body.get("object_type") != "INVOICE":
        raise QPayReject(400, "INVALID_OBJECT_TYPE", "object_type must be INVOICE")
    invoice = _invoice(state, body.get("object_id"))
    page_number, page_limit = parse_offset(body)
    first = (page_number - 1) * page_limit
    return json_response(
        {
            "count": len(invoice.payments),
            "paid_amount": amount_number(invoice.paid_amount()),
            "rows": [check_row(p) for p in invoice.payments[first : first + page_limit]],
        }
    )


@qpay_endpoint("payment_list")
async def list_payments(request: web.Request, state: SimState) -> web.StreamResponse:
    """`POST /payment/list`: the merchant's (or one invoice code's) payments in a range."""
    body = await read_json_object(request)
    object_type = body.get("object_type")
    if object_type not in ("MERCHANT", "INVOICE"):
        raise QPayReject(400, "INVALID_OBJECT_TYPE", "object_type must be MERCHANT or INVOICE")
    # With INVOICE the object is the invoice *code*; every invoice here shares the one code.
    if object_type == "INVOICE" and body.get("object_id") != state.settings.invoice_code:
        raise QPayReject(400, "INVOICE_CODE_INVALID", "object_id must be the invoice code")
    start, end = parse_range(body)
    page_number, page_limit = parse_offset(body)
    matching = sorted(
        (p for p in state.payments.values() if start <= p.paid_at < end),
        key=lambda p: (p.paid_at, p.payment_id),
    )
    first = (page_number - 1) * page_limit
    rows = [list_row(p, state.invoices[p.invoice_id]) for p in matching[first : first + page_limit]]
    return json_response({"count": len(matching), "rows": rows})


def _return_money(state: SimState, payment_id: str) -> None:
    payment = _payment(state, payment_id)
    # Bank transfers settle at once; only card payments can be reversed through QPay.
    if payment.payment_type != "CARD":
        raise QPayReject(400, "PAYMENT_SETTLED", "only card payments can be returned")
    if payment.status == "REFUNDED":
        raise QPayReject(400, "PAYMENT_ALREADY_CANCELED", "the payment is already returned")
    if payment.status != "PAID":
        raise QPayReject(400, "PAYMENT_NOT_PAID", "the payment is not paid")
    # QPay's statuses have no CANCELLED for payments: money returned is REFUNDED.
    payment.status = "REFUNDED"


@qpay_endpoint("payment_refund")
async def refund_payment(request: web.Request, state: SimState) -> web.StreamResponse:
    """`DELETE /payment/refund/{id}`."""
    _return_money(state, request.match_info["payment_id"])
    return empty_ok()


@qpay_endpoint("payment_cancel")
async def cancel_payment(request: web.Request, state: SimState) -> web.StreamResponse:
    """`DELETE /payment/cancel/{id}`."""
    _return_money(state, request.match_info["payment_id"])
    return empty_ok()


def add_routes(app: web.Application, prefix: str = "/v2") -> None:
    """Mount the QPay endpoints under `prefix`."""
    app.router.add_routes(
        [
            web.post(f"{prefix}/auth/token", issue_token),
            web.post(f"{prefix}/auth/refresh", refresh_token),
            web.post(f"{prefix}/invoice", create_invoice),
            web.get(f"{prefix}/invoice/{{invoice_id}}", get_invoice),
            web.delete(f"{prefix}/invoice/{{invoice_id}}", cancel_invoice),
            web.post(f"{prefix}/payment/check", check_payment),
            web.post(f"{prefix}/payment/list", list_payments),
            web.get(f"{prefix}/payment/{{payment_id}}", get_payment),
            web.delete(f"{prefix}/payment/refund/{{payment_id}}", refund_payment),
            web.delete(f"{prefix}/payment/cancel/{{payment_id}}", cancel_payment),
        ]
    )
