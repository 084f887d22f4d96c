"""The checkout session: a priced cart, its QPay invoice, its lifecycle, and the payment that pays it."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass

from paygrant.contract_rules import EventType
from payment_service.domain.catalog import ItemRef
from payment_service.domain.errors import InvalidTransition
from payment_service.domain.events import PaidItem, PaymentEvent
from payment_service.domain.money import require_total
from payment_service.domain.payment import Payment


class CheckoutStatus(enum.StrEnum):
    """PENDING -> PAID | EXPIRED | CANCELLED; EXPIRED -> PAID (a late payment is honoured)."""

    PENDING = "PENDING"
    PAID = "PAID"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


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
        self.invoice = None
        self.events = []

    @property
    def is_free(self) -> bool:
        """A zero-amount cart completes without QPay."""
        return self.amount == 0

    def record_payment(self, qpay_payment_id: str | None, amount: int, at: dt.datetime) -> Payment:
        """The one way a payment is recorded: builds it, marks the session paid and announces PaymentCompleted.

        A second payment of a paid session is recorded and announced too (the money was taken),
        while the session keeps pointing at the first.
        """
        payment = Payment(
            id=str(uuid.uuid4()),
            qpay_payment_id=qpay_payment_id,
            session_id=self.id,
            user_id=self.user_id,
            amount=amount,
            currency=self.currency,
            paid_at=at,
        )
        self.mark_paid(payment.id, at)
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
        return payment

    def mark_paid(self, payment_id: str, at: dt.datetime) -> None:
        """Records the payment that paid the session; a later second payment keeps the first."""
        if self.status is CheckoutStatus.CANCELLED:
            raise InvalidTransition(f"checkout {self.id} is cancelled")
        if self.status is CheckoutStatus.PAID:
            return
        self.status = CheckoutStatus.PAID
        self.payment_id = payment_id
        self.paid_at = at

    def expire(self, now: dt.datetime) -> bool:
        """Moves an unpaid session past its expiry to EXPIRED; returns whether it moved."""
        if self.status is CheckoutStatus.PENDING and now >= self.expires_at:
            self.status = CheckoutStatus.EXPIRED
            return True
        return False

    def cancel(self) -> None:
        """Cancels an unpaid session."""
        if self.status is CheckoutStatus.PAID:
            raise InvalidTransition(f"checkout {self.id} is already paid")
        self.status = CheckoutStatus.CANCELLED
