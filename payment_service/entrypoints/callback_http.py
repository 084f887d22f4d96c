"""The HTTP listener QPay calls: GET /qpay/callback?session_id=…&secret=…&qpay_payment_id=…

The callback is unsigned, so it only triggers a check with QPay; a refusal never grants.
"""

from __future__ import annotations

import logging

from aiohttp import web

from payment_service.domain import errors
from payment_service.domain.callback import CALLBACK_PATH, CallbackQuery
from payment_service.domain.payment import PaymentRejected
from payment_service.service_layer.payment_confirmation import PaymentConfirmation

log = logging.getLogger(__name__)

# Refusals and their HTTP statuses; QPay retries a callback that does not answer SUCCESS.
_REFUSALS: tuple[tuple[type[errors.PaymentServiceError], int], ...] = (
    (errors.InvalidRequest, 400),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (PaymentRejected, 409),
    (errors.UpstreamUnavailable, 502),
)


def create_callback_app(confirmation: PaymentConfirmation) -> web.Application:
    """The aiohttp application serving QPay's callback and a liveness probe."""

    async def callback(request: web.Request) -> web.Response:
        try:
            await confirmation.on_callback(CallbackQuery.parse(request.query))
        except errors.PaymentServiceError as error:
            status = next((code for cls, code in _REFUSALS if isinstance(error, cls)), 500)
            log.warning("callback refused (%d): %s", status, error)
            return web.Response(status=status, text=f"REFUSED: {error}")
        return web.Response(text="SUCCESS")

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get(CALLBACK_PATH, callback)
    app.router.add_get("/healthz", healthz)
    return app
