"""CancelCheckout and the Payment flags as callers see them: both services on port 0, QPay's real callbacks.

The callback answers SUCCESS for every payment it recorded for the session (short, late, duplicate),
and the grant reaches the entitlement service only for the payment that completes a session.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import text

from entitlement_service.bootstrap import EntitlementApp
from entitlement_service.settings import EntitlementSettings
from paygrant.common.v1.common_pb2 import ItemRef
from paygrant.db import create_engine
from paygrant.entitlement.v1 import entitlement_pb2 as epb
from paygrant.entitlement.v1.entitlement_pb2_grpc import EntitlementServiceStub
from paygrant.payment.v1 import payment_pb2 as pb
from paygrant.payment.v1.payment_pb2_grpc import PaymentServiceStub
from paygrant.qpay_sim.app import start_simulator
from paygrant.qpay_sim.control_client import SimulatorControl
from payment_service.bootstrap import PaymentApp
from payment_service.settings import PaymentSettings
from tests.conftest import POSTGRES_ONLY, NewDatabase
from tests.waiting import eventually

pytestmark = POSTGRES_ONLY  # over real channels; the use cases run on both backends in their own tests

COURSE = ItemRef(kind="course", id="geometry")  # 12 000.00 MNT
FREEBIE = ItemRef(kind="test", id="placement")


@dataclass
class Services:
    """Both services, the simulator's controls, and the payment database (for what no RPC lists yet)."""

    payment: PaymentServiceStub
    entitlement: EntitlementServiceStub
    sim: SimulatorControl
    payment_database_url: str

    async def checkout(self, user: str, item: ItemRef = COURSE) -> pb.Checkout:
        request = pb.CreateCheckoutRequest(idempotency_key=uuid.uuid4().hex, user_id=user, items=[item])
        checkout: pb.Checkout = await self.payment.CreateCheckout(request)
        return checkout

    async def pay(self, checkout: pb.Checkout, amount: str | None = None, **options: Any) -> dict[str, Any]:
        """Pays at QPay, which calls the callback back at once; returns the simulator's answer."""
        return await self.sim.pay(checkout.invoice.invoice_id, Decimal(amount) if amount else None, **options)

    async def get(self, checkout: pb.Checkout) -> pb.Checkout:
        answer: pb.Checkout = await self.payment.GetCheckout(pb.GetCheckoutRequest(session_id=checkout.session_id))
        return answer

    async def payment_of(self, qpay_payment_id: str) -> pb.Payment:
        """The recorded payment of a QPay payment id, by GetPayment."""
        engine = create_engine(self.payment_database_url)
        try:
            async with engine.connect() as conn:
                query = text("SELECT id FROM payments WHERE qpay_payment_id = :id")
                payment_id = (await conn.execute(query, {"id": qpay_payment_id})).scalar_one()
        finally:
            await engine.dispose()
        payment: pb.Payment = await self.payment.GetPayment(pb.GetPaymentRequest(payment_id=payment_id))
        return payment

    async def owned(self, user: str, item: ItemRef = COURSE) -> bool:
        answer = await self.entitlement.CheckOwnership(epb.CheckOwnershipRequest(user_id=user, item=item))
        return bool(answer.owned)

    async def purchases(self, user: str) -> int:
        return len((await self.entitlement.ListPurchases(epb.ListPurchasesRequest(user_id=user))).purchases)


@pytest.fixture
async def services(new_database: NewDatabase) -> AsyncIterator[Services]:
    simulator = await start_simulator()
    entitlement_app = EntitlementApp(
        EntitlementSettings(entitlement_database_url=await new_database("entitlement"), entitlement_grpc_port=0)
    )
    payment_url = await new_database("payment")
    payment_app: PaymentApp | None = None
    try:
        await entitlement_app.start()
        payment_app = PaymentApp(
            PaymentSettings(
                payment_database_url=payment_url,
                payment_grpc_port=0,
                callback_port=0,
                qpay_base_url=simulator.base_url,
                entitlement_target=f"127.0.0.1:{entitlement_app.grpc_port}",
                relay_poll_seconds=0.1,
                sweep_enabled=False,
            )
        )
        await payment_app.start()
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{payment_app.grpc_port}") as payment_channel,
            grpc.aio.insecure_channel(f"127.0.0.1:{entitlement_app.grpc_port}") as entitlement_channel,
        ):
            payment = PaymentServiceStub(payment_channel)
            for item, amount in ((COURSE, 1_200_000), (FREEBIE, 0)):
                product = pb.Product(item=item, title=item.id, amount=amount, active=True)
                await payment.PutProduct(pb.PutProductRequest(product=product))
            yield Services(
                payment, EntitlementServiceStub(entitlement_channel), SimulatorControl(simulator.base_url), payment_url
            )
    finally:
        if payment_app is not None:
            await payment_app.stop()
        await entitlement_app.stop()
        await simulator.stop()


async def _refusal(call: Any) -> tuple[grpc.StatusCode, list[str]]:
    """The status code and BadRequest field names of a refused call."""
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    fields: list[str] = []
    status = rpc_status.from_call(refused.value)
    for detail in status.details if status else []:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            fields += [violation.field for violation in bad_request.field_violations]
    return refused.value.code(), fields


async def test_cancel_checkout_cancels_invoice_and_session_and_answers_the_same_when_repeated(
    services: Services,
) -> None:
    checkout = await services.checkout("u1")

    cancelled = await services.payment.CancelCheckout(pb.CancelCheckoutRequest(session_id=checkout.session_id))
    again = await services.payment.CancelCheckout(pb.CancelCheckoutRequest(session_id=checkout.session_id))

    assert cancelled.status == again.status == pb.CHECKOUT_STATUS_CANCELLED
    assert cancelled.HasField("cancelled_at") and again.cancelled_at == cancelled.cancelled_at
    assert (await services.sim.invoice(checkout.invoice.invoice_id))["invoice"]["invoice_status"] == "CANCELLED"
    assert (await services.get(checkout)).status == pb.CHECKOUT_STATUS_CANCELLED


async def test_cancel_checkout_refusals_name_the_session(services: Services) -> None:
    free = await services.checkout("u1", FREEBIE)
    cases = [
        (pb.CancelCheckoutRequest(), grpc.StatusCode.INVALID_ARGUMENT),
        (pb.CancelCheckoutRequest(session_id="missing"), grpc.StatusCode.NOT_FOUND),
        (pb.CancelCheckoutRequest(session_id=free.session_id), grpc.StatusCode.FAILED_PRECONDITION),
    ]
    for request, code in cases:
        assert await _refusal(services.payment.CancelCheckout(request)) == (code, ["session_id"])


async def test_a_payment_after_cancellation_is_answered_success_granted_and_shown_late(services: Services) -> None:
    checkout = await services.checkout("u1")
    await services.payment.CancelCheckout(pb.CancelCheckoutRequest(session_id=checkout.session_id))

    paid = await services.pay(checkout, even_if_cancelled=True)

    assert paid["callback_status"] == 200
    session = await services.get(checkout)
    assert (session.status, session.HasField("cancelled_at")) == (pb.CHECKOUT_STATUS_PAID, True)
    payment = await services.payment.GetPayment(pb.GetPaymentRequest(payment_id=session.payment_id))
    assert (payment.outcome, payment.late, payment.overpaid, payment.refund_due) == (
        pb.PAYMENT_OUTCOME_GRANTED,
        True,
        False,
        False,
    )
    await eventually(lambda: services.owned("u1"), what="the late payment's grant")


async def test_short_payments_are_answered_success_and_grant_once_they_cover_the_amount(services: Services) -> None:
    checkout = await services.checkout("u1")

    short = await services.pay(checkout, "10000")

    assert short["callback_status"] == 200, "SUCCESS: the short payment was recorded"
    session = await services.get(checkout)
    assert (session.status, session.received_amount, session.payment_id) == (pb.CHECKOUT_STATUS_PENDING, 1_000_000, "")
    assert (await services.payment_of(short["payment_id"])).outcome == pb.PAYMENT_OUTCOME_SHORT

    rest = await services.pay(checkout, "2500")

    assert rest["callback_status"] == 200
    session = await services.get(checkout)
    assert (session.status, session.received_amount) == (pb.CHECKOUT_STATUS_PAID, 1_250_000)
    completing = await services.payment_of(rest["payment_id"])
    assert (completing.payment_id, completing.outcome, completing.overpaid) == (
        session.payment_id,
        pb.PAYMENT_OUTCOME_GRANTED,
        True,
    )
    await eventually(lambda: services.owned("u1"), what="the grant of the payment that covered the amount")
    assert await services.purchases("u1") == 1


async def test_a_second_payment_is_answered_success_flagged_for_refund_and_buys_nothing_again(
    services: Services,
) -> None:
    checkout = await services.checkout("u1")
    first = await services.pay(checkout)
    await eventually(lambda: services.owned("u1"), what="the first payment's grant")

    second = await services.pay(checkout)

    assert second["callback_status"] == 200, "SUCCESS: the duplicate was recorded"
    duplicate = await services.payment_of(second["payment_id"])
    assert (duplicate.outcome, duplicate.refund_due, duplicate.late) == (pb.PAYMENT_OUTCOME_DUPLICATE, True, False)
    session = await services.get(checkout)
    granted = await services.payment_of(first["payment_id"])
    assert (session.payment_id, session.received_amount) == (granted.payment_id, 2_400_000)
    assert await services.purchases("u1") == 1
