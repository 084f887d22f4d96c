"""`paygrant demo`: buy a course on the running stack and watch the ownership check turn."""

from __future__ import annotations

import asyncio
import uuid

from paygrant.common.v1 import common_pb2
from paygrant.entitlement.v1 import entitlement_pb2, entitlement_pb2_grpc
from paygrant.grpc_channel import open_channel
from paygrant.payment.v1 import payment_pb2, payment_pb2_grpc
from paygrant.qpay_sim.control_client import SimulatorControl
from paygrant_cli.settings import CliSettings


async def run_demo(settings: CliSettings, wait_seconds: float = 15.0) -> int:
    """Runs the purchase end to end and prints each step; 0 when the course ends up owned.

    With credentials configured, the payment token needs the operator and gateway roles and
    the entitlement token the reader role.
    """
    course = common_pb2.ItemRef(kind="course", id="intro-to-qpay")
    user = f"demo-user-{uuid.uuid4().hex[:6]}"
    async with (
        open_channel(settings.payment_target, settings.payment_channel()) as pay_channel,
        open_channel(settings.entitlement_target, settings.entitlement_channel()) as ent_channel,
    ):
        payments = payment_pb2_grpc.PaymentServiceStub(pay_channel)
        entitlements = entitlement_pb2_grpc.EntitlementServiceStub(ent_channel)
        product = payment_pb2.Product(item=course, title="Intro to QPay", amount=4_900_000, currency="MNT", active=True)
        await payments.PutProduct(payment_pb2.PutProductRequest(product=product))
        print(f"1. catalog: course/{course.id} costs {product.amount / 100:,.2f} MNT")

        async def owned() -> bool:
            answer = await entitlements.CheckOwnership(entitlement_pb2.CheckOwnershipRequest(user_id=user, item=course))
            return bool(answer.owned)

        print(f"2. {user} owns it: {await owned()}")
        checkout = await payments.CreateCheckout(
            payment_pb2.CreateCheckoutRequest(idempotency_key=uuid.uuid4().hex, user_id=user, items=[course])
        )
        print(
            f"3. checkout {checkout.session_id}: {checkout.amount / 100:,.2f} {checkout.currency}, "
            f"QPay invoice {checkout.invoice.invoice_id}, pay at {checkout.invoice.short_url}"
        )
        paid = await SimulatorControl(settings.qpay_base_url).pay(checkout.invoice.invoice_id)
        print(f"4. customer paid through QPay (payment {paid['payment_id']}); QPay called back")
        deadline = asyncio.get_running_loop().time() + wait_seconds
        while not await owned():
            if asyncio.get_running_loop().time() > deadline:
                print(f"5. {user} still does not own course/{course.id} after {wait_seconds:.0f}s: something is wrong")
                return 1
            await asyncio.sleep(0.2)
        session = await payments.GetCheckout(payment_pb2.GetCheckoutRequest(session_id=checkout.session_id))
        print(f"5. checkout is {payment_pb2.CheckoutStatus.Name(session.status)}; {user} owns it: {await owned()}")
        return 0
