"""Recording a payment: payment, paid session and outbox row commit together or not at all."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from paygrant.contract_rules import MAX_AMOUNT
from payment_service.adapters import orm
from payment_service.domain.catalog import ItemRef
from payment_service.domain.checkout import CheckoutStatus
from payment_service.domain.errors import AlreadyRecorded, Conflict, Forbidden, InvalidRequest
from payment_service.domain.payment import PaymentRejected
from payment_service.service_layer.catalog import PutProduct, put_product
from payment_service.service_layer.checkout import CreateCheckout
from payment_service.service_layer.payment_confirmation import PaymentConfirmation
from payment_service.service_layer.unit_of_work import UnitOfWork
from tests.integration.payment_harness import CHECK_INTERVAL, COURSE, PaymentHarness


async def test_callback_records_payment_session_and_outbox_row_together(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()
    qpay_payment_id = await harness.pay_silently(session_id)

    payment = await harness.confirmation.on_callback(await harness.callback(session_id, qpay_payment_id))

    session = await harness.checkouts.get(session_id)
    assert session.status is CheckoutStatus.PAID and session.payment_id == payment.id
    assert payment.amount == 1_500_000 and payment.qpay_payment_id == qpay_payment_id
    async with harness.database.engine.connect() as conn:
        rows = (await conn.execute(select(orm.outbox))).mappings().all()
    assert [(r["event_type"], r["payment_id"], r["status"]) for r in rows] == [
        ("PaymentCompleted", payment.id, "PENDING")
    ]
    assert rows[0]["payload"]["items"] == [{"kind": "course", "id": "algebra-1", "amount": 1_500_000}]


async def test_a_failure_before_commit_leaves_neither_payment_nor_outbox_row(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()
    qpay_payment_id = await harness.pay_silently(session_id)

    class DiesBeforeCommit(AsyncSession):
        async def commit(self) -> None:
            await self.flush()  # the payment and outbox INSERTs reach the database...
            raise RuntimeError("process died before COMMIT")  # ...and the transaction never commits

    crashing_sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
        harness.database.engine, class_=DiesBeforeCommit
    )
    crashing = PaymentConfirmation(lambda: UnitOfWork(crashing_sessions), harness.provider, CHECK_INTERVAL)
    with pytest.raises(RuntimeError, match="before COMMIT"):
        await crashing.on_callback(await harness.callback(session_id, qpay_payment_id))

    assert await harness.count("payments") == 0
    assert await harness.count("outbox") == 0
    assert (await harness.checkouts.get(session_id)).status is CheckoutStatus.PENDING


async def test_duplicate_callback_records_once(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()
    qpay_payment_id = await harness.pay_silently(session_id)
    callback = await harness.callback(session_id, qpay_payment_id)

    first = await harness.confirmation.on_callback(callback)
    second = await harness.confirmation.on_callback(callback)

    assert first.id == second.id
    assert await harness.count("payments") == 1
    assert await harness.count("outbox") == 1


async def test_wrong_secret_is_refused_and_records_nothing(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()
    qpay_payment_id = await harness.pay_silently(session_id)

    with pytest.raises(Forbidden):
        await harness.confirmation.on_callback(await harness.callback(session_id, qpay_payment_id, "guessed-secret"))

    assert await harness.count("payments") == 0 and await harness.count("outbox") == 0


async def test_payment_of_another_invoice_is_rejected(harness: PaymentHarness) -> None:
    paid_session = await harness.new_checkout("key-a", "user-a")
    other_session = await harness.new_checkout("key-b", "user-b")
    qpay_payment_id = await harness.pay_silently(paid_session)

    with pytest.raises(PaymentRejected, match="not for the invoice"):
        await harness.confirmation.on_callback(await harness.callback(other_session, qpay_payment_id))

    assert await harness.count("payments") == 0


async def test_a_payment_recorded_for_another_session_does_not_confirm_this_one(harness: PaymentHarness) -> None:
    session_a = await harness.new_checkout("key-a", "user-a")
    session_b = await harness.new_checkout("key-b", "user-b")
    paid_b = await harness.pay_silently(session_b)
    await harness.confirmation.on_callback(await harness.callback(session_b, paid_b))

    # Session A's own secret, with session B's already-recorded payment.
    with pytest.raises(PaymentRejected, match="not for the invoice") as refused:
        await harness.confirmation.on_callback(await harness.callback(session_a, paid_b))

    assert refused.value.field == "qpay_payment_id"
    assert (await harness.checkouts.get(session_a)).status is CheckoutStatus.PENDING
    assert await harness.count("payments") == 1 and await harness.count("outbox") == 1


async def test_a_cart_whose_total_overflows_int64_opens_no_invoice_at_qpay(harness: PaymentHarness) -> None:
    await harness.new_checkout()  # an ordinary checkout, so the count below is seen to move
    gold = [ItemRef("course", "gold-1"), ItemRef("course", "gold-2")]
    for item in gold:
        await put_product(PutProduct(item, "Gold", MAX_AMOUNT // 2 + 1, "MNT", True), harness.uow_factory)
    opened = (await harness.sim.requests())["invoice_create"]

    with pytest.raises(InvalidRequest) as refused:
        await harness.checkouts.create(CreateCheckout("key-gold", "user-1", tuple(gold)))

    assert refused.value.field == "items"
    assert opened == 1 and (await harness.sim.requests())["invoice_create"] == opened
    assert await harness.count("checkout_sessions") == 1


async def test_check_payment_records_a_payment_whose_callback_was_lost(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()
    await harness.pay_silently(session_id)

    session = await harness.confirmation.check(session_id)

    assert session.status is CheckoutStatus.PAID
    assert await harness.count("payments") == 1 and await harness.count("outbox") == 1


async def test_same_idempotency_key_returns_the_same_checkout(harness: PaymentHarness) -> None:
    first = await harness.checkouts.create(CreateCheckout("key-1", "user-1", (COURSE,)))
    again = await harness.checkouts.create(CreateCheckout("key-1", "user-1", (COURSE,)))

    assert again.id == first.id
    assert await harness.count("checkout_sessions") == 1
    with pytest.raises(Conflict, match="idempotency_key") as refused:
        await harness.checkouts.create(CreateCheckout("key-1", "someone-else", (COURSE,)))
    assert not isinstance(refused.value, AlreadyRecorded)


async def test_concurrent_retries_with_one_key_make_one_checkout(harness: PaymentHarness) -> None:
    command = CreateCheckout("key-race", "user-1", (COURSE,))

    sessions = await asyncio.gather(*(harness.checkouts.create(command) for _ in range(4)))

    assert len({s.id for s in sessions}) == 1
    assert await harness.count("checkout_sessions") == 1 and await harness.count("invoices") == 1
    # Retries that raced to QPay made invoices of their own; only the winner's may stay payable.
    invoices = harness.simulator.state.invoices.values()
    assert [i.invoice_id for i in invoices if i.status == "OPEN"] == [sessions[0].invoice.invoice_id]  # type: ignore[union-attr]
    assert all(i.status == "CANCELLED" for i in invoices if i.invoice_id != sessions[0].invoice.invoice_id)  # type: ignore[union-attr]


async def test_check_payment_asks_qpay_at_most_once_per_interval(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()
    await harness.confirmation.check(session_id)  # nothing paid yet: QPay is asked, finds nothing
    await harness.pay_silently(session_id)

    hammered = await asyncio.gather(*(harness.confirmation.check(session_id) for _ in range(5)))

    assert {s.status for s in hammered} == {CheckoutStatus.PENDING}, "inside the interval QPay is not asked again"
    assert harness.simulator.state.requests["payment_check"] == 1
    patient = PaymentConfirmation(harness.uow_factory, harness.provider, dt.timedelta(0))
    assert (await patient.check(session_id)).status is CheckoutStatus.PAID
    assert harness.simulator.state.requests["payment_check"] == 2


async def test_concurrent_duplicate_callbacks_record_once(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()
    qpay_payment_id = await harness.pay_silently(session_id)
    callback = await harness.callback(session_id, qpay_payment_id)

    payments = await asyncio.gather(*(harness.confirmation.on_callback(callback) for _ in range(5)))

    assert len({p.id for p in payments}) == 1
    assert await harness.count("payments") == 1 and await harness.count("outbox") == 1
