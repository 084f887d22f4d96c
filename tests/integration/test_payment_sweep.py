"""The sparse sweep finds payments whose callback was lost, without polling QPay tightly."""

from __future__ import annotations

import datetime as dt

from paygrant.db import utcnow
from payment_service.domain.checkout import CheckoutStatus
from payment_service.service_layer.payment_sweep import PaymentSweep, SweepWindow
from tests.integration.payment_harness import PaymentHarness

WINDOW = SweepWindow(lead=dt.timedelta(minutes=2), grace=dt.timedelta(hours=1), recheck=dt.timedelta(minutes=5))


async def _expire_in(harness: PaymentHarness, session_id: str, delta: dt.timedelta) -> None:
    async with harness.uow_factory() as uow:
        session = await uow.checkouts.get(session_id)
        assert session is not None
        session.expires_at = utcnow() + delta
        await uow.commit()


async def test_sweep_records_a_paid_session_near_expiry_whose_callback_was_lost(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()
    await harness.pay_silently(session_id)
    await _expire_in(harness, session_id, dt.timedelta(minutes=1))
    sweep = PaymentSweep(harness.uow_factory, harness.confirmation, WINDOW, interval=60)

    assert (await sweep.sweep_once()).checked == 1

    assert (await harness.checkouts.get(session_id)).status is CheckoutStatus.PAID
    assert await harness.count("payments") == 1 and await harness.count("outbox") == 1


async def test_sweep_honours_a_payment_made_after_expiry(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()
    await _expire_in(harness, session_id, -dt.timedelta(minutes=10))
    await harness.pay_silently(session_id)

    await PaymentSweep(harness.uow_factory, harness.confirmation, WINDOW, interval=60).sweep_once()

    assert (await harness.checkouts.get(session_id)).status is CheckoutStatus.PAID


async def test_sweep_leaves_sessions_far_from_expiry_and_rechecks_sparsely(harness: PaymentHarness) -> None:
    far = await harness.new_checkout("key-far", "user-far")  # expires in 15 minutes
    near = await harness.new_checkout("key-near", "user-near")
    await _expire_in(harness, near, dt.timedelta(seconds=30))
    long_gone = await harness.new_checkout("key-old", "user-old")
    await _expire_in(harness, long_gone, -dt.timedelta(hours=2))
    sweep = PaymentSweep(harness.uow_factory, harness.confirmation, WINDOW, interval=60)

    looked_at = [(await sweep.sweep_once()).checked for _ in range(3)]

    assert looked_at == [1, 0, 0], "only the session near expiry, and only once per recheck interval"
    assert harness.simulator.state.requests["payment_check"] == 1
    for session_id in (far, near, long_gone):
        assert (await harness.checkouts.get(session_id)).payment_id is None
