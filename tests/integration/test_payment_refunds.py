"""RefundPayment: the money goes back through QPay (card payments) or is recorded as returned outside it.

Against the real simulator, on each database: what QPay did is read from the simulator, what was
recorded from the database, and the revoke is the PaymentRefunded outbox row (its delivery to the
entitlement service is tested over gRPC in test_payment_grpc).
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from payment_service.adapters import orm
from payment_service.domain.checkout import CheckoutStatus
from payment_service.domain.errors import Conflict, InvalidRequest, NotFound, UpstreamUnavailable
from payment_service.domain.payment import Payment, PaymentOutcome, PaymentStatus
from payment_service.domain.refund import PaymentSettled, RefundRequest
from payment_service.service_layer.catalog import PutProduct, put_product
from payment_service.service_layer.checkout import CreateCheckout
from tests.integration.payment_harness import COURSE, PaymentHarness


def _request(
    payment_id: str, key: str = "refund-1", *, external: bool = False, reason: str = "asked for"
) -> RefundRequest:
    return RefundRequest(payment_id, reason, "ops-anna", key, external)


async def _paid(
    harness: PaymentHarness, *, key: str = "key-1", amount: str | None = None, card: bool = True
) -> Payment:
    """A recorded payment of a new checkout (or of the checkout of `key`), by card unless told otherwise."""
    session_id = await harness.new_checkout(key)
    qpay_payment_id = await harness.pay_silently(session_id, amount, payment_type="CARD" if card else "P2P")
    return await harness.confirmation.on_callback(await harness.callback(session_id, qpay_payment_id))


async def _stored(harness: PaymentHarness, payment_id: str) -> Payment:
    async with harness.uow_factory() as uow:
        payment = await uow.payments.get(payment_id)
    assert payment is not None
    return payment


async def _events(harness: PaymentHarness) -> list[tuple[str, str]]:
    """(event type, payment id) of every outbox row, oldest first."""
    table = orm.outbox
    async with harness.database.engine.connect() as conn:
        rows = await conn.execute(select(table.c.event_type, table.c.payment_id).order_by(table.c.id))
        return [(row.event_type, row.payment_id) for row in rows]


async def _qpay_status(harness: PaymentHarness, payment: Payment) -> str:
    record = await harness.sim.invoice(await harness.invoice_id(payment.session_id))
    [found] = [p for p in record["payments"] if p["payment_id"] == payment.qpay_payment_id]
    return str(found["payment_status"])


async def _qpay_refund_calls(harness: PaymentHarness) -> int:
    return (await harness.sim.requests()).get("payment_refund", 0)


async def test_a_card_payment_is_refunded_through_qpay_recorded_and_its_grant_revoked(harness: PaymentHarness) -> None:
    payment = await _paid(harness)

    refunded, session = await harness.refunds.refund(_request(payment.id))

    assert await _qpay_status(harness, payment) == "REFUNDED", "QPay returned the money"
    stored = await _stored(harness, payment.id)
    assert stored.status is PaymentStatus.REFUNDED and stored.refunded_at is not None
    assert stored.refund_record is not None
    assert (stored.refund_record.reason, stored.refund_record.refunded_by, stored.refund_record.external) == (
        "asked for",
        "ops-anna",
        False,
    )
    assert await _events(harness) == [("PaymentCompleted", payment.id), ("PaymentRefunded", payment.id)]
    assert (session.status, session.received_amount) == (CheckoutStatus.PAID, 0)
    assert refunded.id == payment.id and refunded.status is PaymentStatus.REFUNDED


async def test_a_settled_payment_is_refused_unless_the_refund_was_made_outside_qpay(harness: PaymentHarness) -> None:
    payment = await _paid(harness, card=False)

    with pytest.raises(PaymentSettled) as refused:
        await harness.refunds.refund(_request(payment.id))
    assert refused.value.field == "external"
    assert (await _stored(harness, payment.id)).status is PaymentStatus.PAID, "nothing recorded"
    assert await _events(harness) == [("PaymentCompleted", payment.id)]
    calls = await _qpay_refund_calls(harness)

    await harness.refunds.refund(_request(payment.id, "refund-2", external=True))

    stored = await _stored(harness, payment.id)
    assert stored.status is PaymentStatus.REFUNDED
    assert stored.refund_record is not None and stored.refund_record.external
    assert await _qpay_refund_calls(harness) == calls, "an external refund asks QPay nothing"
    assert await _qpay_status(harness, payment) == "PAID", "QPay's record is QPay's"
    assert await _events(harness) == [("PaymentCompleted", payment.id), ("PaymentRefunded", payment.id)]


async def test_the_same_request_twice_refunds_once(harness: PaymentHarness) -> None:
    payment = await _paid(harness)

    first, _ = await harness.refunds.refund(_request(payment.id))
    again, _ = await harness.refunds.refund(_request(payment.id))

    assert await _qpay_refund_calls(harness) == 1
    assert again.refunded_at == first.refunded_at
    assert await _events(harness) == [("PaymentCompleted", payment.id), ("PaymentRefunded", payment.id)]


async def test_concurrent_refunds_of_one_payment_record_one_refund(harness: PaymentHarness) -> None:
    payment = await _paid(harness)

    answers = await asyncio.gather(
        *(harness.refunds.refund(_request(payment.id, key)) for key in ("refund-1", "refund-1", "refund-2"))
    )

    assert {refunded.refunded_at for refunded, _ in answers} == {(await _stored(harness, payment.id)).refunded_at}
    assert await _events(harness) == [("PaymentCompleted", payment.id), ("PaymentRefunded", payment.id)]
    assert (await harness.checkouts.get(payment.session_id)).received_amount == 0, "its money left once"


async def test_a_key_reused_for_another_request_is_a_conflict(harness: PaymentHarness) -> None:
    payment = await _paid(harness)
    other = await _paid(harness, key="key-2")
    await harness.refunds.refund(_request(payment.id))

    for reused in (_request(other.id), _request(payment.id, reason="another reason")):
        with pytest.raises(Conflict) as refused:
            await harness.refunds.refund(reused)
        assert refused.value.field == "idempotency_key"
    assert (await _stored(harness, other.id)).status is PaymentStatus.PAID


async def test_a_refunded_payment_is_answered_as_it_is(harness: PaymentHarness) -> None:
    payment = await _paid(harness)
    first, _ = await harness.refunds.refund(_request(payment.id))
    calls = await _qpay_refund_calls(harness)

    again, _ = await harness.refunds.refund(_request(payment.id, "refund-2", reason="once more", external=True))

    assert again.refunded_at == first.refunded_at
    assert again.refund_record is not None and again.refund_record.reason == "asked for"
    assert await _qpay_refund_calls(harness) == calls
    assert await _events(harness) == [("PaymentCompleted", payment.id), ("PaymentRefunded", payment.id)]


async def test_with_qpay_unreachable_nothing_is_recorded_and_a_retry_refunds(harness: PaymentHarness) -> None:
    payment = await _paid(harness)
    await harness.sim.set_faults(fail={"payment_refund": {"status": 503, "times": 10}})

    with pytest.raises(UpstreamUnavailable):
        await harness.refunds.refund(_request(payment.id))
    assert (await _stored(harness, payment.id)).status is PaymentStatus.PAID
    assert await _events(harness) == [("PaymentCompleted", payment.id)]

    await harness.sim.clear_faults()
    await harness.refunds.refund(_request(payment.id))
    assert (await _stored(harness, payment.id)).status is PaymentStatus.REFUNDED


async def test_a_refund_qpay_made_whose_answer_was_lost_is_recorded_on_retry(harness: PaymentHarness) -> None:
    payment = await _paid(harness)
    assert payment.qpay_payment_id is not None
    await harness.provider.refund_payment(payment.qpay_payment_id)  # QPay acted; the service never heard

    await harness.refunds.refund(_request(payment.id))

    assert (await _stored(harness, payment.id)).status is PaymentStatus.REFUNDED
    assert await _events(harness) == [("PaymentCompleted", payment.id), ("PaymentRefunded", payment.id)]


async def test_a_refunded_short_payment_revokes_nothing_and_stops_counting(harness: PaymentHarness) -> None:
    short = await _paid(harness, amount="10000")  # of 15 000.00 MNT
    assert short.outcome is PaymentOutcome.SHORT

    await harness.refunds.refund(_request(short.id))

    assert await _events(harness) == [], "it granted nothing, so nothing is revoked"
    session = await harness.checkouts.get(short.session_id)
    assert (session.status, session.received_amount) == (CheckoutStatus.PENDING, 0)
    cancelled = await harness.cancellation.cancel(short.session_id)
    assert cancelled.status is CheckoutStatus.CANCELLED, "no money is held for it any more"


async def test_refunding_a_grant_completed_by_short_payments_makes_their_money_due_back(
    harness: PaymentHarness,
) -> None:
    short = await _paid(harness, amount="10000")  # of 15 000.00 MNT
    refunded_short = await _paid(harness, amount="2000")
    granted = await _paid(harness, amount="13000")  # 12 000.00 held, then 13 000.00 more: covered
    outcomes = [p.outcome for p in (short, refunded_short, granted)]
    assert outcomes == [PaymentOutcome.SHORT, PaymentOutcome.SHORT, PaymentOutcome.GRANTED]
    await harness.refunds.refund(_request(refunded_short.id, "refund-short"))
    assert not (await _stored(harness, short.id)).refund_due, "while the grant stands, its money bought it"

    await harness.refunds.refund(_request(granted.id, "refund-granted"))

    assert (await _stored(harness, short.id)).refund_due, "the grant it helped pay for is revoked"
    assert not (await _stored(harness, refunded_short.id)).refund_due, "its money went back already"
    assert (await _events(harness))[-1] == ("PaymentRefunded", granted.id)
    assert (await harness.checkouts.get(short.session_id)).received_amount == 1_000_000
    await harness.refunds.refund(_request(short.id, "refund-last-short"))
    assert not (await _stored(harness, short.id)).refund_due


async def test_a_refunded_duplicate_is_no_longer_due_and_the_grant_stays(harness: PaymentHarness) -> None:
    first = await _paid(harness)
    duplicate = await _paid(harness)  # the same checkout (key-1), paid again
    assert (duplicate.outcome, duplicate.refund_due) == (PaymentOutcome.DUPLICATE, True)

    await harness.refunds.refund(_request(duplicate.id))

    stored = await _stored(harness, duplicate.id)
    assert (stored.status, stored.refund_due) == (PaymentStatus.REFUNDED, False)
    assert await _events(harness) == [("PaymentCompleted", first.id)], "the first payment's grant stays"
    assert (await harness.checkouts.get(first.session_id)).received_amount == 1_500_000


async def test_a_free_checkout_is_refunded_without_qpay(harness: PaymentHarness) -> None:
    await put_product(PutProduct(COURSE, "Algebra I", 0, "MNT", True), harness.uow_factory)
    session = await harness.checkouts.create(CreateCheckout("free-1", "user-1", (COURSE,)))
    assert session.payment_id is not None

    await harness.refunds.refund(_request(session.payment_id))

    assert (await _stored(harness, session.payment_id)).status is PaymentStatus.REFUNDED
    assert await _qpay_refund_calls(harness) == 0
    assert ("PaymentRefunded", session.payment_id) in await _events(harness)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"payment_id": ""}, "payment_id"),
        ({"payment_id": "p\x00"}, "payment_id"),
        ({"reason": "  "}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"reason": "red\x1b[31m"}, "reason"),
        ({"actor": ""}, "actor"),
        ({"idempotency_key": "k" * 129}, "idempotency_key"),
    ],
)
async def test_malformed_requests_are_refused_naming_the_field(
    harness: PaymentHarness, change: dict[str, str], field: str
) -> None:
    fields = {"payment_id": "p-1", "reason": "asked for", "actor": "ops", "idempotency_key": "k-1"} | change
    with pytest.raises(InvalidRequest) as refused:
        await harness.refunds.refund(RefundRequest(external=False, **fields))
    assert refused.value.field == field


async def test_an_unknown_payment_is_not_found(harness: PaymentHarness) -> None:
    with pytest.raises(NotFound) as refused:
        await harness.refunds.refund(_request("no-such-payment"))
    assert refused.value.field == "payment_id"
