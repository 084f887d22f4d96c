"""CancelCheckout: QPay's invoice first, then the session; never a paid one, never half done."""

from __future__ import annotations

import datetime as dt

import aiohttp
import pytest
from sqlalchemy import select, update

from paygrant.db import utcnow
from payment_service.adapters import orm
from payment_service.domain.checkout import CheckoutStatus
from payment_service.domain.errors import InvalidRequest, InvalidTransition, NotFound, UpstreamUnavailable
from tests.integration.payment_harness import PaymentHarness


async def _invoice_status(harness: PaymentHarness, session_id: str) -> str:
    """The invoice's status at QPay: OPEN, PAID or CANCELLED."""
    return str((await harness.sim.invoice(await harness.invoice_id(session_id)))["invoice"]["invoice_status"])


async def _stored(harness: PaymentHarness, session_id: str) -> tuple[str, dt.datetime | None]:
    table = orm.checkout_sessions
    async with harness.database.engine.connect() as conn:
        row = (await conn.execute(select(table.c.status, table.c.cancelled_at).where(table.c.id == session_id))).one()
    return row.status, row.cancelled_at


async def test_cancel_cancels_the_qpay_invoice_and_stores_the_session_cancelled(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()

    cancelled = await harness.cancellation.cancel(session_id)

    assert cancelled.status is CheckoutStatus.CANCELLED and cancelled.cancelled_at is not None
    assert await _stored(harness, session_id) == ("CANCELLED", cancelled.cancelled_at)
    assert await _invoice_status(harness, session_id) == "CANCELLED"


async def test_cancelling_a_cancelled_session_changes_nothing_and_asks_qpay_nothing(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()
    first = await harness.cancellation.cancel(session_id)

    again = await harness.cancellation.cancel(session_id)

    assert (again.status, again.cancelled_at) == (CheckoutStatus.CANCELLED, first.cancelled_at)
    assert harness.simulator.state.requests["invoice_cancel"] == 1


async def test_a_paid_session_cannot_be_cancelled_and_its_invoice_stays_paid(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()
    qpay_payment_id = await harness.pay_silently(session_id)
    await harness.confirmation.on_callback(await harness.callback(session_id, qpay_payment_id))

    with pytest.raises(InvalidTransition, match="already paid") as refused:
        await harness.cancellation.cancel(session_id)

    assert refused.value.field == "session_id"
    assert (await _stored(harness, session_id))[0] == "PAID"
    assert harness.simulator.state.requests["invoice_cancel"] == 0


async def test_cancel_of_an_invoice_qpay_reports_paid_records_the_payment_and_is_refused(
    harness: PaymentHarness,
) -> None:
    session_id = await harness.new_checkout()
    await harness.pay_silently(session_id)  # paid at QPay; its callback is lost

    with pytest.raises(InvalidTransition, match="QPay reports its invoice paid"):
        await harness.cancellation.cancel(session_id)

    assert (await _stored(harness, session_id))[0] == "PAID"
    assert await harness.count("payments") == 1 and await harness.count("outbox") == 1
    assert await _invoice_status(harness, session_id) == "PAID"


async def test_a_partly_paid_session_is_not_cancelled_and_its_invoice_stays_open(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()
    qpay_payment_id = await harness.pay_silently(session_id, "100")
    await harness.confirmation.on_callback(await harness.callback(session_id, qpay_payment_id))

    with pytest.raises(InvalidTransition, match="has received 10000 of 1500000"):
        await harness.cancellation.cancel(session_id)

    assert (await _stored(harness, session_id))[0] == "PENDING"
    assert await _invoice_status(harness, session_id) == "OPEN"


async def test_an_expired_session_can_be_cancelled(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()
    async with harness.database.engine.begin() as conn:
        await conn.execute(update(orm.checkout_sessions).values(expires_at=utcnow() - dt.timedelta(minutes=1)))
    assert (await harness.checkouts.get(session_id)).status is CheckoutStatus.EXPIRED

    assert (await harness.cancellation.cancel(session_id)).status is CheckoutStatus.CANCELLED
    assert await _invoice_status(harness, session_id) == "CANCELLED"


async def test_with_qpay_unreachable_nothing_is_cancelled_and_a_retry_finishes_the_job(
    harness: PaymentHarness,
) -> None:
    session_id = await harness.new_checkout()
    await harness.sim.set_faults(fail={"invoice_cancel": {"status": 503, "times": 1}})

    with pytest.raises(UpstreamUnavailable):
        await harness.cancellation.cancel(session_id)
    assert (await _stored(harness, session_id))[0] == "PENDING"

    assert (await harness.cancellation.cancel(session_id)).status is CheckoutStatus.CANCELLED


async def test_an_invoice_cancelled_at_qpay_by_an_earlier_try_counts_as_cancelled(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()
    await harness.provider.cancel_invoice(await harness.invoice_id(session_id))  # a try that died before its write

    assert (await harness.cancellation.cancel(session_id)).status is CheckoutStatus.CANCELLED
    assert harness.simulator.state.requests["invoice_cancel"] == 2


async def test_unknown_and_malformed_sessions_are_refused_naming_the_field(harness: PaymentHarness) -> None:
    with pytest.raises(NotFound) as missing:
        await harness.cancellation.cancel("no-such-session")
    with pytest.raises(InvalidRequest) as malformed:
        await harness.cancellation.cancel("")

    assert missing.value.field == malformed.value.field == "session_id"
    assert harness.simulator.state.requests["invoice_cancel"] == 0


async def test_an_invoice_qpay_does_not_know_counts_as_unpayable(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()
    harness.simulator.state.invoices.clear()  # QPay answers 422 INVOICE_NOTFOUND for it

    assert (await harness.cancellation.cancel(session_id)).status is CheckoutStatus.CANCELLED


async def test_qpay_takes_no_payment_on_a_cancelled_invoice_unless_money_was_already_under_way(
    harness: PaymentHarness,
) -> None:
    session_id = await harness.new_checkout()
    await harness.cancellation.cancel(session_id)
    invoice_id = await harness.invoice_id(session_id)

    with pytest.raises(aiohttp.ClientResponseError) as refused:
        await harness.sim.pay(invoice_id)
    assert refused.value.status == 409
    assert (await harness.sim.pay(invoice_id, even_if_cancelled=True))["invoice_status"] == "CANCELLED"
