"""Payments: what QPay confirmed, and the rules a payment must meet to be recorded."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from payment_service.domain.errors import InvalidTransition, PaymentServiceError
from payment_service.domain.money import to_major

if TYPE_CHECKING:  # the session records payments, so it imports this module
    from payment_service.domain.checkout import CheckoutSession


class PaymentStatus(enum.StrEnum):
    """PAID -> REFUNDED."""

    PAID = "PAID"
    REFUNDED = "REFUNDED"


class PaymentRejected(PaymentServiceError):
    """QPay's report of a payment does not confirm the session: it grants nothing."""


@dataclass(frozen=True)
class ReportedPayment:
    """A payment as the provider (QPay) reports it, in the terms the rules need."""

    qpay_payment_id: str
    invoice_id: str
    status: str
    amount: Decimal
    currency: str
    paid_at: dt.datetime | None = None


@dataclass(eq=False, kw_only=True)
class Payment:
    """A confirmed payment of a session. Mapped onto `payments` by the ORM adapter."""

    id: str
    qpay_payment_id: str | None
    session_id: str
    user_id: str
    amount: int
    currency: str
    paid_at: dt.datetime
    status: PaymentStatus = PaymentStatus.PAID
    refunded_at: dt.datetime | None = None

    def refund(self, at: dt.datetime) -> None:
        """Marks the money returned; a payment is refunded at most once."""
        if self.status is PaymentStatus.REFUNDED:
            raise InvalidTransition(f"payment {self.id} is already refunded")
        self.status = PaymentStatus.REFUNDED
        self.refunded_at = at


def ensure_pays(payment: Payment, session: CheckoutSession) -> Payment:
    """`payment` when it was recorded for `session`; else PaymentRejected (a payment pays one session only)."""
    if payment.session_id != session.id:
        raise PaymentRejected(
            f"payment {payment.qpay_payment_id} is not for the invoice of session {session.id}", "qpay_payment_id"
        )
    return payment


def confirm(session: CheckoutSession, reported: ReportedPayment) -> None:
    """Raises PaymentRejected unless QPay's report proves the session was paid in full."""
    if session.invoice is None or reported.invoice_id != session.invoice.invoice_id:
        raise PaymentRejected(f"payment {reported.qpay_payment_id} is not for the invoice of session {session.id}")
    if reported.status != PaymentStatus.PAID:
        raise PaymentRejected(f"payment {reported.qpay_payment_id} is {reported.status}, not PAID")
    if reported.currency != session.currency:
        raise PaymentRejected(f"payment {reported.qpay_payment_id} is in {reported.currency}, not {session.currency}")
    due = to_major(session.amount, session.currency)
    if reported.amount < due:
        raise PaymentRejected(f"payment {reported.qpay_payment_id} of {reported.amount} does not cover {due}")
