"""The checkout session: a priced cart, its QPay invoice, its lifecycle, and the payment that pays it."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from paygrant.contract_rules import EventType, total_problem
from payment_service.domain.catalog import ItemRef
from payment_service.domain.errors import (
    FailedPrecondition,
    InvalidTransition,
    PaymentServiceError,
    UpstreamUnavailable,
)
from payment_service.domain.events import PaidItem, PaymentEvent
from payment_service.domain.money import require_total
from payment_service.domain.payment import Payment, PaymentOutcome, PaymentRejected
from payment_service.domain.refund import Refund


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


@dataclass(eq=False)
class InvoiceAttempt:
    """One request to QPay for the session's invoice. Mapped onto `invoice_attempts` by the ORM adapter.

    An attempt that got no answer may still have created its invoice (QPay acted, its answer was lost),
    which the payer can pay from their bank app. So each attempt keeps its number for QPay
    (`sender_invoice_no`, which QPay refuses twice) and the hash of the secret its callback URL carries,
    for as long as the session exists: a payment of its invoice is matched by them and honoured.
    `ended_at`: when its call to QPay ended, however it ended; None while under way (or if the
    process died mid-call).
    """

    sender_invoice_no: str
    number: int
    callback_secret_hash: str
    requested_at: dt.datetime
    ended_at: dt.datetime | None = None


@dataclass(frozen=True)
class ReportedInvoice:
    """An invoice as the provider reports it (QPay's GET /invoice/{id}): whose it is, by the number paygrant gave it."""

    invoice_id: str
    sender_invoice_no: str


class InvoiceBeingOpened(UpstreamUnavailable):
    """An earlier request is still asking the provider for the session's invoice; retrying later answers it."""


class CheckoutSession:
    """Aggregate root of a checkout. Mapped onto `checkout_sessions` by the ORM adapter.

    `events` holds what happened to it since it was loaded; the unit of work writes them to the outbox.
    A session is only made for a cart whose total can be stored, so no invoice is opened for one that cannot.
    `request_id` is that of the CreateCheckout that made it (paygrant.request_id), carried by every event
    it announces; None for sessions made before it was kept.
    """

    invoice: Invoice | None
    invoice_attempts: list[InvoiceAttempt]
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
        request_id: str | None = None,
    ) -> None:
        self.id = id
        self.idempotency_key = idempotency_key
        self.request_fingerprint = request_fingerprint
        self.user_id = user_id
        self.currency = currency
        self.lines = lines
        # Lines are in the order of the request's items, so a bad amount is named as the caller's item.
        self.amount = require_total([line.amount for line in lines], "items")
        # The hash of the secret made with the session, which its first invoice attempt carries. Callbacks are
        # checked against the attempts (`callback_secret_hashes`), each with its own secret; this copy of the first
        # stays because it is written once and never changes, and dropping the column would mean rebuilding
        # checkout_sessions on SQLite and changing the session cache's format for nothing gained.
        self.callback_secret_hash = callback_secret_hash
        self.created_at = created_at
        self.expires_at = expires_at
        self.request_id = request_id
        self.status = CheckoutStatus.PENDING
        self.payment_id: str | None = None
        self.paid_at: dt.datetime | None = None
        self.last_checked_at: dt.datetime | None = None
        # The sum of the session's payments not refunded (short ones add up; duplicates count too).
        self.received_amount = 0
        self.cancelled_at: dt.datetime | None = None
        self.invoice = None
        self.invoice_attempts = []
        self.events = []

    @property
    def is_free(self) -> bool:
        """A zero-amount cart completes without QPay."""
        return self.amount == 0

    def needs_invoice(self, now: dt.datetime) -> bool:
        """Whether a CreateCheckout of this session should open its invoice: it has none and can still be paid."""
        return (
            not self.is_free
            and self.invoice is None
            and self.status is CheckoutStatus.PENDING
            and now < self.expires_at
        )

    def request_invoice(self, callback_secret_hash: str, now: dt.datetime, under_way: dt.timedelta) -> InvoiceAttempt:
        """Records a new attempt to open the session's invoice; InvoiceBeingOpened while the last may be under way.

        The first attempt is numbered for QPay with the session id, the next `<id>.2`, `<id>.3`, …
        (QPay refuses a number twice). The last attempt is under way until it ended, or for `under_way`
        after it was requested (the longest its call can take; after that its process died mid-call),
        so concurrent requests open one invoice, not one each.
        """
        last = self.invoice_attempts[-1] if self.invoice_attempts else None
        if last is not None and last.ended_at is None and now < last.requested_at + under_way:
            raise InvoiceBeingOpened(
                f"the invoice of checkout {self.id} is being opened by an earlier request; retry with the same key",
                "idempotency_key",
            )
        number = 1 if last is None else last.number + 1
        attempt = InvoiceAttempt(
            sender_invoice_no=self.id if number == 1 else f"{self.id}.{number}",
            number=number,
            callback_secret_hash=callback_secret_hash,
            requested_at=now,
        )
        self.invoice_attempts.append(attempt)
        return attempt

    def invoice_opened(self, number: int, invoice: Invoice, at: dt.datetime) -> bool:
        """Ends attempt `number` with its invoice, which becomes the session's; returns whether it did.

        It does not when the session has an invoice already (another attempt's, stored first, or one a
        payment brought: `adopt_invoice`) or was cancelled meanwhile: the caller makes it unpayable.
        """
        self.invoice_not_opened(number, at)
        if self.invoice is not None or self.status is CheckoutStatus.CANCELLED:
            return False
        self.invoice = invoice
        return True

    def invoice_not_opened(self, number: int, at: dt.datetime) -> None:
        """Ends attempt `number` without an invoice; its number and secret stay, as QPay may have opened one."""
        for attempt in self.invoice_attempts:
            if attempt.number == number and attempt.ended_at is None:
                attempt.ended_at = at

    def numbers_invoice(self, sender_invoice_no: str) -> bool:
        """Whether QPay's invoice of this number was asked for by one of the session's attempts."""
        return any(attempt.sender_invoice_no == sender_invoice_no for attempt in self.invoice_attempts)

    @property
    def callback_secret_hashes(self) -> list[str]:
        """The hashes of the secrets its invoices' callback URLs carry, one per attempt."""
        return [attempt.callback_secret_hash for attempt in self.invoice_attempts]

    def adopt_invoice(self, paid: ReportedInvoice) -> None:
        """Takes the invoice a payment was made on as its own when it has none and one of its attempts opened it.

        That attempt's answer never arrived, so only what the provider reports of it is known (no QR, no
        links, which a paid invoice no longer needs).
        """
        if self.invoice is None and self.numbers_invoice(paid.sender_invoice_no):
            self.invoice = Invoice(paid.invoice_id, qr_text="", qr_image="", short_url="", deeplinks=[])

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
        self.events.append(self._event(EventType.PAYMENT_COMPLETED, payment, at))

    def refund(self, payment: Payment, record: Refund, at: dt.datetime, payments: Sequence[Payment] = ()) -> None:
        """Records that `payment`, one of this session's, was refunded as `record` says; `payments` are the
        session's payments (the refunded one among them or not).

        Its money no longer counts towards the session (`received_amount`), so a refunded short payment
        cannot help a later one complete the amount. A refunded GRANTED payment announces PaymentRefunded
        with the items its PaymentCompleted granted, which revokes them; SHORT and DUPLICATE payments
        granted nothing, so theirs announce nothing. The status stays: PAID is final, its grant is revoked.
        The SHORT payments that helped pay for that grant now hold money for nothing: each not refunded
        yet becomes `refund_due`.
        """
        if payment.session_id != self.id:
            raise InvalidTransition(f"payment {payment.id} is not a payment of checkout {self.id}", "payment_id")
        payment.refund(record, at)
        self.received_amount -= payment.amount
        if payment.outcome is PaymentOutcome.GRANTED:
            self.events.append(self._event(EventType.PAYMENT_REFUNDED, payment, at))
            for other in payments:
                if other.session_id == self.id and other.outcome is PaymentOutcome.SHORT and other.is_paid:
                    other.refund_due = True

    def announce_again(self, payment: Payment) -> PaymentEvent:
        """A new event (a new event id) saying what `payment`, this session's GRANTED payment, is now: its
        completion, dated when it was paid, or its refund once refunded. Applying it again grants nothing
        twice, so reconciliation sends it when the entitlement service lacks what the payment granted.
        SHORT and DUPLICATE payments grant nothing: FailedPrecondition."""
        if payment.session_id != self.id:
            raise InvalidTransition(f"payment {payment.id} is not a payment of checkout {self.id}", "payment_id")
        if payment.outcome is not PaymentOutcome.GRANTED:
            raise FailedPrecondition(
                f"payment {payment.id} is {payment.outcome.value}: it granted nothing to announce", "payment_id"
            )
        if payment.refunded_at is not None:
            return self._event(EventType.PAYMENT_REFUNDED, payment, payment.refunded_at)
        return self._event(EventType.PAYMENT_COMPLETED, payment, payment.paid_at)

    def _event(self, type: EventType, payment: Payment, at: dt.datetime) -> PaymentEvent:
        return PaymentEvent(
            event_id=str(uuid.uuid4()),
            type=type,
            payment_id=payment.id,
            user_id=self.user_id,
            currency=self.currency,
            items=tuple(PaidItem(line.kind, line.item_id, line.amount) for line in self.lines),
            occurred_at=at,
            request_id=self.request_id,
        )
