"""The payment state machine and the rules a QPay report must meet to grant anything."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paygrant.contract_rules import EventType
from payment_service.domain.checkout import CheckoutSession, CheckoutStatus, Invoice
from payment_service.domain.errors import InvalidTransition
from payment_service.domain.money import to_major, to_minor
from payment_service.domain.payment import PaymentOutcome, PaymentRejected, PaymentStatus, ReportedPayment, confirm
from payment_service.domain.refund import Refund
from tests.unit.payment_fakes import NOW, a_session


def _session() -> CheckoutSession:
    session = a_session(1_500_050)
    session.invoice = Invoice("inv-1", "qr", "img", "https://s.qpay.mn/x", [])
    return session


def _report(**changes: object) -> ReportedPayment:
    fields: dict[str, object] = {
        "qpay_payment_id": "qp-1",
        "invoice_id": "inv-1",
        "status": "PAID",
        "amount": Decimal("15000.50"),
        "currency": "MNT",
    }
    fields.update(changes)
    return ReportedPayment(**fields)  # type: ignore[arg-type]


def test_a_paid_report_of_the_invoice_confirms_its_amount_whether_short_exact_or_over() -> None:
    assert confirm(_session(), _report()) == 1_500_050
    assert confirm(_session(), _report(amount=Decimal("20000"))) == 2_000_000
    assert confirm(_session(), _report(amount=Decimal("0.01"))) == 1, "short: recorded, the session decides the grant"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"invoice_id": "inv-other"}, "not for the invoice"),
        ({"status": "NEW"}, "is NEW, not PAID"),
        ({"status": "PARTIAL"}, "is PARTIAL"),
        ({"status": "REFUNDED"}, "is REFUNDED"),
        ({"amount": Decimal("0")}, "not an amount paid"),
        ({"amount": Decimal("0.001")}, "not an amount paid"),
        ({"amount": Decimal("-5")}, "not an amount paid"),
        ({"amount": Decimal("1e30")}, "not an amount paid"),
        ({"currency": "USD"}, "is in USD"),
    ],
)
def test_a_report_that_does_not_prove_payment_is_rejected(change: dict[str, object], reason: str) -> None:
    with pytest.raises(PaymentRejected, match=reason):
        confirm(_session(), _report(**change))


def test_a_session_without_invoice_confirms_nothing() -> None:
    session = _session()
    session.invoice = None
    with pytest.raises(PaymentRejected):
        confirm(session, _report())


def _refund(payment_id: str) -> Refund:
    return Refund(payment_id, "key-1", "asked for", "ops", external=False)


def test_a_refunded_grant_announces_its_revoke_and_its_money_stops_counting() -> None:
    session = _session()
    payment = session.record_payment("qp-1", 1_500_050, NOW)
    session.events.clear()
    record = _refund(payment.id)
    session.refund(payment, record, NOW)
    assert (payment.status, payment.refunded_at, payment.refund_record) == (PaymentStatus.REFUNDED, NOW, record)
    assert session.status is CheckoutStatus.PAID and session.received_amount == 0
    [event] = session.events
    assert (event.type, event.payment_id, event.user_id) == (EventType.PAYMENT_REFUNDED, payment.id, "u-1")
    assert [(i.kind, i.item_id, i.amount) for i in event.items] == [("course", "c0", 1_500_050)]


def test_a_payment_is_refunded_at_most_once() -> None:
    session = _session()
    payment = session.record_payment("qp-1", 1_500_050, NOW)
    session.refund(payment, _refund(payment.id), NOW)
    with pytest.raises(InvalidTransition):
        session.refund(payment, _refund(payment.id), NOW)
    assert session.received_amount == 0


def test_a_refunded_short_payment_no_longer_helps_complete_the_amount() -> None:
    session = _session()
    short = session.record_payment("qp-1", 500_000, NOW)
    session.refund(short, _refund(short.id), NOW)
    assert session.events == [] and session.received_amount == 0
    rest = session.record_payment("qp-2", 1_000_050, NOW)
    assert rest.outcome is PaymentOutcome.SHORT and session.status is CheckoutStatus.PENDING


def test_a_refunded_duplicate_is_no_longer_due_and_revokes_nothing() -> None:
    session = _session()
    session.record_payment("qp-1", 1_500_050, NOW)
    duplicate = session.record_payment("qp-2", 1_500_050, NOW)
    session.events.clear()
    assert duplicate.refund_due
    session.refund(duplicate, _refund(duplicate.id), NOW)
    assert not duplicate.refund_due and duplicate.status is PaymentStatus.REFUNDED
    assert session.events == [] and session.received_amount == 1_500_050


def test_a_session_refunds_only_its_own_payments() -> None:
    other = a_session(100, session_id="s-2")
    payment = other.record_payment("qp-9", 100, NOW)
    with pytest.raises(InvalidTransition):
        _session().refund(payment, _refund(payment.id), NOW)
    assert payment.status is PaymentStatus.PAID


@given(st.integers(min_value=0, max_value=10**15), st.sampled_from(["MNT", "USD", "JPY"]))
def test_minor_and_major_units_round_trip(amount: int, currency: str) -> None:
    assert to_minor(to_major(amount, currency), currency) == amount


def test_major_units_of_mnt_have_two_decimals() -> None:
    assert to_major(1_500_050, "MNT") == Decimal("15000.50")
