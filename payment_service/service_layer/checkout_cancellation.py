"""CancelCheckout: the QPay invoice is cancelled first, then the session.

The order matters. Once QPay has cancelled the invoice nobody can pay it, so a session stored
CANCELLED is one whose money can no longer be taken; the other order would leave a cancelled
session with a payable invoice. QPay unreachable: nothing is written and the caller retries (QPay's
"already cancelled" then counts as done). QPay refusing because the invoice is paid means a payment
we have not recorded yet (its callback lost or on its way): it is recorded now, and the cancel is
refused. A payment that reaches us after the cancel is still recorded, late (CheckoutSession.record_payment).
"""

from __future__ import annotations

import logging

from paygrant.db import utcnow
from payment_service.domain.checkout import CheckoutSession, CheckoutStatus, InvoiceAlreadyPaid
from payment_service.domain.errors import InvalidTransition, NotFound
from payment_service.service_layer.payment_confirmation import PaymentConfirmation
from payment_service.service_layer.payment_provider import PaymentProvider
from payment_service.service_layer.session_cache import NO_SESSION_CACHE, SessionCache
from payment_service.service_layer.session_expiry import current_checkout
from payment_service.service_layer.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)


class CheckoutCancellation:
    """CancelCheckout."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        provider: PaymentProvider,
        confirmation: PaymentConfirmation,
        session_cache: SessionCache = NO_SESSION_CACHE,
    ) -> None:
        self._uow_factory = uow_factory
        self._provider = provider
        self._confirmation = confirmation
        self._cache = session_cache

    async def cancel(self, session_id: str) -> CheckoutSession:
        """The session cancelled (PENDING or EXPIRED -> CANCELLED), or as it is when already cancelled.

        InvalidTransition when it is paid or partly paid (checked before QPay is asked, and again
        under the row lock, since a payment may be recorded meanwhile).
        """
        session = await current_checkout(self._uow_factory, session_id)
        if session.status is CheckoutStatus.CANCELLED:
            return session
        session.ensure_cancellable()
        # A session without an invoice (its attempts unanswered, checkout.py) is cancelled here only: QPay may
        # have opened an invoice for it whose id we never learnt, so that one cannot be cancelled at QPay, and a
        # payment of it is still recorded, late. An attempt still under way finds the session cancelled when
        # it ends, and cancels its invoice at QPay itself.
        if session.invoice is not None:
            await self._cancel_invoice(session, session.invoice.invoice_id)
        async with self._uow_factory() as uow:
            locked = await uow.checkouts.get(session_id, for_update=True)
            if locked is None:
                raise NotFound(f"checkout {session_id} does not exist", "session_id")
            if locked.cancel(utcnow()):
                await uow.commit()
                log.info("session %s cancelled", session_id)
        await self._cache.remember(locked)
        return locked

    async def _cancel_invoice(self, session: CheckoutSession, invoice_id: str) -> None:
        try:
            await self._provider.cancel_invoice(invoice_id)
        except InvoiceAlreadyPaid:
            await self._confirmation.record_invoice_payments(session)
            raise InvalidTransition(
                f"checkout {session.id} was paid: QPay reports its invoice paid", "session_id"
            ) from None
