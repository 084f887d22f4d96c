"""The whole saga with real processes: checkout -> QPay -> callback -> outbox -> relay -> owned."""

from __future__ import annotations

import asyncio
import sys
import uuid
from asyncio.subprocess import PIPE, STDOUT

import aiohttp

from paygrant.entitlement.v1 import entitlement_pb2, entitlement_pb2_grpc
from paygrant.payment.v1 import payment_pb2, payment_pb2_grpc
from tests.e2e.conftest import COURSE, PRICE
from tests.e2e.stack import Stack
from tests.waiting import eventually

Payments = payment_pb2_grpc.PaymentServiceStub
Entitlements = entitlement_pb2_grpc.EntitlementServiceStub


async def _checkout(payments: Payments, user: str) -> payment_pb2.Checkout:
    request = payment_pb2.CreateCheckoutRequest(idempotency_key=uuid.uuid4().hex, user_id=user, items=[COURSE])
    checkout: payment_pb2.Checkout = await payments.CreateCheckout(request)
    return checkout


async def _owns(entitlements: Entitlements, user: str) -> bool:
    reply = await entitlements.CheckOwnership(entitlement_pb2.CheckOwnershipRequest(user_id=user, item=COURSE))
    return bool(reply.owned)


async def _grants(stack: Stack) -> tuple[int, int, int]:
    """(payments recorded, outbox rows, purchases granted), read straight from both databases."""
    return (
        await stack.count(stack.payment_db_url, "SELECT count(*) FROM payments"),
        await stack.count(stack.payment_db_url, "SELECT count(*) FROM outbox"),
        await stack.count(stack.entitlement_db_url, "SELECT count(*) FROM purchases"),
    )


async def _callback_url(stack: Stack, invoice_id: str) -> str:
    record = await stack.sim.invoice(invoice_id)
    url: str = record["invoice"]["callback_url"]
    return url


async def test_checkout_paid_at_qpay_becomes_ownership(
    stack: Stack, payments: Payments, entitlements: Entitlements
) -> None:
    checkout = await _checkout(payments, "ana")
    assert checkout.status == payment_pb2.CHECKOUT_STATUS_PENDING
    assert checkout.amount == PRICE and checkout.invoice.qr_text and checkout.invoice.deeplinks
    assert not await _owns(entitlements, "ana")

    paid = await stack.sim.pay(checkout.invoice.invoice_id)
    assert paid["callback_status"] == 200

    await eventually(lambda: _owns(entitlements, "ana"), what="ana to own the course")
    session = await payments.GetCheckout(payment_pb2.GetCheckoutRequest(session_id=checkout.session_id))
    assert session.status == payment_pb2.CHECKOUT_STATUS_PAID
    payment = await payments.GetPayment(payment_pb2.GetPaymentRequest(payment_id=session.payment_id))
    assert (payment.qpay_payment_id, payment.amount) == (paid["payment_id"], PRICE)
    assert await _grants(stack) == (1, 1, 1)


async def test_duplicated_callback_grants_once(stack: Stack, payments: Payments, entitlements: Entitlements) -> None:
    await stack.sim.set_faults(callback="duplicate")
    checkout = await _checkout(payments, "bat")

    await stack.sim.pay(checkout.invoice.invoice_id)

    await eventually(lambda: _owns(entitlements, "bat"), what="bat to own the course")
    record = await stack.sim.invoice(checkout.invoice.invoice_id)
    assert len(record["callbacks"]) == 2, "the simulator should have called back twice"
    assert await _grants(stack) == (1, 1, 1)
    listed = await entitlements.ListEntitlements(entitlement_pb2.ListEntitlementsRequest(user_id="bat"))
    assert [(e.item.kind, e.item.id) for e in listed.entitlements] == [(COURSE.kind, COURSE.id)]


async def test_callback_with_wrong_secret_grants_nothing(
    stack: Stack, payments: Payments, entitlements: Entitlements
) -> None:
    await stack.sim.set_faults(callback="drop")
    checkout = await _checkout(payments, "dorj")
    paid = await stack.sim.pay(checkout.invoice.invoice_id)
    url = await _callback_url(stack, checkout.invoice.invoice_id)
    forged = url.replace("secret=", "secret=x") + f"&qpay_payment_id={paid['payment_id']}"

    async with aiohttp.ClientSession() as http, http.get(forged) as reply:
        assert reply.status == 403
        assert "secret" in await reply.text()

    assert await _grants(stack) == (0, 0, 0)
    assert not await _owns(entitlements, "dorj")


async def test_callback_for_an_unpaid_invoice_grants_nothing(
    stack: Stack, payments: Payments, entitlements: Entitlements
) -> None:
    checkout = await _checkout(payments, "enkh")
    url = await _callback_url(stack, checkout.invoice.invoice_id)

    async with aiohttp.ClientSession() as http:
        async with http.get(url + "&qpay_payment_id=no-such-payment") as reply:
            assert reply.status == 409
        unpaid = await stack.sim.pay(checkout.invoice.invoice_id, status="NEW")
        assert unpaid["callback_status"] == 409

    assert await _grants(stack) == (0, 0, 0)
    session = await payments.GetCheckout(payment_pb2.GetCheckoutRequest(session_id=checkout.session_id))
    assert session.status == payment_pb2.CHECKOUT_STATUS_PENDING
    assert not await _owns(entitlements, "enkh")


async def test_grant_arrives_once_the_entitlement_service_is_back(
    stack: Stack, payments: Payments, entitlements: Entitlements
) -> None:
    checkout = await _checkout(payments, "gerel")
    await stack.stop("entitlement")

    await stack.sim.pay(checkout.invoice.invoice_id)

    async def delivery_failed() -> bool:
        sql = "SELECT count(*) FROM outbox WHERE status = 'PENDING' AND attempts >= 2"
        return await stack.count(stack.payment_db_url, sql) == 1

    await eventually(delivery_failed, what="the relay to fail delivering at least twice")
    assert await stack.count(stack.payment_db_url, "SELECT count(*) FROM payments") == 1
    await stack.start("entitlement")
    await eventually(lambda: _owns(entitlements, "gerel"), what="gerel to own the course after the restart")
    assert await stack.count(stack.payment_db_url, "SELECT count(*) FROM outbox WHERE status = 'SENT'") == 1
    assert await _grants(stack) == (1, 1, 1)


async def test_a_relay_running_alone_delivers_the_grant(
    stack: Stack, payments: Payments, entitlements: Entitlements
) -> None:
    await stack.stop("payment")
    await stack.start("payment", PAYGRANT_RELAY_ENABLED="false")
    checkout = await _checkout(payments, "khulan")

    await stack.sim.pay(checkout.invoice.invoice_id)

    pending = "SELECT count(*) FROM outbox WHERE status = 'PENDING'"
    assert await stack.count(stack.payment_db_url, pending) == 1, "no relay should run in the payment service now"
    await stack.start("relay")
    await eventually(lambda: _owns(entitlements, "khulan"), what="the standalone relay to deliver the grant")
    assert await _grants(stack) == (1, 1, 1)


async def test_a_lost_callback_is_recovered_by_the_sweep(
    stack: Stack, payments: Payments, entitlements: Entitlements
) -> None:
    await stack.stop("payment")
    await stack.start("payment", PAYGRANT_SWEEP_INTERVAL_SECONDS="0.3", PAYGRANT_SWEEP_LEAD_SECONDS="3600")
    await stack.sim.set_faults(callback="drop")
    checkout = await _checkout(payments, "mönkh")

    await stack.sim.pay(checkout.invoice.invoice_id)

    await eventually(lambda: _owns(entitlements, "mönkh"), what="the sweep to find the payment QPay never announced")
    assert await _grants(stack) == (1, 1, 1)
    record = await stack.sim.invoice(checkout.invoice.invoice_id)
    assert record["callbacks"] == [], "QPay never called back: only the sweep can have found it"


async def test_demo_command_turns_a_checkout_into_ownership(stack: Stack) -> None:
    demo = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "paygrant_cli", "demo", env=stack.env(), stdout=PIPE, stderr=STDOUT
    )
    output = (await asyncio.wait_for(demo.communicate(), 60))[0].decode()
    assert demo.returncode == 0, output
    assert "owns it: False" in output and "CHECKOUT_STATUS_PAID" in output
    assert output.rstrip().endswith("owns it: True")
