"""RefundPayment: the money goes back first (through QPay, or outside it by the operator), then it is recorded.

The order matters as in CheckoutCancellation: a payment stored REFUNDED is one whose money QPay has
returned (or the operator says was returned), so its grant can be revoked; the other order would
revoke on a refund QPay may still refuse. QPay unreachable: nothing is written and the caller retries
with the same key; if QPay had returned the money and only its answer was lost, the retry's "already
refunded" counts as done. The record, the payment's new status and the PaymentRefunded that revokes
its purchases commit together, under the session's row lock, which serializes a refund with the
session's payments.
"""

from __future__ import annotations

import logging

from paygrant.db import utcnow
from payment_service.domain.checkout import CheckoutSession
from payment_service.domain.errors import Conflict, NotFound
from payment_service.domain.payment import Payment, PaymentStatus
from payment_service.domain.refund import RefundRequest
from payment_service.service_layer.payment_provider import PaymentProvider
from payment_service.service_layer.session_cache import NO_SESSION_CACHE, SessionCache
from payment_service.service_layer.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)


class PaymentRefunds:
    """RefundPayment."""

    def __init__(
        self, uow_factory: UnitOfWorkFactory, provider: PaymentProvider, session_cache: SessionCache = NO_SESSION_CACHE
    ) -> None:
        self._uow_factory = uow_factory
        self._provider = provider
        self._cache = session_cache

    async def refund(self, request: RefundRequest) -> tuple[Payment, CheckoutSession]:
        """The payment refunded, with its session.

        The same request again (its idempotency key) answers the refund it made; the key with another
        request is a Conflict. A payment refunded already (under another key) is answered as it is.
        """
        request.validate()
        payment, session = await self._current(request)
        if payment.status is PaymentStatus.REFUNDED:
            return payment, session
        if not request.external and payment.qpay_payment_id is not None:
            await self._provider.refund_payment(payment.qpay_payment_id, note=request.reason)
        async with self._uow_factory() as uow:
            locked = await uow.checkouts.get(session.id, for_update=True)
            current = await uow.payments.get(payment.id)
            if locked is None or current is None:  # payments and sessions are never deleted
                raise NotFound(f"payment {payment.id} does not exist", "payment_id")
            if current.status is PaymentStatus.REFUNDED:
                return current, locked  # a concurrent refund recorded it first
            locked.refund(current, request.record(), utcnow(), await uow.payments.of_session(locked.id))
            await uow.commit()
        await self._cache.remember(locked)
        log.info(
            "payment %s (%s) refunded %s by %s: %s",
            current.id,
            current.outcome,
            "outside QPay" if request.external else "through QPay",
            request.actor,
            request.reason,
        )
        return current, locked

    async def _current(self, request: RefundRequest) -> tuple[Payment, CheckoutSession]:
        """The payment to refund and its session; Conflict when the key was used for another request."""
        async with self._uow_factory() as uow:
            keyed = await uow.payments.by_refund_key(request.idempotency_key)
            payment = keyed or await uow.payments.get(request.payment_id)
            session = await uow.checkouts.get(payment.session_id) if payment is not None else None
        if keyed is not None and (keyed.refund_record is None or not request.is_retry_of(keyed.refund_record)):
            raise Conflict("was already used for a different refund request", "idempotency_key")
        if payment is None or session is None:
            raise NotFound(f"payment {request.payment_id} does not exist", "payment_id")
        return payment, session
