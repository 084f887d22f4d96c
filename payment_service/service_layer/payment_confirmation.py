"""Recording payments: from QPay's callback or an "I have paid" check, never on trust.

Every path asks QPay for the payment, checks it against the session (domain.payment.confirm),
then records payment, session and PaymentCompleted outbox row in one transaction.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import uuid

from paygrant.db import utcnow
from payment_service.adapters.qpay.client import QPayClient
from payment_service.adapters.qpay.errors import QPayError, QPayNotFound, qpay_failure
from payment_service.domain.checkout import CheckoutSession
from payment_service.domain.errors import AlreadyRecorded, Forbidden, InvalidRequest, NotFound
from payment_service.domain.events import payment_completed
from payment_service.domain.money import to_minor
from payment_service.domain.payment import Payment, PaymentRejected, PaymentStatus, ReportedPayment, confirm
from payment_service.service_layer.checkout import hash_secret, load_checkout
from payment_service.service_layer.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)


class PaymentConfirmation:
    """Turns QPay's word that a session's invoice was paid into a recorded payment."""

    def __init__(self, uow_factory: UnitOfWorkFactory, qpay: QPayClient, min_check_interval: dt.timedelta) -> None:
        self._uow_factory = uow_factory
        self._qpay = qpay
        self._min_check_interval = min_check_interval

    async def on_callback(self, session_id: str, secret: str, qpay_payment_id: str) -> Payment:
        """Handles QPay's unsigned callback: the secret first, then QPay is asked."""
        for field, value in (("session_id", session_id), ("secret", secret), ("qpay_payment_id", qpay_payment_id)):
            if not value:
                raise InvalidRequest(field, "is required")
        session = await load_checkout(self._uow_factory, session_id)
        if not hmac.compare_digest(session.callback_secret_hash, hash_secret(secret)):
            raise Forbidden("the callback secret does not match the session", "secret")
        return await self._confirm(session, qpay_payment_id)

    async def check(self, session_id: str) -> CheckoutSession:
        """Asks QPay for the invoice's payments and records any that pays the session.

        QPay forbids tight polling, so a session is checked at most once per `min_check_interval`
        (across all replicas); a call inside the interval answers from the database.
        """
        session = await load_checkout(self._uow_factory, session_id)
        if session.invoice is not None and session.payment_id is None and await self._may_ask_qpay(session_id):
            try:
                found = await self._qpay.check_payment(session.invoice.invoice_id)
            except QPayError as error:
                raise qpay_failure("check the invoice", error) from error
            for row in found.rows:
                if row.status == PaymentStatus.PAID:
                    try:
                        await self._confirm(session, row.payment_id)
                    except PaymentRejected as rejected:
                        log.warning("session %s: %s", session.id, rejected)
        return await load_checkout(self._uow_factory, session_id)

    async def _may_ask_qpay(self, session_id: str) -> bool:
        async with self._uow_factory() as uow:
            claimed = await uow.checkouts.claim_provider_check(session_id, utcnow(), self._min_check_interval)
            await uow.commit()
        return claimed

    async def _confirm(self, session: CheckoutSession, qpay_payment_id: str) -> Payment:
        async with self._uow_factory() as uow:
            known = await uow.payments.by_qpay_id(qpay_payment_id)
        if known is not None:
            return known
        reported = await self._ask_qpay(qpay_payment_id)
        confirm(session, reported)
        try:
            return await self._record(session.id, reported)
        except AlreadyRecorded:
            # A concurrent duplicate callback recorded it first: nothing more to do.
            async with self._uow_factory() as uow:
                winner = await uow.payments.by_qpay_id(qpay_payment_id)
            if winner is None:
                raise
            return winner

    async def _ask_qpay(self, qpay_payment_id: str) -> ReportedPayment:
        try:
            payment = await self._qpay.get_payment(qpay_payment_id)
        except QPayNotFound as error:
            raise PaymentRejected(f"QPay knows no payment {qpay_payment_id}", "qpay_payment_id") from error
        except QPayError as error:
            raise qpay_failure(f"report payment {qpay_payment_id}", error) from error
        return ReportedPayment(
            qpay_payment_id=payment.payment_id,
            invoice_id=payment.object_id,
            status=payment.status,
            amount=payment.amount,
            currency=payment.currency,
        )

    async def _record(self, session_id: str, reported: ReportedPayment) -> Payment:
        """Payment, paid session and outbox row: one transaction, so none exists without the others."""
        async with self._uow_factory() as uow:
            session = await uow.checkouts.get(session_id, for_update=True)
            assert session is not None
            now = utcnow()
            payment = Payment(
                id=str(uuid.uuid4()),
                qpay_payment_id=reported.qpay_payment_id,
                session_id=session.id,
                user_id=session.user_id,
                amount=to_minor(reported.amount, session.currency),
                currency=session.currency,
                paid_at=now,
            )
            uow.payments.add(payment)
            session.mark_paid(payment.id, now)
            uow.outbox.add(payment_completed(session, payment), now)
            await uow.commit()
        log.info("session %s paid by QPay payment %s (payment %s)", session_id, reported.qpay_payment_id, payment.id)
        return payment


async def get_payment(payment_id: str, uow_factory: UnitOfWorkFactory) -> tuple[Payment, CheckoutSession]:
    """A recorded payment with the session it paid (for its lines)."""
    if not payment_id:
        raise InvalidRequest("payment_id", "is required")
    async with uow_factory() as uow:
        payment = await uow.payments.get(payment_id)
        session = await uow.checkouts.get(payment.session_id) if payment is not None else None
    if payment is None or session is None:
        raise NotFound(f"payment {payment_id} does not exist", "payment_id")
    return payment, session
