"""The HTTP listener QPay calls: GET /qpay/callback?session_id=…&secret=…&qpay_payment_id=…

The callback is unsigned, so it only triggers a check with QPay; a refusal never grants.
`SUCCESS` is answered only for a payment recorded for the called-back session. A database
outage answers 503 (QPay calls again later); anything unexpected answers 500 with an error id.
The callback's query carries the session's secret, so no log line ever holds the query.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from paygrant.db import is_unavailable
from paygrant.failure_log import log_unavailable, log_unexpected
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
    (PaymentRejected, 409),  # QPay's word does not confirm a payment of this session
    (errors.InvalidTransition, 409),
    (errors.UpstreamUnavailable, 502),
)
# How long QPay (or anyone) should wait before calling again while the database is down.
RETRY_AFTER_SECONDS = 5
MAX_LOGGED_SESSION_ID = 64


def create_callback_app(confirmation: PaymentConfirmation) -> web.Application:
    """The aiohttp application serving QPay's callback and a liveness probe."""

    async def callback(request: web.Request) -> web.Response:
        return await _answer_callback(confirmation, request)

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    # aiohttp logs a request it cannot parse (a request line past its limit) with a traceback and
    # the request's text, which holds the callback secret: its server log goes through ListenerLog.
    app = web.Application(handler_args={"logger": ListenerLog(logging.getLogger(f"{__name__}.listener"))})
    app.router.add_get(CALLBACK_PATH, callback)
    app.router.add_get("/healthz", healthz)
    return app


async def _answer_callback(confirmation: PaymentConfirmation, request: web.Request) -> web.Response:
    session_id = request.query.get("session_id", "")[:MAX_LOGGED_SESSION_ID]
    try:
        await confirmation.on_callback(CallbackQuery.parse(request.query))
    except errors.PaymentServiceError as error:
        status = next((code for cls, code in _REFUSALS if isinstance(error, cls)), None)
        if status is None:
            return _internal_error(error)
        log.warning("callback for session %s refused (%d): %s", session_id, status, error)
        return web.Response(status=status, text=f"REFUSED: {error}")
    except Exception as error:
        if is_unavailable(error):
            log_unavailable(f"callback for session {session_id}", error)
            return web.Response(
                status=503,
                text="UNAVAILABLE: the database is unavailable; call again later",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        return _internal_error(error)
    return web.Response(text="SUCCESS")


def _internal_error(error: BaseException) -> web.Response:
    error_id = log_unexpected("callback", error)
    return web.Response(status=500, text=f"ERROR: internal error (error id {error_id})")


class ListenerLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server log for the callback listener: a malformed request becomes one line.

    That line names the HTTP status and the parser's complaint class, never the request's text
    (the query holds the callback secret) and never a traceback; every other record passes as is.
    """

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        """Replaces a record about an unparsable request by one line at most a warning; passes the rest on."""
        error = kwargs.get("exc_info")
        if error is True:
            error = sys.exc_info()[1]
        if isinstance(error, HttpProcessingError):
            self.logger.log(
                min(level, logging.WARNING),
                "callback listener refused a malformed request (%d %s)",
                error.code,
                type(error).__name__,
            )
            return
        super().log(level, msg, *args, **kwargs)
