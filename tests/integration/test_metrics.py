"""The Prometheus endpoints, scraped over HTTP while a checkout is paid and owned through both services.

Both services run in this process, so they share prometheus-client's registry (and other tests'
counts): every check is a difference between a scrape before and one after.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from entitlement_service.bootstrap import EntitlementApp
from entitlement_service.settings import EntitlementSettings
from paygrant.common.v1.common_pb2 import ItemRef
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

pytestmark = POSTGRES_ONLY

COURSE = ItemRef(kind="course", id="metrics-101")
CREATE_CHECKOUT = "/paygrant.payment.v1.PaymentService/CreateCheckout"
CHECK_OWNERSHIP = "/paygrant.entitlement.v1.EntitlementService/CheckOwnership"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Stack:
    payment: PaymentApp
    entitlement: EntitlementApp
    payments: PaymentServiceStub
    entitlements: EntitlementServiceStub
    sim: SimulatorControl

    async def scrape(self, app: PaymentApp | EntitlementApp) -> Samples:
        """Every sample of the app's /metrics, by name and labels."""
        async with aiohttp.ClientSession() as http, http.get(app.listening["Prometheus metrics"]) as response:
            assert response.status == 200
            assert response.content_type == "text/plain"
            text = await response.text()
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
async def stack(new_database: NewDatabase, redis_url: str, redis_prefix: str) -> AsyncIterator[Stack]:
    async with contextlib.AsyncExitStack() as started:
        simulator = await start_simulator()
        started.push_async_callback(simulator.stop)
        entitlement = EntitlementApp(
            EntitlementSettings(
                entitlement_database_url=await new_database("entitlement"),
                entitlement_grpc_port=0,
                entitlement_metrics_port=0,
                redis_url=redis_url,
                redis_key_prefix=redis_prefix,
            )
        )
        started.push_async_callback(entitlement.stop)
        await entitlement.start()
        payment = PaymentApp(
            PaymentSettings(
                payment_database_url=await new_database("payment"),
                payment_grpc_port=0,
                payment_metrics_port=0,
                callback_port=0,
                qpay_base_url=simulator.base_url,
                entitlement_target=f"127.0.0.1:{entitlement.grpc_port}",
            )
        )
        started.push_async_callback(payment.stop)
        await payment.start()
        payment_channel = grpc.aio.insecure_channel(f"127.0.0.1:{payment.grpc_port}")
        entitlement_channel = grpc.aio.insecure_channel(f"127.0.0.1:{entitlement.grpc_port}")
        started.push_async_callback(payment_channel.close)
        started.push_async_callback(entitlement_channel.close)
        yield Stack(
            payment,
            entitlement,
            PaymentServiceStub(payment_channel),
            EntitlementServiceStub(entitlement_channel),
            SimulatorControl(simulator.base_url),
        )


async def test_a_paid_checkout_moves_the_counters_of_both_services(stack: Stack) -> None:
    payment_before, entitlement_before = await stack.scrape(stack.payment), await stack.scrape(stack.entitlement)
    product = pb.Product(item=COURSE, title="Metrics 101", amount=990_000, active=True)
    await stack.payments.PutProduct(pb.PutProductRequest(product=product))
    with pytest.raises(grpc.aio.AioRpcError):
        await stack.payments.CreateCheckout(pb.CreateCheckoutRequest(user_id="u1", items=[COURSE]))  # no key
    user = f"buyer-{uuid.uuid4().hex[:8]}"
    checkout = await stack.payments.CreateCheckout(
        pb.CreateCheckoutRequest(idempotency_key=uuid.uuid4().hex, user_id=user, items=[COURSE])
    )
    await stack.sim.pay(checkout.invoice.invoice_id)  # QPay calls the service back, which records the payment
    check = epb.CheckOwnershipRequest(user_id=user, item=COURSE)

    async def owned() -> bool:
        return bool((await stack.entitlements.CheckOwnership(check)).owned)

    await eventually(owned, what="the paid course to be owned")
    assert stack.payment.outbox_gauges is not None
    await stack.payment.outbox_gauges.measure()  # the gauges are read every few seconds; read them now

    payment, entitlement = await stack.scrape(stack.payment), await stack.scrape(stack.entitlement)

    def moved(after: Samples, before: Samples, name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    rpc = "paygrant_rpc_duration_seconds_count"
    assert moved(payment, payment_before, rpc, method=CREATE_CHECKOUT, code="OK") == 1
    assert moved(payment, payment_before, rpc, method=CREATE_CHECKOUT, code="INVALID_ARGUMENT") == 1
    qpay = "paygrant_qpay_request_duration_seconds_count"
    assert moved(payment, payment_before, qpay, endpoint="POST /invoice", outcome="ok") == 1
    assert moved(payment, payment_before, qpay, endpoint="GET /payment/{id}", outcome="ok") >= 1  # the callback's check
    assert moved(payment, payment_before, "paygrant_relay_delivery_seconds_count") >= 1
    assert value(payment, "paygrant_outbox_rows", status="SENT") >= 1
    assert value(payment, "paygrant_outbox_rows", status="PENDING") == 0
    assert value(payment, "paygrant_outbox_oldest_pending_age_seconds") == 0
    assert moved(entitlement, entitlement_before, rpc, method=CHECK_OWNERSHIP, code="OK") >= 1
    # The first check after the payment is answered from the memory of the replica that applied it.
    answers = "paygrant_ownership_answers_total"
    assert moved(entitlement, entitlement_before, answers, source="memory") >= 1
