"""The `/_sim/...` endpoints that tests and demos use to act as the payer and the chaos.

Nothing here exists in real QPay.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from paygrant.qpay_sim.callbacks import SENDER_KEY
from paygrant.qpay_sim.faults import Faults
from paygrant.qpay_sim.parsing import parse_amount, read_json_object
from paygrant.qpay_sim.render import invoice_json, payment_json
from paygrant.qpay_sim.responses import QPayReject, json_response
from paygrant.qpay_sim.state import PAYMENT_STATUSES, PAYMENT_TYPES, STATE_KEY

RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _answers_rejects(handler: RouteHandler) -> RouteHandler:
    @functools.wraps(handler)
    async def endpoint(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except QPayReject as reject:
            return reject.response()

    return endpoint


async def health(request: web.Request) -> web.StreamResponse:
    """`GET /_sim/health`: alive, with counts and calls per endpoint."""
    state = request.app[STATE_KEY]
    return json_response(
        {
            "status": "ok",
            "invoices": len(state.invoices),
            "payments": len(state.payments),
            "requests": dict(state.requests),
        }
    )


async def reset(request: web.Request) -> web.StreamResponse:
    """`POST /_sim/reset`: forget every token, invoice, payment and fault."""
    request.app[STATE_KEY].reset()
    return json_response({"status": "reset"})


async def find_invoices(request: web.Request) -> web.StreamResponse:
    """`GET /_sim/invoices?sender_invoice_no=…`: the invoices with that number (none or one, as QPay
    refuses a number twice); what a payer's bank app shows of an invoice the merchant never heard back about."""
    state = request.app[STATE_KEY]
    number = request.query.get("sender_invoice_no", "")
    invoice_id = state.invoice_by_sender_no.get(number)
    found = [] if invoice_id is None else [state.invoices[invoice_id]]
    return json_response({"invoices": [invoice_json(invoice) for invoice in found]})


@_answers_rejects
async def show_invoice(request: web.Request) -> web.StreamResponse:
    """`GET /_sim/invoices/{id}`: the invoice, its payments and the callbacks sent."""
    state = request.app[STATE_KEY]
    invoice = state.invoices.get(request.match_info["invoice_id"])
    if invoice is None:
        raise QPayReject(404, "INVOICE_NOTFOUND", "invoice not found")
    return json_response(
        {
            "invoice": invoice_json(invoice),
            "payments": [payment_json(p) for p in invoice.payments],
            "callbacks": [attempt.to_json() for attempt in invoice.callbacks],
        }
    )


@_answers_rejects
async def pay_invoice(request: web.Request) -> web.StreamResponse:
    """`POST /_sim/invoices/{id}/pay` `{amount?, payment_type?, status?, even_if_cancelled?}`:
    act as the payer, record the payment and send the callback as the faults say.

    A cancelled invoice cannot be paid, unless `even_if_cancelled` is true: money that reached
    QPay for the invoice as it was being cancelled (a transfer already under way)."""
    state = request.app[STATE_KEY]
    invoice = state.invoices.get(request.match_info["invoice_id"])
    if invoice is None:
        raise QPayReject(404, "INVOICE_NOTFOUND", "invoice not found")
    body = await read_json_object(request)
    if invoice.status == "CANCELLED" and body.get("even_if_cancelled") is not True:
        raise QPayReject(409, "INVOICE_CANCELLED", "a cancelled invoice cannot be paid")
    raw_amount = body.get("amount")
    amount = invoice.amount if raw_amount is None else parse_amount(raw_amount)
    if amount is None or amount <= 0:
        raise QPayReject(400, "INVALID_AMOUNT", "amount must be a positive number")
    payment_type = body.get("payment_type", "P2P")
    if payment_type not in PAYMENT_TYPES:
        raise QPayReject(400, "INVALID_PAYMENT_TYPE", f"payment_type: {sorted(PAYMENT_TYPES)}")
    status = body.get("status", "PAID")
    if status not in PAYMENT_STATUSES:
        raise QPayReject(400, "INVALID_STATUS", f"status: {sorted(PAYMENT_STATUSES)}")
    payment = state.add_payment(invoice, amount=amount, payment_type=payment_type, status=status)
    callback_status = await request.app[SENDER_KEY].announce(invoice, payment)
    return json_response(
        {
            "payment_id": payment.payment_id,
            "invoice_id": invoice.invoice_id,
            "invoice_status": invoice.status,
            "payment_status": payment.status,
            "callback_status": callback_status,
        }
    )


async def show_faults(request: web.Request) -> web.StreamResponse:
    """`GET /_sim/faults`."""
    return json_response(request.app[STATE_KEY].faults.to_json())


@_answers_rejects
async def set_faults(request: web.Request) -> web.StreamResponse:
    """`POST /_sim/faults` `{callback?, callback_delay?, fail?, delay?}`: switch faults on (faults.py)."""
    faults = request.app[STATE_KEY].faults
    body = await read_json_object(request)
    try:
        faults.update(body)
    except ValueError as exc:
        raise QPayReject(400, "INVALID_FAULTS", str(exc)) from exc
    return json_response(faults.to_json())


async def clear_faults(request: web.Request) -> web.StreamResponse:
    """`DELETE /_sim/faults`: back to normal behaviour."""
    state = request.app[STATE_KEY]
    state.faults = Faults()
    return json_response(state.faults.to_json())


@_answers_rejects
async def revoke_tokens(request: web.Request) -> web.StreamResponse:
    """`POST /_sim/tokens/revoke` `{refresh?: bool}`: end tokens before their expiry,
    as QPay may; API calls then answer 401 (and refreshes too, with refresh=true)."""
    body = await read_json_object(request)
    refresh = body.get("refresh", False) is True
    request.app[STATE_KEY].revoke_tokens(refresh=refresh)
    return json_response({"revoked": True, "refresh_revoked": refresh})


def add_routes(app: web.Application, prefix: str = "/_sim") -> None:
    """Mount the control endpoints under `prefix`."""
    app.router.add_routes(
        [
            web.get(f"{prefix}/health", health),
            web.post(f"{prefix}/reset", reset),
            web.get(f"{prefix}/invoices", find_invoices),
            web.get(f"{prefix}/invoices/{{invoice_id}}", show_invoice),
            web.post(f"{prefix}/invoices/{{invoice_id}}/pay", pay_invoice),
            web.get(f"{prefix}/faults", show_faults),
            web.post(f"{prefix}/faults", set_faults),
            web.delete(f"{prefix}/faults", clear_faults),
            web.post(f"{prefix}/tokens/revoke", revoke_tokens),
        ]
    )
