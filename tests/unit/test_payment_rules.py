"""The payment state machine and the rules a QPay report must meet to grant anything."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payment_service.domain.checkout import CheckoutSession, Invoice
from payment_service.domain.errors import InvalidTransition
from payment_service.domain.money import to_major, to_minor
from payment_service.domain.payment import Payment, PaymentRejected, PaymentStatus, ReportedPayment, confirm
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


def test_payment_is_refunded_at_most_once() -> None:
    payment = Payment(
        id="p", qpay_payment_id="qp", session_id="s", user_id="u", amount=100, currency="MNT", paid_at=NOW
    )
    assert payment.status is PaymentStatus.PAID
    payment.refund(NOW)
    assert (payment.status, payment.refunded_at) == (PaymentStatus.REFUNDED, NOW)
    with pytest.raises(InvalidTransition):
        payment.refund(NOW)


@given(st.integers(min_value=0, max_value=10**15), st.sampled_from(["MNT", "USD", "JPY"]))
def test_minor_and_major_units_round_trip(amount: int, currency: str) -> None:
    assert to_minor(to_major(amount, currency), currency) == amount


def test_major_units_of_mnt_have_two_decimals() -> None:
    assert to_major(1_500_050, "MNT") == Decimal("15000.50")
