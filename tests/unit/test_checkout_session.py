"""The checkout session's state machine, and what recording each payment does to it."""

from __future__ import annotations

import datetime as dt

import pytest

from paygrant.contract_rules import MAX_AMOUNT, EventType
from payment_service.domain.checkout import CheckoutSession, CheckoutStatus
from payment_service.domain.errors import InvalidTransition
from payment_service.domain.events import PaymentEvent
from payment_service.domain.payment import PaymentOutcome, PaymentRejected
from payment_service.domain.refund import Refund
from tests.unit.payment_fakes import NOW, a_session

LATER = NOW + dt.timedelta(hours=1)


def _granted_events(session: CheckoutSession) -> list[str]:
    return [event.payment_id for event in session.events if event.type is EventType.PAYMENT_COMPLETED]


def test_new_session_is_pending_and_totals_its_lines() -> None:
    session = a_session(1000, 2500)
    assert session.status is CheckoutStatus.PENDING
    assert session.amount == 3500 and not session.is_free and session.received_amount == 0


def test_zero_total_is_free() -> None:
    assert a_session(0, 0).is_free


def test_a_payment_of_the_amount_pays_the_session_and_grants_once() -> None:
    session = a_session(1000)
    payment = session.record_payment("qp-1", 1000, NOW)
    assert (session.status, session.payment_id, session.paid_at) == (CheckoutStatus.PAID, payment.id, NOW)
    assert (payment.outcome, payment.late, payment.overpaid, payment.refund_due) == (
        PaymentOutcome.GRANTED,
        False,
        False,
        False,
    )
    assert _granted_events(session) == [payment.id]


def test_a_free_session_is_granted_by_its_zero_payment() -> None:
    session = a_session(0)
    payment = session.record_payment(None, 0, NOW)
    assert payment.outcome is PaymentOutcome.GRANTED and session.status is CheckoutStatus.PAID


def test_short_payments_add_up_and_the_one_that_covers_the_amount_grants() -> None:
    session = a_session(1000)
    first = session.record_payment("qp-1", 400, NOW)
    assert (first.outcome, session.status, session.received_amount) == (
        PaymentOutcome.SHORT,
        CheckoutStatus.PENDING,
        400,
    )
    assert _granted_events(session) == [] and session.payment_id is None
    second = session.record_payment("qp-2", 600, NOW)
    assert (second.outcome, second.overpaid, session.status) == (PaymentOutcome.GRANTED, False, CheckoutStatus.PAID)
    assert session.payment_id == second.id and _granted_events(session) == [second.id]


def test_an_overpayment_is_granted_and_flagged() -> None:
    session = a_session(1000)
    session.record_payment("qp-1", 700, NOW)
    payment = session.record_payment("qp-2", 700, NOW)
    assert (payment.outcome, payment.overpaid, session.received_amount) == (PaymentOutcome.GRANTED, True, 1400)


def test_a_second_payment_of_a_paid_session_is_a_duplicate_due_back_and_grants_nothing() -> None:
    session = a_session(1000)
    first = session.record_payment("qp-1", 1000, NOW)
    second = session.record_payment("qp-2", 1000, LATER)
    assert (second.outcome, second.refund_due, second.late) == (PaymentOutcome.DUPLICATE, True, False)
    assert (session.payment_id, session.paid_at, session.received_amount) == (first.id, NOW, 2000)
    assert _granted_events(session) == [first.id]


@pytest.mark.parametrize("close", ["expire", "cancel"])
def test_a_payment_after_expiry_or_cancellation_is_granted_and_flagged_late(close: str) -> None:
    session = a_session(1000)
    assert session.expire(LATER) if close == "expire" else session.cancel(LATER)
    payment = session.record_payment("qp-1", 1000, LATER)
    assert (payment.outcome, payment.late, session.status) == (PaymentOutcome.GRANTED, True, CheckoutStatus.PAID)
    assert _granted_events(session) == [payment.id]


def test_a_payment_once_the_time_is_up_is_late_even_before_expiry_was_stored() -> None:
    session = a_session(1000)  # expires at NOW + 15 minutes, still PENDING
    on_time = a_session(1000, session_id="s-2")
    assert session.record_payment("qp-1", 1000, LATER).late
    assert not on_time.record_payment("qp-2", 1000, NOW + dt.timedelta(minutes=14)).late
    short = a_session(1000, session_id="s-3")
    assert short.record_payment("qp-3", 10, LATER).late and short.status is CheckoutStatus.EXPIRED


def test_a_late_short_payment_leaves_the_closed_session_as_it_was() -> None:
    session = a_session(1000)
    session.expire(LATER)
    payment = session.record_payment("qp-1", 10, LATER)
    assert (payment.outcome, payment.late, session.status) == (PaymentOutcome.SHORT, True, CheckoutStatus.EXPIRED)


def test_a_payment_that_cannot_be_added_to_the_session_is_rejected() -> None:
    session = a_session(1000)
    session.record_payment("qp-1", 10, NOW)
    with pytest.raises(PaymentRejected, match="cannot be added"):
        session.record_payment("qp-2", MAX_AMOUNT, NOW)
    assert session.received_amount == 10


def test_expiry_moves_only_an_unpaid_session_past_its_time() -> None:
    session = a_session(1000)
    assert not session.expire(NOW + dt.timedelta(minutes=14))
    assert session.status == "PENDING"
    assert session.expire(NOW + dt.timedelta(minutes=15))
    assert session.status == "EXPIRED"
    paid = a_session(1000)
    paid.record_payment("qp-1", 1000, NOW)
    assert not paid.expire(NOW + dt.timedelta(days=1))
    assert paid.status is CheckoutStatus.PAID


def test_cancel_moves_pending_and_expired_sessions_and_a_second_cancel_changes_nothing() -> None:
    pending, expired = a_session(1000), a_session(1000)
    expired.expire(LATER)
    for session in (pending, expired):
        assert session.cancel(NOW)
        assert (session.status, session.cancelled_at) == (CheckoutStatus.CANCELLED, NOW)
        assert not session.cancel(LATER)
        assert session.cancelled_at == NOW


def test_a_paid_or_partly_paid_session_cannot_be_cancelled() -> None:
    paid, partly = a_session(1000), a_session(1000)
    paid.record_payment("qp-1", 1000, NOW)
    partly.record_payment("qp-2", 1, NOW)
    with pytest.raises(InvalidTransition, match="already paid"):
        paid.cancel(NOW)
    with pytest.raises(InvalidTransition, match="received 1 of 1000"):
        partly.cancel(NOW)
    assert (paid.status, partly.status) == (CheckoutStatus.PAID, CheckoutStatus.PENDING)


def test_every_event_of_a_session_carries_the_request_id_of_its_checkout() -> None:
    session = a_session(1000)
    session.request_id = "gw-42"
    payment = session.record_payment("qp-1", 1000, NOW)
    session.refund(payment, Refund(payment.id, "r-1", "duplicate", "ana", external=True), LATER)

    assert [(event.type, event.request_id) for event in session.events] == [
        (EventType.PAYMENT_COMPLETED, "gw-42"),
        (EventType.PAYMENT_REFUNDED, "gw-42"),
    ]


def test_an_events_request_id_survives_the_outbox_and_an_older_payload_loads_without_one() -> None:
    session = a_session(1000)
    session.request_id = "gw-42"
    session.record_payment("qp-1", 1000, NOW)
    [event] = session.events
    payload = event.to_payload()

    assert PaymentEvent.from_payload(event.event_id, event.type, payload) == event
    older = {key: value for key, value in payload.items() if key != "request_id"}
    assert PaymentEvent.from_payload(event.event_id, event.type, older).request_id is None
