"""The payment service as callers see it: PaymentApp on port 0, every RPC over a real channel."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from entitlement_service.bootstrap import EntitlementApp
from entitlement_service.settings import EntitlementSettings
from paygrant.common.v1.common_pb2 import ItemRef
from paygrant.entitlement.v1 import entitlement_pb2, entitlement_pb2_grpc
from paygrant.errors import CannotServe
from paygrant.payment.v1 import payment_pb2 as pb
from paygrant.payment.v1.payment_pb2_grpc import PaymentServiceStub
from paygrant.qpay_sim.app import RunningSimulator, start_simulator
from paygrant.qpay_sim.control_client import SimulatorControl
from payment_service.bootstrap import SERVICE_NAME, PaymentApp
from payment_service.settings import PaymentSettings
from tests.conftest import POSTGRES_ONLY, NewDatabase
from tests.waiting import eventually

pytestmark = POSTGRES_ONLY  # the service over a real channel; both backends are covered by the use-case tests

COURSE = ItemRef(kind="course", id="geometry")
FREEBIE = ItemRef(kind="test", id="placement")


@pytest.fixture
async def simulator() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator()
    yield running
    await running.stop()


@pytest.fixture
async def entitlement_port(new_database: NewDatabase) -> AsyncIterator[int]:
    app = EntitlementApp(
        EntitlementSettings(entitlement_database_url=await new_database("entitlement"), entitlement_grpc_port=0)
    )
    await app.start()
    yield app.grpc_port
    await app.stop()


@pytest.fixture
async def channel(
    new_database: NewDatabase, simulator: RunningSimulator, entitlement_port: int
) -> AsyncIterator[grpc.aio.Channel]:
    settings = PaymentSettings(
        payment_database_url=await new_database("payment"),
        payment_grpc_port=0,
        callback_port=0,  # QPay is given the bound address
        qpay_base_url=simulator.base_url,
        entitlement_target=f"127.0.0.1:{entitlement_port}",
        relay_poll_seconds=0.1,
    )
    app = PaymentApp(settings)
    await app.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
        stub = PaymentServiceStub(channel)
        for item, amount in ((COURSE, 1_200_000), (FREEBIE, 0)):
            product = pb.Product(item=item, title=f"{item.kind} {item.id}", amount=amount, active=True)
            await stub.PutProduct(pb.PutProductRequest(product=product))
        yield channel
    await app.stop()


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> Any:
    return PaymentServiceStub(channel)


def _checkout(user: str, *items: ItemRef, key: str | None = None) -> pb.CreateCheckoutRequest:
    return pb.CreateCheckoutRequest(idempotency_key=key or uuid.uuid4().hex, user_id=user, items=list(items))


async def _refusal(call: Any) -> tuple[grpc.StatusCode, str, list[str]]:
    """The status code, message and BadRequest field names of a refused call."""
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    error = refused.value
    fields: list[str] = []
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            fields += [violation.field for violation in bad_request.field_violations]
    return error.code(), error.details() or "", fields


async def test_health_is_serving_and_reflection_lists_the_service(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    answer = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = [s.name async for reply in replies for s in reply.list_services_response.service]
    assert SERVICE_NAME in names and "grpc.health.v1.Health" in names


async def test_catalog_lists_what_was_put(stub: Any) -> None:
    listed = await stub.ListProducts(pb.ListProductsRequest())
    assert [(p.item.kind, p.item.id, p.amount, p.currency) for p in listed.products] == [
        ("course", "geometry", 1_200_000, "MNT"),
        ("test", "placement", 0, "MNT"),
    ]
    only_tests = await stub.ListProducts(pb.ListProductsRequest(kind="test"))
    assert [p.item.id for p in only_tests.products] == ["placement"]


@pytest.mark.parametrize(
    ("request_", "code", "field"),
    [
        (pb.CreateCheckoutRequest(user_id="u", items=[COURSE]), grpc.StatusCode.INVALID_ARGUMENT, "idempotency_key"),
        (pb.CreateCheckoutRequest(idempotency_key="k", items=[COURSE]), grpc.StatusCode.INVALID_ARGUMENT, "user_id"),
        (pb.CreateCheckoutRequest(idempotency_key="k", user_id="u"), grpc.StatusCode.INVALID_ARGUMENT, "items"),
        (
            pb.CreateCheckoutRequest(idempotency_key="k", user_id="u", items=[COURSE, COURSE]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "items[1]",
        ),
        (
            pb.CreateCheckoutRequest(idempotency_key="k", user_id="u", items=[ItemRef(kind="Course!", id="x")]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "items[0].kind",
        ),
        (
            pb.CreateCheckoutRequest(idempotency_key="k", user_id="u", items=[ItemRef(kind="course", id="nope")]),
            grpc.StatusCode.NOT_FOUND,
            "items[0]",
        ),
    ],
)
async def test_bad_checkout_requests_are_refused_naming_the_field(
    stub: Any, request_: pb.CreateCheckoutRequest, code: grpc.StatusCode, field: str
) -> None:
    got_code, message, fields = await _refusal(stub.CreateCheckout(request_))
    assert (got_code, fields) == (code, [field])
    assert message.startswith(f"{field}: ")


async def test_other_bad_requests_are_refused_naming_the_field(stub: Any) -> None:
    cases = [
        (stub.GetCheckout(pb.GetCheckoutRequest()), grpc.StatusCode.INVALID_ARGUMENT, "session_id"),
        (stub.GetCheckout(pb.GetCheckoutRequest(session_id="missing")), grpc.StatusCode.NOT_FOUND, "session_id"),
        (stub.CheckPayment(pb.CheckPaymentRequest()), grpc.StatusCode.INVALID_ARGUMENT, "session_id"),
        (stub.GetPayment(pb.GetPaymentRequest(payment_id="missing")), grpc.StatusCode.NOT_FOUND, "payment_id"),
        (stub.PutProduct(pb.PutProductRequest()), grpc.StatusCode.INVALID_ARGUMENT, "product"),
        (
            stub.PutProduct(pb.PutProductRequest(product=pb.Product(item=COURSE, title="x", amount=-1))),
            grpc.StatusCode.INVALID_ARGUMENT,
            "product.amount",
        ),
        (
            stub.PutProduct(pb.PutProductRequest(product=pb.Product(item=COURSE, title="x", currency="XYZ"))),
            grpc.StatusCode.INVALID_ARGUMENT,
            "product.currency",
        ),
    ]
    for call, code, field in cases:
        got_code, message, fields = await _refusal(call)
        assert (got_code, fields) == (code, [field])
        assert message.startswith(f"{field}: ")


async def test_reused_idempotency_key_with_another_request_is_refused(stub: Any) -> None:
    first = await stub.CreateCheckout(_checkout("u1", COURSE, key="order-1"))
    again = await stub.CreateCheckout(_checkout("u1", COURSE, key="order-1"))
    assert again.session_id == first.session_id and again.invoice.invoice_id == first.invoice.invoice_id

    code, message, fields = await _refusal(stub.CreateCheckout(_checkout("u2", COURSE, key="order-1")))
    assert "different checkout request" in message
    assert (code, fields) == (grpc.StatusCode.ALREADY_EXISTS, ["idempotency_key"])


async def test_inactive_product_cannot_be_checked_out(stub: Any) -> None:
    await stub.PutProduct(
        pb.PutProductRequest(product=pb.Product(item=COURSE, title="Geometry", amount=1, active=False))
    )
    code, _, fields = await _refusal(stub.CreateCheckout(_checkout("u1", COURSE)))
    assert (code, fields) == (grpc.StatusCode.FAILED_PRECONDITION, ["items[0]"])


async def test_free_cart_completes_without_qpay_and_is_owned(stub: Any, entitlement_port: int) -> None:
    checkout = await stub.CreateCheckout(_checkout("u1", FREEBIE))
    assert (checkout.status, checkout.amount, checkout.HasField("invoice")) == (pb.CHECKOUT_STATUS_PAID, 0, False)
    payment = await stub.GetPayment(pb.GetPaymentRequest(payment_id=checkout.payment_id))
    assert (payment.status, payment.amount, payment.qpay_payment_id) == (pb.PAYMENT_STATUS_PAID, 0, "")

    async with grpc.aio.insecure_channel(f"127.0.0.1:{entitlement_port}") as channel:
        entitlements = entitlement_pb2_grpc.EntitlementServiceStub(channel)

        async def owned() -> bool:
            request = entitlement_pb2.CheckOwnershipRequest(user_id="u1", item=FREEBIE)
            return bool((await entitlements.CheckOwnership(request)).owned)

        await eventually(owned, what="the free item to be owned")
        answer = await entitlements.CheckOwnership(entitlement_pb2.CheckOwnershipRequest(user_id="u1", item=FREEBIE))
        assert answer.source == entitlement_pb2.SOURCE_FREE

    code, _, fields = await _refusal(stub.CreateCheckout(_checkout("u1", FREEBIE)))
    assert (code, fields) == (grpc.StatusCode.FAILED_PRECONDITION, ["items[0]"]), "an owned item cannot be bought again"


async def test_check_payment_finds_a_payment_whose_callback_was_dropped(stub: Any, simulator: RunningSimulator) -> None:
    sim = SimulatorControl(simulator.base_url)
    await sim.set_faults(callback="drop")
    checkout = await stub.CreateCheckout(_checkout("u1", COURSE))
    await sim.pay(checkout.invoice.invoice_id)
    assert (await stub.GetCheckout(pb.GetCheckoutRequest(session_id=checkout.session_id))).status == (
        pb.CHECKOUT_STATUS_PENDING
    )

    checked = await stub.CheckPayment(pb.CheckPaymentRequest(session_id=checkout.session_id))

    assert checked.status == pb.CHECKOUT_STATUS_PAID and checked.payment_id


async def test_qpays_callback_reaches_the_listeners_bound_address_when_no_public_url_is_set(
    stub: Any, simulator: RunningSimulator
) -> None:
    checkout = await stub.CreateCheckout(_checkout("u1", COURSE))

    paid = await SimulatorControl(simulator.base_url).pay(checkout.invoice.invoice_id)

    assert paid["callback_status"] == 200
    answer = await stub.GetCheckout(pb.GetCheckoutRequest(session_id=checkout.session_id))
    assert answer.status == pb.CHECKOUT_STATUS_PAID


async def test_a_start_that_fails_midway_leaves_nothing_running(new_database: NewDatabase) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = PaymentSettings(
            payment_database_url=await new_database("payment"),
            payment_grpc_port=0,
            callback_port=taken.getsockname()[1],  # the callback listener cannot bind: start fails late
        )
        app = PaymentApp(settings)
        with pytest.raises(CannotServe, match=r"cannot listen on 127\.0\.0\.1"):
            await app.start()

    assert (app.relay, app.grpc_port, app.listening) == (None, 0, {})
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_a_refund_returns_a_card_payment_and_revokes_its_grant(
    stub: Any, simulator: RunningSimulator, entitlement_port: int
) -> None:
    sim = SimulatorControl(simulator.base_url)
    card = await stub.CreateCheckout(_checkout("u1", COURSE))
    await sim.pay(card.invoice.invoice_id, payment_type="CARD")  # its callback records the payment
    ownership = entitlement_pb2.CheckOwnershipRequest(user_id="u1", item=COURSE)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{entitlement_port}") as channel:
        entitlements = entitlement_pb2_grpc.EntitlementServiceStub(channel)

        async def owned() -> bool:
            return bool((await entitlements.CheckOwnership(ownership)).owned)

        async def revoked() -> bool:
            return not await owned()

        await eventually(owned, what="the paid course to be owned")
        paid = await stub.GetCheckout(pb.GetCheckoutRequest(session_id=card.session_id))
        request = pb.RefundPaymentRequest(
            payment_id=paid.payment_id, reason="changed their mind", actor="ops-anna", idempotency_key="r-1"
        )

        refunded = await stub.RefundPayment(request)

        assert refunded.status == pb.PAYMENT_STATUS_REFUNDED
        assert (refunded.refund.reason, refunded.refund.refunded_by, refunded.refund.external) == (
            "changed their mind",
            "ops-anna",
            False,
        )
        assert refunded.refund.HasField("refunded_at")
        await eventually(revoked, what="the refunded course to be revoked")
        assert await stub.RefundPayment(request) == refunded, "the same request answers the same refund"


async def test_a_refund_of_a_settled_payment_needs_external_and_bad_refunds_are_refused(
    stub: Any, simulator: RunningSimulator
) -> None:
    transfer = await stub.CreateCheckout(_checkout("u2", COURSE))
    await SimulatorControl(simulator.base_url).pay(transfer.invoice.invoice_id)  # a bank transfer
    paid = await stub.CheckPayment(pb.CheckPaymentRequest(session_id=transfer.session_id))
    request = pb.RefundPaymentRequest(payment_id=paid.payment_id, reason="r", actor="ops", idempotency_key="r-2")

    code, message, fields = await _refusal(stub.RefundPayment(request))
    assert (code, fields) == (grpc.StatusCode.FAILED_PRECONDITION, ["external"]) and "settled" in message
    request.external = True
    assert (await stub.RefundPayment(request)).refund.external

    refused = {
        grpc.StatusCode.NOT_FOUND: pb.RefundPaymentRequest(
            payment_id="nope", reason="r", actor="ops", idempotency_key="r-3"
        ),
        grpc.StatusCode.INVALID_ARGUMENT: pb.RefundPaymentRequest(
            payment_id=paid.payment_id, reason=" ", actor="ops", idempotency_key="r-4"
        ),
        grpc.StatusCode.ALREADY_EXISTS: pb.RefundPaymentRequest(
            payment_id=paid.payment_id, reason="other", actor="ops", idempotency_key="r-2"
        ),
    }
    answers = {}
    for expected, bad in refused.items():
        code, _, fields = await _refusal(stub.RefundPayment(bad))
        answers[expected] = (code, fields)
    assert answers == {
        grpc.StatusCode.NOT_FOUND: (grpc.StatusCode.NOT_FOUND, ["payment_id"]),
        grpc.StatusCode.INVALID_ARGUMENT: (grpc.StatusCode.INVALID_ARGUMENT, ["reason"]),
        grpc.StatusCode.ALREADY_EXISTS: (grpc.StatusCode.ALREADY_EXISTS, ["idempotency_key"]),
    }
