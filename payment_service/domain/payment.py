"""Payments: what QPay confirmed, the rules a report must meet to be recorded, and what recording it did."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from paygrant import contract_rules
from payment_service.domain.errors import InvalidTransition, PaymentServiceError
from payment_service.domain.money import to_minor

if TYPE_CHECKING:  # the session records payments, so it imports this module
    from payment_service.domain.checkout import CheckoutSession, ReportedInvoice
    from payment_service.domain.refund import Refund


class PaymentStatus(enum.StrEnum):
    """PAID -> REFUNDED."""

    PAID = "PAID"
    REFUNDED = "REFUNDED"


class PaymentOutcome(enum.StrEnum):
    """What recording a payment did for its session; decided once, when it is recorded.

    GRANTED: with it the session's payments covered its amount, so the session is paid and a
    PaymentCompleted naming this payment grants the items. SHORT: the session's payments were still
    below its amount; nothing granted (a later payment that covers the rest grants). DUPLICATE: the
    session was already paid by another payment; nothing granted, and its money is due back.
    """

    GRANTED = "GRANTED"
    SHORT = "SHORT"
    DUPLICATE = "DUPLICATE"


class PaymentRejected(PaymentServiceError):
    """QPay's report of a payment does not confirm money paid on the session's invoice: nothing is recorded."""


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
    """A payment recorded for a session, with what recording it did. Mapped onto `payments` by the ORM adapter.

    `late`: recorded after its session had expired or been cancelled (honoured: the money was taken).
    `overpaid`: it brought the session's payments above the session's amount. `refund_due`: its money
    should be returned (a DUPLICATE; a SHORT one whose session's grant was refunded) and it is not
    refunded yet; the flags never change a grant already decided. `refund_record`: who returned its
    money and why, once it is refunded.
    """

    id: str
    qpay_payment_id: str | None
    session_id: str
    user_id: str
    amount: int
    currency: str
    paid_at: dt.datetime
    status: PaymentStatus = PaymentStatus.PAID
    refunded_at: dt.datetime | None = None
    outcome: PaymentOutcome = PaymentOutcome.GRANTED
    late: bool = False
    overpaid: bool = False
    refund_due: bool = False
    refund_record: Refund | None = None

    @property
    def is_paid(self) -> bool:
        """True while its money is held (not refunded)."""
        return self.status is PaymentStatus.PAID

    def refund(self, record: Refund, at: dt.datetime) -> None:
        """Marks the money returned, as `record` says; a payment is refunded at most once (no money is then due)."""
        if self.status is PaymentStatus.REFUNDED:
            raise InvalidTransition(f"payment {self.id} is already refunded", "payment_id")
        self.status = PaymentStatus.REFUNDED
        self.refunded_at = at
        self.refund_record = record
        self.refund_due = False


def ensure_pays(payment: Payment, session: CheckoutSession) -> Payment:
    """`payment` when it was recorded for `session`; else PaymentRejected (a payment pays one session only)."""
    if payment.session_id != session.id:
        raise PaymentRejected(
            f"payment {payment.qpay_payment_id} is not for the invoice of session {session.id}", "qpay_payment_id"
        )
    return payment


def confirm(session: CheckoutSession, reported: ReportedPayment, paid_invoice: ReportedInvoice | None = None) -> int:
    """The amount in minor units QPay's report proves was paid on the session's invoice; else PaymentRejected.

    The session's invoice is the one it stored or, given `paid_invoice` (QPay's report of the invoice
    paid), one QPay opened for any of the session's invoice attempts, by its number: an attempt whose
    answer never arrived still opened an invoice the payer could pay (service_layer/checkout.py).
    Any positive amount is money taken, so it is confirmed whatever it is; whether it covers the
    session (and so grants) is the session's decision when it records the payment.
    """
    stored = session.invoice is not None and reported.invoice_id == session.invoice.invoice_id
    attempted = (
        paid_invoice is not None
        and paid_invoice.invoice_id == reported.invoice_id
        and session.numbers_invoice(paid_invoice.sender_invoice_no)
    )
    if not (stored or attempted):
        raise PaymentRejected(f"payment {reported.qpay_payment_id} is not for the invoice of session {session.id}")
    if reported.status != PaymentStatus.PAID:
        raise PaymentRejected(f"payment {reported.qpay_payment_id} is {reported.status}, not PAID")
    if reported.currency != session.currency:
        raise PaymentRejected(f"payment {reported.qpay_payment_id} is in {reported.currency}, not {session.currency}")
    amount = to_minor(reported.amount, session.currency)
    if amount <= 0 or contract_rules.amount_problem(amount):
        raise PaymentRejected(f"payment {reported.qpay_payment_id} of {reported.amount} is not an amount paid")
    return amount
