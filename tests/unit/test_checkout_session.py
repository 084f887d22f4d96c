"""The checkout session's state machine."""

from __future__ import annotations

import datetime as dt

import pytest

from payment_service.domain.checkout import CheckoutStatus
from payment_service.domain.errors import InvalidTransition
from tests.unit.payment_fakes import NOW, a_session


def test_new_session_is_pending_and_totals_its_lines() -> None:
    session = a_session(1000, 2500)
    assert session.status is CheckoutStatus.PENDING
    assert session.amount == 3500 and not session.is_free


def test_zero_total_is_free() -> None:
    assert a_session(0, 0).is_free


def test_paying_a_pending_session_records_the_payment() -> None:
    session = a_session(1000)
    session.mark_paid("p-1", NOW)
    assert (session.status, session.payment_id, session.paid_at) == (CheckoutStatus.PAID, "p-1", NOW)


def test_a_second_payment_keeps_the_first() -> None:
    session = a_session(1000)
    session.mark_paid("p-1", NOW)
    session.mark_paid("p-2", NOW + dt.timedelta(seconds=5))
    assert (session.payment_id, session.paid_at) == ("p-1", NOW)


def test_expiry_moves_only_an_unpaid_session_past_its_time() -> None:
    session = a_session(1000)
    assert not session.expire(NOW + dt.timedelta(minutes=14))
    assert session.status == "PENDING"
    assert session.expire(NOW + dt.timedelta(minutes=15))
    assert session.status == "EXPIRED"
    paid = a_session(1000)
    paid.mark_paid("p-1", NOW)
    assert not paid.expire(NOW + dt.timedelta(days=1))
    assert paid.status is CheckoutStatus.PAID


def test_a_late_payment_of_an_expired_session_is_honoured() -> None:
    session = a_session(1000)
    session.expire(NOW + dt.timedelta(hours=1))
    session.mark_paid("p-1", NOW + dt.timedelta(hours=1))
    assert session.status is CheckoutStatus.PAID


def test_a_cancelled_session_cannot_be_paid_and_a_paid_one_cannot_be_cancelled() -> None:
    cancelled = a_session(1000)
    cancelled.cancel()
    with pytest.raises(InvalidTransition):
        cancelled.mark_paid("p-1", NOW)
    paid = a_session(1000)
    paid.mark_paid("p-1", NOW)
    with pytest.raises(InvalidTransition):
        paid.cancel()
