"""Every payment QPay confirms is recorded; only the one that completes its session grants.

Late (after expiry or cancellation): granted, flagged. Short: recorded, grants nothing until the
session's payments cover its amount. Over: granted, flagged. Twice (a second QPay payment of a paid
session): recorded as a duplicate, grants nothing, flagged for refund. Flags are read back from the
database, and the grant is the PaymentCompleted outbox row.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select, update

from paygrant.db import utcnow
from payment_service.adapters import orm
from payment_service.domain.checkout import CheckoutStatus
from payment_service.domain.payment import Payment, PaymentOutcome
from tests.integration.payment_harness import PaymentHarness


async def _record(harness: PaymentHarness, session_id: str, amount: str | None = None) -> Payment:
    """Pays the session at QPay (all of it unless `amount`) and delivers QPay's callback."""
    qpay_payment_id = await harness.pay_silently(session_id, amount)
    return await harness.confirmation.on_callback(await harness.callback(session_id, qpay_payment_id))


async def _stored(harness: PaymentHarness, payment_id: str) -> Payment:
    async with harness.uow_factory() as uow:
        payment = await uow.payments.get(payment_id)
    assert payment is not None
    return payment


def _flags(payment: Payment) -> tuple[PaymentOutcome, bool, bool, bool]:
    return payment.outcome, payment.late, payment.overpaid, payment.refund_due


async def _grants(harness: PaymentHarness) -> list[str]:
    """The payment ids announced with PaymentCompleted, oldest first."""
    table = orm.outbox
    async with harness.database.engine.connect() as conn:
        rows = await conn.execute(select(table.c.payment_id, table.c.event_type).order_by(table.c.id))
        return [row.payment_id for row in rows if row.event_type == "PaymentCompleted"]


async def test_a_short_payment_is_recorded_and_grants_only_once_payments_cover_the_amount(
    harness: PaymentHarness,
) -> None:
    session_id = await harness.new_checkout()  # 15 000.00 MNT

    first = await _record(harness, session_id, "10000")

    session = await harness.checkouts.get(session_id)
    assert (session.status, session.received_amount, session.payment_id) == (CheckoutStatus.PENDING, 1_000_000, None)
    assert _flags(await _stored(harness, first.id)) == (PaymentOutcome.SHORT, False, False, False)
    assert await _grants(harness) == []

    second = await _record(harness, session_id, "5000")

    session = await harness.checkouts.get(session_id)
    assert (session.status, session.received_amount, session.payment_id) == (CheckoutStatus.PAID, 1_500_000, second.id)
    assert _flags(await _stored(harness, second.id)) == (PaymentOutcome.GRANTED, False, False, False)
    assert await _grants(harness) == [second.id]


async def test_concurrent_short_payments_add_up_to_exactly_one_grant(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()
    callbacks = [await harness.callback(session_id, await harness.pay_silently(session_id, "5000")) for _ in range(3)]

    payments = await asyncio.gather(*(harness.confirmation.on_callback(c) for c in callbacks))

    assert sorted(p.outcome for p in payments) == [PaymentOutcome.GRANTED, PaymentOutcome.SHORT, PaymentOutcome.SHORT]
    [granted] = [p.id for p in payments if p.outcome is PaymentOutcome.GRANTED]
    assert await _grants(harness) == [granted]
    assert (await harness.checkouts.get(session_id)).received_amount == 1_500_000


async def test_an_overpayment_is_granted_and_flagged(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()

    payment = await _record(harness, session_id, "20000")

    assert _flags(await _stored(harness, payment.id)) == (PaymentOutcome.GRANTED, False, True, False)
    assert (await harness.checkouts.get(session_id)).received_amount == 2_000_000
    assert await _grants(harness) == [payment.id]


async def test_a_second_qpay_payment_of_a_paid_session_is_a_duplicate_due_back_and_grants_nothing(
    harness: PaymentHarness,
) -> None:
    session_id = await harness.new_checkout()
    first = await _record(harness, session_id)

    second = await _record(harness, session_id)

    assert second.id != first.id
    assert _flags(await _stored(harness, second.id)) == (PaymentOutcome.DUPLICATE, False, False, True)
    session = await harness.checkouts.get(session_id)
    assert (session.payment_id, session.received_amount) == (first.id, 3_000_000)
    assert await _grants(harness) == [first.id], "no second purchase of the same items"
    assert await harness.count("payments") == 2


async def test_a_payment_after_expiry_is_granted_and_flagged_late(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()
    table = orm.checkout_sessions
    async with harness.database.engine.begin() as conn:
        await conn.execute(update(table).values(expires_at=utcnow() - dt.timedelta(minutes=1)))
    assert (await harness.checkouts.get(session_id)).status is CheckoutStatus.EXPIRED

    payment = await _record(harness, session_id)

    assert _flags(await _stored(harness, payment.id)) == (PaymentOutcome.GRANTED, True, False, False)
    assert (await harness.checkouts.get(session_id)).status is CheckoutStatus.PAID
    assert await _grants(harness) == [payment.id]


async def test_a_payment_after_cancellation_is_granted_and_flagged_late(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()
    await harness.cancellation.cancel(session_id)
    # Money already under way when the invoice was cancelled still reaches QPay.
    qpay_payment_id = await harness.pay_silently(session_id, even_if_cancelled=True)

    payment = await harness.confirmation.on_callback(await harness.callback(session_id, qpay_payment_id))

    assert _flags(await _stored(harness, payment.id)) == (PaymentOutcome.GRANTED, True, False, False)
    session = await harness.checkouts.get(session_id)
    assert (session.status, session.payment_id) == (CheckoutStatus.PAID, payment.id)
    assert session.cancelled_at is not None, "it was cancelled before it was paid"
    assert await _grants(harness) == [payment.id]


async def test_a_late_short_payment_leaves_the_expired_session_expired_and_grants_nothing(
    harness: PaymentHarness,
) -> None:
    session_id = await harness.new_checkout()
    table = orm.checkout_sessions
    async with harness.database.engine.begin() as conn:
        await conn.execute(update(table).values(expires_at=utcnow() - dt.timedelta(minutes=1)))

    payment = await _record(harness, session_id, "1")

    assert _flags(await _stored(harness, payment.id)) == (PaymentOutcome.SHORT, True, False, False)
    assert (await harness.checkouts.get(session_id)).status is CheckoutStatus.EXPIRED
    assert await _grants(harness) == []


async def test_check_payment_adds_up_short_payments_whose_callbacks_were_lost(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()
    await harness.pay_silently(session_id, "7500")
    await harness.pay_silently(session_id, "7500")

    session = await harness.confirmation.check(session_id)

    assert (session.status, session.received_amount) == (CheckoutStatus.PAID, 1_500_000)
    assert await harness.count("payments") == 2 and len(await _grants(harness)) == 1
