"""Recording payments: from the provider's callback or an "I have paid" check, never on trust.

Every path asks the provider for the payment, checks that it is money paid on the session's invoice
(domain.payment.confirm), then lets the session record it (CheckoutSession.record_payment): every such
payment is recorded, and the one that completes the session's amount marks it paid with its
PaymentCompleted, all in one transaction. Short, late, over and duplicate payments are recorded too,
with their outcome and flags; only a completing payment grants.

A payment of an invoice that is not the one the session stored may still be the session's: an invoice
attempt whose answer was lost (checkout.py) opened an invoice the payer could pay. The provider is then
asked for that invoice, and it counts only if QPay opened it with the number of one of the session's
attempts; a session with no invoice yet takes it as its invoice when the payment is recorded.
"""

from __future__ import annotations

import datetime as dt
import logging

from paygrant.db import utcnow
from paygrant.request_id import log_extra
from payment_service.domain.callback import CallbackQuery
from payment_service.domain.checkout import CheckoutSession, ReportedInvoice
from payment_service.domain.errors import AlreadyRecorded, NotFound, UnknownPayment
from payment_service.domain.payment import (
    Payment,
    PaymentRejected,
    PaymentStatus,
    confirm,
    ensure_pays,
)
from payment_service.service_layer.payment_provider import PaymentProvider
from payment_service.service_layer.queries import load_checkout
from payment_service.service_layer.session_cache import NO_SESSION_CACHE, SessionCache
from payment_service.service_layer.session_expiry import current_checkout
from payment_service.service_layer.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)


class PaymentConfirmation:
    """Turns the provider's word that a session's invoice was paid into a recorded payment."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        provider: PaymentProvider,
        min_check_interval: dt.timedelta,
        session_cache: SessionCache = NO_SESSION_CACHE,
    ) -> None:
        self._uow_factory = uow_factory
        self._provider = provider
        self._min_check_interval = min_check_interval
        self._cache = session_cache

    async def on_callback(self, query: CallbackQuery) -> Payment:
        """Handles the unsigned callback: the secret first, then the provider is asked.

        Returns the session's payment of that id; PaymentRejected when the id names no payment of
        this session (even one already recorded for another session).
        """
        session = await load_checkout(self._uow_factory, query.session_id)
        query.verify(session.callback_secret_hashes)
        return await self._confirm(session, query.qpay_payment_id)

    async def check(self, session_id: str) -> CheckoutSession:
        """Asks the provider for the invoice's payments and records any not recorded yet.

        QPay forbids tight polling, so a session is checked at most once per `min_check_interval`
        (across all replicas); a call inside the interval answers from the database. A session with no
        invoice answers from the database too: QPay cannot be asked about an invoice whose id it never
        told us (a payment of it is still recorded when its callback comes).
        """
        session = await load_checkout(self._uow_factory, session_id)
        if session.invoice is not None and session.payment_id is None and await self._may_ask_provider(session_id):
            await self.record_invoice_payments(session)
        return await current_checkout(self._uow_factory, session_id)

    async def record_invoice_payments(self, session: CheckoutSession) -> None:
        """Records every PAID payment the provider lists on the session's invoice that is not recorded yet.

        A payment the rules refuse is logged and skipped; the others are still recorded.
        """
        if session.invoice is None:
            return
        for reported in await self._provider.invoice_payments(session.invoice.invoice_id):
            if reported.status == PaymentStatus.PAID:
                try:
                    await self._confirm(session, reported.qpay_payment_id)
                except PaymentRejected as rejected:
                    log.warning("session %s: %s", session.id, rejected)

    async def _may_ask_provider(self, session_id: str) -> bool:
        async with self._uow_factory() as uow:
            claimed = await uow.checkouts.claim_provider_check(session_id, utcnow(), self._min_check_interval)
            await uow.commit()
        return claimed

    async def _confirm(self, session: CheckoutSession, qpay_payment_id: str) -> Payment:
        async with self._uow_factory() as uow:
            known = await uow.payments.by_qpay_id(qpay_payment_id)
        if known is not None:
            return ensure_pays(known, session)
        try:
            reported = await self._provider.get_payment(qpay_payment_id)
        except UnknownPayment as unknown:
            raise PaymentRejected(str(unknown), "qpay_payment_id") from unknown
        paid_invoice = None
        if session.invoice is None or reported.invoice_id != session.invoice.invoice_id:
            paid_invoice = await self._provider.get_invoice(reported.invoice_id)
        amount = confirm(session, reported, paid_invoice)
        try:
            return await self._record(session.id, qpay_payment_id, amount, paid_invoice)
        except AlreadyRecorded:
            # A concurrent duplicate callback recorded it first: nothing more to do.
            async with self._uow_factory() as uow:
                winner = await uow.payments.by_qpay_id(qpay_payment_id)
            if winner is None:
                raise
            return ensure_pays(winner, session)

    async def _record(
        self, session_id: str, qpay_payment_id: str, amount: int, paid_invoice: ReportedInvoice | None
    ) -> Payment:
        async with self._uow_factory() as uow:
            # Locked: payments of one session add up, and expiry or a cancel must wait for (or precede) this one.
            session = await uow.checkouts.get(session_id, for_update=True)
            if session is None:
                raise NotFound(f"checkout {session_id} does not exist", "session_id")
            if paid_invoice is not None:
                session.adopt_invoice(paid_invoice)
            payment = session.record_payment(qpay_payment_id, amount, utcnow())
            uow.payments.add(payment)
            await uow.commit()
        await self._cache.remember(session)  # write-through: a poller sees PAID at once
        log.info(
            "session %s: QPay payment %s recorded as payment %s (%s%s%s)",
            session_id,
            qpay_payment_id,
            payment.id,
            payment.outcome,
            ", late" if payment.late else "",
            ", overpaid" if payment.overpaid else "",
            extra=log_extra(session.request_id),  # the checkout's, whichever path (callback, check, sweep) got here
        )
        return payment
