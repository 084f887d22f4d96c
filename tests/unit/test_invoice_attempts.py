"""Invoice attempts: numbered for QPay, one under way at a time, each one's invoice still the session's."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from paygrant.contract_rules import EventType
from payment_service.domain.callback import CallbackQuery, hash_secret
from payment_service.domain.catalog import ItemRef, Product
from payment_service.domain.checkout import (
    CheckoutStatus,
    Invoice,
    InvoiceBeingOpened,
    ReportedInvoice,
)
from payment_service.domain.errors import Forbidden, UpstreamUnavailable
from payment_service.domain.payment import PaymentOutcome, PaymentRejected, ReportedPayment, confirm
from payment_service.service_layer.checkout import CheckoutConfig, Checkouts, CreateCheckout
from payment_service.service_layer.payment_confirmation import PaymentConfirmation
from tests.unit.payment_fakes import NOW, FakePaymentProvider, FakeStore, FakeUnitOfWork, a_session

COURSE = ItemRef("course", "algebra-1")

UNDER_WAY = dt.timedelta(seconds=30)
SECOND = dt.timedelta(seconds=1)


def _invoice(invoice_id: str) -> Invoice:
    return Invoice(invoice_id, "qr", "png", "https://qpay.example", [])


def _paid(invoice_id: str) -> ReportedPayment:
    return ReportedPayment("qp-1", invoice_id, "PAID", Decimal("15000"), "MNT")


def test_attempts_are_numbered_with_the_session_id_then_a_suffix_qpay_has_not_seen() -> None:
    session = a_session(1_500_000, session_id="s-1")

    first = session.request_invoice("h1", NOW, UNDER_WAY)
    session.invoice_not_opened(first.number, NOW + SECOND)
    second = session.request_invoice("h2", NOW + 2 * SECOND, UNDER_WAY)
    session.invoice_not_opened(second.number, NOW + 3 * SECOND)
    third = session.request_invoice("h3", NOW + 4 * SECOND, UNDER_WAY)

    assert [(a.number, a.sender_invoice_no) for a in (first, second, third)] == [
        (1, "s-1"),
        (2, "s-1.2"),
        (3, "s-1.3"),
    ]
    assert session.callback_secret_hashes == ["h1", "h2", "h3"]


def test_no_second_attempt_while_the_first_may_be_under_way_and_one_once_its_time_is_up() -> None:
    session = a_session(1_500_000)
    session.request_invoice("h1", NOW, UNDER_WAY)

    with pytest.raises(InvoiceBeingOpened) as refused:
        session.request_invoice("h2", NOW + UNDER_WAY - SECOND, UNDER_WAY)

    assert isinstance(refused.value, UpstreamUnavailable), "the caller retries with the same key"
    assert len(session.invoice_attempts) == 1
    # An attempt never ended by its time: its process died mid-call.
    assert session.request_invoice("h2", NOW + UNDER_WAY, UNDER_WAY).number == 2


def test_the_first_invoice_opened_is_the_sessions_and_a_later_one_is_not() -> None:
    session = a_session(1_500_000)
    first = session.request_invoice("h1", NOW, dt.timedelta(0))
    second = session.request_invoice("h2", NOW, dt.timedelta(0))

    assert session.invoice_opened(second.number, _invoice("inv-2"), NOW)
    assert not session.invoice_opened(first.number, _invoice("inv-1"), NOW)

    assert session.invoice is not None and session.invoice.invoice_id == "inv-2"
    assert all(a.ended_at == NOW for a in session.invoice_attempts)


def test_an_invoice_opened_for_a_session_cancelled_meanwhile_is_not_its_invoice() -> None:
    session = a_session(1_500_000)
    attempt = session.request_invoice("h1", NOW, UNDER_WAY)
    session.cancel(NOW)

    assert not session.invoice_opened(attempt.number, _invoice("inv-1"), NOW)
    assert (session.invoice, session.status) == (None, CheckoutStatus.CANCELLED)


def test_a_session_needs_an_invoice_only_while_it_can_be_paid_and_has_none() -> None:
    session = a_session(1_500_000)
    assert session.needs_invoice(NOW)
    assert not session.needs_invoice(session.expires_at)
    assert not a_session(0).needs_invoice(NOW)
    session.invoice = _invoice("inv-1")
    assert not session.needs_invoice(NOW)


def test_a_payment_of_an_attempts_invoice_is_confirmed_and_of_any_other_refused() -> None:
    session = a_session(1_500_000, session_id="s-1")
    session.request_invoice("h1", NOW, dt.timedelta(0))
    session.request_invoice("h2", NOW, dt.timedelta(0))
    session.invoice_opened(2, _invoice("inv-2"), NOW)

    assert confirm(session, _paid("inv-2")) == 1_500_000
    assert confirm(session, _paid("inv-1"), ReportedInvoice("inv-1", "s-1")) == 1_500_000
    with pytest.raises(PaymentRejected):
        confirm(session, _paid("inv-1"))  # QPay's word on the invoice is needed
    with pytest.raises(PaymentRejected):
        confirm(session, _paid("inv-9"), ReportedInvoice("inv-9", "s-2"))  # another session's number
    with pytest.raises(PaymentRejected):
        confirm(session, _paid("inv-9"), ReportedInvoice("inv-1", "s-1"))  # a report of another invoice
    with pytest.raises(PaymentRejected):
        confirm(session, _paid("inv-9"), ReportedInvoice("inv-9", "s-1.3"))  # a number never asked for


def test_a_session_without_invoice_adopts_the_paid_invoice_of_its_own_attempt_only() -> None:
    session = a_session(1_500_000, session_id="s-1")
    session.request_invoice("h1", NOW, UNDER_WAY)

    session.adopt_invoice(ReportedInvoice("inv-x", "s-2"))
    assert session.invoice is None
    session.adopt_invoice(ReportedInvoice("inv-1", "s-1"))
    assert session.invoice is not None and session.invoice.invoice_id == "inv-1"
    session.adopt_invoice(ReportedInvoice("inv-2", "s-1"))
    assert session.invoice.invoice_id == "inv-1"


def test_a_callback_carrying_any_attempts_secret_is_verified_and_no_other() -> None:
    hashes = [hash_secret("first"), hash_secret("second")]

    CallbackQuery("s-1", "first", "qp-1").verify(hashes)
    CallbackQuery("s-1", "second", "qp-1").verify(hashes)
    with pytest.raises(Forbidden):
        CallbackQuery("s-1", "third", "qp-1").verify(hashes)
    with pytest.raises(Forbidden):
        CallbackQuery("s-1", "first", "qp-1").verify([])


async def test_an_invoice_whose_answer_was_lost_is_paid_and_granted_and_a_retry_opens_the_next() -> None:
    store, provider = FakeStore(), FakePaymentProvider()
    store.products[COURSE] = Product("course", "algebra-1", "Algebra I", 1_500_000, "MNT", True, NOW)

    def uow() -> FakeUnitOfWork:
        return FakeUnitOfWork(store)

    checkouts = Checkouts(uow, provider, NobodyOwnsAnything(), CheckoutConfig("https://shop.example", UNDER_WAY))
    confirmation = PaymentConfirmation(uow, provider, dt.timedelta(0))
    command = CreateCheckout("key-1", "user-1", (COURSE,))
    provider.lose_next_answer = True

    with pytest.raises(UpstreamUnavailable):
        await checkouts.create(command)

    [session] = store.sessions.values()
    assert session.invoice is None and provider.numbered == {session.id: "inv-1"}
    retried = await checkouts.create(command)
    assert retried.invoice is not None and provider.numbered[f"{session.id}.2"] == retried.invoice.invoice_id
    _, lost_url = provider.invoices["inv-1"]
    paid = provider.pay("inv-1", Decimal("15000"))
    secret = parse_qs(urlsplit(lost_url).query)["secret"][0]

    payment = await confirmation.on_callback(CallbackQuery(session.id, secret, paid.qpay_payment_id))

    assert (payment.outcome, session.status) == (PaymentOutcome.GRANTED, CheckoutStatus.PAID)
    assert [m.event_type for m in store.outbox] == [EventType.PAYMENT_COMPLETED]


class NobodyOwnsAnything:
    async def owned_items(self, user_id: str, items: object) -> set[ItemRef]:
        return set()
