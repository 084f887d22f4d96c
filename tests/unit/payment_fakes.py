"""In-memory stand-ins for the payment service's storage and payment provider (no I/O)."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from decimal import Decimal

from payment_service.domain.catalog import ItemRef, Product
from payment_service.domain.checkout import CheckoutLine, CheckoutSession, Invoice, InvoiceAlreadyPaid, ReportedInvoice
from payment_service.domain.errors import AlreadyRecorded, UnknownPayment, UpstreamRejected, UpstreamUnavailable
from payment_service.domain.events import PaymentEvent
from payment_service.domain.money import to_major
from payment_service.domain.outbox import OutboxMessage, OutboxStatus
from payment_service.domain.outbox_listing import OutboxEventQuery
from payment_service.domain.payment import Payment, ReportedPayment
from payment_service.domain.payment_listing import PaymentKey, PaymentListQuery, StreamedLine, StreamedPayment
from payment_service.service_layer.unit_of_work import AbstractUnitOfWork

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)


def a_session(*amounts: int, session_id: str = "s-1", ttl: dt.timedelta = dt.timedelta(minutes=15)) -> CheckoutSession:
    """A fresh MNT session created at NOW, with one course line per amount."""
    return CheckoutSession(
        id=session_id,
        idempotency_key="k-1",
        request_fingerprint="f",
        user_id="u-1",
        currency="MNT",
        lines=[CheckoutLine("course", f"c{i}", f"Course {i}", amount) for i, amount in enumerate(amounts)],
        callback_secret_hash="h",
        created_at=NOW,
        expires_at=NOW + ttl,
    )


class FakeCatalog:
    """Products in a dict."""

    def __init__(self, products: dict[ItemRef, Product]) -> None:
        self._products = products

    async def get(self, item: ItemRef) -> Product | None:
        return self._products.get(item)

    async def get_many(self, items: Iterable[ItemRef]) -> dict[ItemRef, Product]:
        return {item: self._products[item] for item in items if item in self._products}

    def add(self, product: Product) -> None:
        self._products[product.item] = product

    async def list(self, kind: str, include_inactive: bool) -> Sequence[Product]:
        return [
            p
            for _, p in sorted(self._products.items())
            if (not kind or p.kind == kind) and (include_inactive or p.active)
        ]


class FakeCheckouts:
    """Sessions in a dict; the unique idempotency key is checked on commit, like the database does."""

    def __init__(self, sessions: dict[str, CheckoutSession]) -> None:
        self._sessions = sessions
        self.staged: list[CheckoutSession] = []
        self.seen: set[CheckoutSession] = set()

    def add(self, checkout: CheckoutSession) -> None:
        self.staged.append(checkout)
        self.seen.add(checkout)

    async def get(self, session_id: str, *, for_update: bool = False) -> CheckoutSession | None:
        return self._saw(self._sessions.get(session_id))

    async def by_idempotency_key(self, key: str) -> CheckoutSession | None:
        return self._saw(next((s for s in self._sessions.values() if s.idempotency_key == key), None))

    async def claim_provider_check(self, session_id: str, now: dt.datetime, interval: dt.timedelta) -> bool:
        session = self._sessions[session_id]
        if session.last_checked_at is not None and session.last_checked_at > now - interval:
            return False
        session.last_checked_at = now
        return True

    async def near_expiry(
        self, now: dt.datetime, lead: dt.timedelta, grace: dt.timedelta, recheck: dt.timedelta, limit: int
    ) -> Sequence[str]:
        raise NotImplementedError("the sweep is tested against a real database")

    async def expire_overdue(self, now: dt.datetime, *, session_id: str | None = None, limit: int = 1) -> int:
        expired = 0
        for session in sorted(self._sessions.values(), key=lambda s: s.expires_at):
            if session_id in (None, session.id) and expired < max(limit, 1) and session.expire(now):
                expired += 1
        return expired

    def _saw(self, checkout: CheckoutSession | None) -> CheckoutSession | None:
        if checkout is not None:
            self.seen.add(checkout)
        return checkout


class FakePayments:
    """Payments in a dict."""

    def __init__(self, payments: dict[str, Payment]) -> None:
        self._payments = payments
        self.staged: list[Payment] = []

    def add(self, payment: Payment) -> None:
        self.staged.append(payment)

    async def get(self, payment_id: str) -> Payment | None:
        return self._payments.get(payment_id)

    async def by_qpay_id(self, qpay_payment_id: str) -> Payment | None:
        return next((p for p in self._payments.values() if p.qpay_payment_id == qpay_payment_id), None)

    async def by_refund_key(self, idempotency_key: str) -> Payment | None:
        for payment in self._payments.values():
            if payment.refund_record is not None and payment.refund_record.idempotency_key == idempotency_key:
                return payment
        return None

    async def by_qpay_ids(self, qpay_payment_ids: Collection[str]) -> list[Payment]:
        return [p for p in self._payments.values() if p.qpay_payment_id in qpay_payment_ids]

    async def of_session(self, session_id: str) -> list[Payment]:
        found = [p for p in self._payments.values() if p.session_id == session_id]
        return sorted(found, key=lambda p: (p.paid_at, p.id))

    async def page(self, query: PaymentListQuery) -> list[Payment]:
        raise NotImplementedError("listing payments is tested against real databases (test_payment_listing)")

    async def batch(
        self, start: dt.datetime, end: dt.datetime, after: PaymentKey | None, limit: int, user_id: str | None = None
    ) -> list[StreamedPayment]:
        raise NotImplementedError("streaming payments is tested against real databases (test_payment_listing)")

    async def batch_lines(
        self,
        start: dt.datetime,
        end: dt.datetime,
        after: PaymentKey | None,
        through: PaymentKey,
        user_id: str | None = None,
    ) -> dict[str, list[StreamedLine]]:
        raise NotImplementedError("streaming payments is tested against real databases (test_payment_listing)")


class FakeOutbox:
    """Outbox messages in a list, claimed oldest first."""

    def __init__(self, messages: list[OutboxMessage]) -> None:
        self._messages = messages
        self.staged: list[OutboxMessage] = []
        self.added = 0

    def add(self, event: PaymentEvent, now: dt.datetime) -> OutboxMessage:
        message = OutboxMessage.of(event, now)
        self.staged.append(message)
        self.added += 1
        return message

    async def claim_due(self, now: dt.datetime, limit: int, lease_until: dt.datetime) -> list[OutboxMessage]:
        unsent = [m for m in self._messages if m.status is not OutboxStatus.SENT]
        oldest_per_payment = {m.payment_id: m for m in reversed(unsent)}.values()
        due = [m for m in oldest_per_payment if m.status is OutboxStatus.PENDING and m.next_attempt_at <= now]
        claimed = sorted(due, key=lambda m: m.next_attempt_at)[:limit]
        token = str(uuid.uuid4())
        for message in claimed:
            message.next_attempt_at, message.lease_token = lease_until, token
        return claimed

    async def record_outcomes(self, messages: Sequence[OutboxMessage]) -> bool:
        """The messages are the stored ones, changed already: only the claims end."""
        for message in messages:
            message.lease_token = None
        # The list is in the order the messages were written, as the table's ids are.
        return any(
            later.is_pending and later.payment_id == message.payment_id
            for message in messages
            for later in self._messages[self._messages.index(message) + 1 :]
        )

    async def delete_sent_before(self, cutoff: dt.datetime, limit: int) -> int:
        doomed = [m for m in self._messages if m.sent_at is not None and m.sent_at < cutoff][:limit]
        for message in doomed:
            self._messages.remove(message)
        return len(doomed)

    async def oldest_pending_at(self) -> dt.datetime | None:
        return min((m.created_at for m in self._messages if m.is_pending), default=None)

    async def count_by_status(self) -> dict[OutboxStatus, int]:
        return {status: sum(m.status is status for m in self._messages) for status in OutboxStatus}

    async def dead(self, limit: int) -> Sequence[OutboxMessage]:
        return [m for m in self._messages if m.status is OutboxStatus.DEAD][:limit]

    async def revive_dead(self, event_ids: Sequence[str] | None, now: dt.datetime) -> int:
        revived = [m for m in await self.dead(len(self._messages)) if event_ids is None or m.event_id in event_ids]
        for message in revived:
            message.status, message.attempts, message.next_attempt_at = OutboxStatus.PENDING, 0, now
        return len(revived)

    async def page(self, query: OutboxEventQuery) -> list[OutboxMessage]:
        raise NotImplementedError("listing the outbox is tested against real databases (test_outbox_admin_rpcs)")


class FakeStore:
    """What a database would hold: the committed state every FakeUnitOfWork shares."""

    def __init__(self) -> None:
        self.products: dict[ItemRef, Product] = {}
        self.sessions: dict[str, CheckoutSession] = {}
        self.payments: dict[str, Payment] = {}
        self.outbox: list[OutboxMessage] = []
        self.commits = 0


class FakeUnitOfWork(AbstractUnitOfWork):
    """Stages writes and applies them to the store on commit; checks the unique facts the database checks."""

    catalog: FakeCatalog
    checkouts: FakeCheckouts
    payments: FakePayments
    outbox: FakeOutbox

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.catalog = FakeCatalog(store.products)
        self.checkouts = FakeCheckouts(store.sessions)
        self.payments = FakePayments(store.payments)
        self.outbox = FakeOutbox(store.outbox)

    async def _commit(self) -> None:
        keys = {s.idempotency_key for s in self.store.sessions.values()}
        qpay_ids = {p.qpay_payment_id for p in self.store.payments.values() if p.qpay_payment_id}
        if any(s.idempotency_key in keys for s in self.checkouts.staged) or any(
            p.qpay_payment_id in qpay_ids for p in self.payments.staged
        ):
            raise AlreadyRecorded()
        self.store.sessions.update({s.id: s for s in self.checkouts.staged})
        self.store.payments.update({p.id: p for p in self.payments.staged})
        self.store.outbox.extend(self.outbox.staged)
        self.store.commits += 1
        await self.rollback()

    async def rollback(self) -> None:
        self.checkouts.staged.clear()
        self.payments.staged.clear()
        self.outbox.staged.clear()


class FakePaymentProvider:
    """A payment provider in memory: invoices it opened (by id and by number) and payments made on them.

    Like QPay it refuses a number twice. `lose_next_answer`: the next invoice is opened, then its
    answer is lost (UpstreamUnavailable), as when QPay answers after the client's timeout.
    """

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self.invoices: dict[str, tuple[CheckoutSession, str]] = {}
        self.numbered: dict[str, str] = {}
        self.payments: dict[str, ReportedPayment] = {}
        self.cancelled: list[str] = []
        self.refunded: list[str] = []
        self.lose_next_answer = False

    async def open_invoice(self, session: CheckoutSession, sender_invoice_no: str, callback_url: str) -> Invoice:
        if sender_invoice_no in self.numbered:
            raise UpstreamRejected(f"QPay refused to create the invoice: {sender_invoice_no} is used")
        invoice_id = f"inv-{next(self._numbers)}"
        self.invoices[invoice_id] = (session, callback_url)
        self.numbered[sender_invoice_no] = invoice_id
        if self.lose_next_answer:
            self.lose_next_answer = False
            raise UpstreamUnavailable("QPay could not create the invoice: timed out")
        return Invoice(invoice_id, f"qr-{invoice_id}", "png", f"https://qpay.example/{invoice_id}", [])

    async def get_invoice(self, invoice_id: str) -> ReportedInvoice | None:
        number = next((no for no, numbered_id in self.numbered.items() if numbered_id == invoice_id), None)
        return None if number is None else ReportedInvoice(invoice_id, number)

    async def cancel_invoice(self, invoice_id: str) -> None:
        session, _ = self.invoices[invoice_id]
        paid = sum(p.amount for p in self.payments.values() if p.invoice_id == invoice_id and p.status == "PAID")
        if paid >= to_major(session.amount, session.currency):
            raise InvoiceAlreadyPaid(f"invoice {invoice_id} is paid")
        self.cancelled.append(invoice_id)

    def pay(self, invoice_id: str, amount: Decimal, *, status: str = "PAID", currency: str = "MNT") -> ReportedPayment:
        """A customer pays the invoice; returns QPay's report of the payment."""
        reported = ReportedPayment(f"qp-{next(self._numbers)}", invoice_id, status, amount, currency)
        self.payments[reported.qpay_payment_id] = reported
        return reported

    async def get_payment(self, payment_id: str) -> ReportedPayment:
        if payment_id not in self.payments:
            raise UnknownPayment(f"no payment {payment_id}")
        return self.payments[payment_id]

    async def invoice_payments(self, invoice_id: str) -> list[ReportedPayment]:
        return [p for p in self.payments.values() if p.invoice_id == invoice_id]

    async def refund_payment(self, payment_id: str, note: str | None = None) -> None:
        self.refunded.append(payment_id)

    async def payments_between(self, start: dt.datetime, end: dt.datetime) -> AsyncIterator[ReportedPayment]:
        for payment in list(self.payments.values()):
            if payment.paid_at is None or start <= payment.paid_at <= end:
                yield payment
