"""The checkout session: a priced cart, its QPay invoice, its lifecycle, and the payment that pays it."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass

from paygrant.contract_rules import EventType, total_problem
from payment_service.domain.catalog import ItemRef
from payment_service.domain.errors import InvalidTransition, PaymentServiceError
from payment_service.domain.events import PaidItem, PaymentEvent
from payment_service.domain.money import require_total
from payment_service.domain.payment import Payment, PaymentOutcome, PaymentRejected


class CheckoutStatus(enum.StrEnum):
    """PENDING -> PAID | EXPIRED | CANCELLED; EXPIRED -> CANCELLED; EXPIRED | CANCELLED -> PAID.

    A payment that arrives after expiry or cancellation is honoured (the money was taken): the
    session becomes PAID and the payment is flagged late. PAID is final.
    """

    PENDING = "PENDING"
    PAID = "PAID"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


class InvoiceAlreadyPaid(PaymentServiceError):
    """The provider refused to cancel an invoice because it has been paid."""


@dataclass(eq=False)
class CheckoutLine:
    """One item of a session, priced from the catalog at checkout time."""

    kind: str
    item_id: str
    title: str
    amount: int

    @property
    def item(self) -> ItemRef:
        """The item bought."""
        return ItemRef(self.kind, self.item_id)


@dataclass(eq=False)
class Invoice:
    """The QPay invoice that collects a session's money."""

    invoice_id: str
    qr_text: str
    qr_image: str
    short_url: str
    deeplinks: list[dict[str, str]]


class CheckoutSession:
    """Aggregate root of a checkout. Mapped onto `checkout_sessions` by the ORM adapter.

    `events` holds what happened to it since it was loaded; the unit of work writes them to the outbox.
    A session is only made for a cart whose total can be stored, so no invoice is opened for one that cannot.
    """

    invoice: Invoice | None
    events: list[PaymentEvent]

    def __init__(
        self,
        *,
        id: str,
        idempotency_key: str,
        request_fingerprint: str,
        user_id: str,
        currency: str,
        lines: list[CheckoutLine],
        callback_secret_hash: str,
        created_at: dt.datetime,
        expires_at: dt.datetime,
    ) -> None:
        self.id = id
        self.idempotency_key = idempotency_key
        self.request_fingerprint = request_fingerprint
        self.user_id = user_id
        self.currency = currency
        self.lines = lines
        # Lines are in the order of the request's items, so a bad amount is named as the caller's item.
        self.amount = require_total([line.amount for line in lines], "items")
        self.callback_secret_hash = callback_secret_hash
        self.created_at = created_at
        self.expires_at = expires_at
        self.status = CheckoutStatus.PENDING
        self.payment_id: str | None = None
        self.paid_at: dt.datetime | None = None
        self.last_checked_at: dt.datetime | None = None
        # The sum of every payment recorded for the session (short ones add up; duplicates count too).
        self.received_amount = 0
        self.cancelled_at: dt.datetime | None = None
        self.invoice = None
        self.events = []

    @property
    def is_free(self) -> bool:
        """A zero-amount cart completes without QPay."""
        return self.amount == 0

    def record_payment(self, qpay_payment_id: str | None, amount: int, at: dt.datetime) -> Payment:
        """The one way a payment is recorded: builds it with its outcome and flags, and grants when it should.

        Every payment is recorded, since the money was taken. The session's payments add up in
        `received_amount`; the one that brings them to the session's amount marks the session paid and
        announces PaymentCompleted (GRANTED, `overpaid` if above it). One below it grants nothing (SHORT).
        One of a session already paid grants nothing and is due back (DUPLICATE). A payment recorded
        once the session's time is up (stored as EXPIRED yet or not: it is stored now) or after it was
        cancelled is flagged `late` and counts the same.
        """
        problem = total_problem([self.received_amount, amount])
        if problem:
            raise PaymentRejected(f"payment {qpay_payment_id} cannot be added to session {self.id}: {problem}")
        self.expire(at)
        late = self.status in (CheckoutStatus.EXPIRED, CheckoutStatus.CANCELLED)
        already_paid = self.status is CheckoutStatus.PAID
        self.received_amount += amount
        if already_paid:
            outcome = PaymentOutcome.DUPLICATE
        elif self.received_amount < self.amount:
            outcome = PaymentOutcome.SHORT
        else:
            outcome = PaymentOutcome.GRANTED
        payment = Payment(
            id=str(uuid.uuid4()),
            qpay_payment_id=qpay_payment_id,
            session_id=self.id,
            user_id=self.user_id,
            amount=amount,
            currency=self.currency,
            paid_at=at,
            outcome=outcome,
            late=late,
            overpaid=outcome is PaymentOutcome.GRANTED and self.received_amount > self.amount,
            refund_due=outcome is PaymentOutcome.DUPLICATE,
        )
        if outcome is PaymentOutcome.GRANTED:
            self._mark_paid(payment, at)
        return payment

    def expire(self, now: dt.datetime) -> bool:
        """Moves an unpaid session past its expiry to EXPIRED; returns whether it moved.

        The stored form of this rule is the repository's conditional UPDATE (`expire_overdue`), which
        no payment recorded at the same moment can lose to (service_layer/session_expiry.py).
        """
        if self.status is CheckoutStatus.PENDING and now >= self.expires_at:
            self.status = CheckoutStatus.EXPIRED
            return True
        return False

    def cancel(self, at: dt.datetime) -> bool:
        """Cancels an unpaid session (PENDING or EXPIRED); returns whether it moved.

        Cancelling a cancelled session changes nothing; otherwise `ensure_cancellable` decides.
        """
        if self.status is CheckoutStatus.CANCELLED:
            return False
        self.ensure_cancellable()
        self.status = CheckoutStatus.CANCELLED
        self.cancelled_at = at
        return True

    def ensure_cancellable(self) -> None:
        """InvalidTransition for a paid session, or one that has received part of its amount.

        Cancelling a partly paid session would strand the money received; it can be paid in full.
        """
        if self.status is CheckoutStatus.PAID:
            raise InvalidTransition(f"checkout {self.id} is already paid", "session_id")
        if self.received_amount:
            raise InvalidTransition(
                f"checkout {self.id} has received {self.received_amount} of {self.amount}; "
                "it can be paid in full, not cancelled",
                "session_id",
            )

    def _mark_paid(self, payment: Payment, at: dt.datetime) -> None:
        self.status = CheckoutStatus.PAID
        self.payment_id = payment.id
        self.paid_at = at
        self.events.append(
            PaymentEvent(
                event_id=str(uuid.uuid4()),
                type=EventType.PAYMENT_COMPLETED,
                payment_id=payment.id,
                user_id=self.user_id,
                currency=self.currency,
                items=tuple(PaidItem(line.kind, line.item_id, line.amount) for line in self.lines),
                occurred_at=at,
            )
        )
