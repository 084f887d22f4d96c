"""GetCheckout over a real channel with PAYGRANT_REDIS_URL set: Redis flushed or down, the database answers."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from redis.asyncio import Redis

from entitlement_service.bootstrap import EntitlementApp
from entitlement_service.settings import EntitlementSettings
from paygrant.common.v1.common_pb2 import ItemRef
from paygrant.payment.v1 import payment_pb2 as pb
from paygrant.payment.v1.payment_pb2_grpc import PaymentServiceStub
from paygrant.qpay_sim.app import RunningSimulator, start_simulator
from paygrant.qpay_sim.control_client import SimulatorControl
from payment_service.adapters.redis_session_cache import RedisSessionCache
from payment_service.bootstrap import PaymentApp
from payment_service.settings import PaymentSettings
from tests.conftest import POSTGRES_ONLY, NewDatabase

pytestmark = POSTGRES_ONLY  # the service over a real channel; the use cases are tested on both backends

COURSE = ItemRef(kind="course", id="geometry")


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


@contextlib.asynccontextmanager
async def _service(
    new_database: NewDatabase, simulator: RunningSimulator, entitlement_port: int, redis_url: str, prefix: str
) -> AsyncIterator[tuple[Any, RedisSessionCache]]:
    app = PaymentApp(
        PaymentSettings(
            payment_database_url=await new_database("payment"),
            payment_grpc_port=0,
            callback_port=0,
            qpay_base_url=simulator.base_url,
            entitlement_target=f"127.0.0.1:{entitlement_port}",
            redis_url=redis_url,
            redis_key_prefix=prefix,
            sweep_enabled=False,
        )
    )
    await app.start()
    try:
        assert isinstance(app.session_cache, RedisSessionCache)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            stub = PaymentServiceStub(channel)
            product = pb.Product(item=COURSE, title="Geometry", amount=1_200_000, active=True)
            await stub.PutProduct(pb.PutProductRequest(product=product))
            yield stub, app.session_cache
    finally:
        await app.stop()


async def _checkout_and_pay(stub: Any, simulator: RunningSimulator) -> tuple[str, pb.Checkout]:
    """A checkout polled once (cached PENDING), then paid at QPay; the session id and GetCheckout's answer."""
    request = pb.CreateCheckoutRequest(idempotency_key=uuid.uuid4().hex, user_id="u1", items=[COURSE])
    checkout = await stub.CreateCheckout(request)
    polled = await stub.GetCheckout(pb.GetCheckoutRequest(session_id=checkout.session_id))
    assert polled.status == pb.CHECKOUT_STATUS_PENDING
    return checkout.session_id, checkout


async def test_getcheckout_answers_paid_when_redis_was_flushed_between_checkout_and_payment(
    new_database: NewDatabase,
    simulator: RunningSimulator,
    entitlement_port: int,
    redis: Redis,
    redis_url: str,
    redis_prefix: str,
) -> None:
    async with _service(new_database, simulator, entitlement_port, redis_url, redis_prefix) as (stub, cache):
        session_id, checkout = await _checkout_and_pay(stub, simulator)
        # The session's own key: scanning for the prefix would walk the whole keyspace, and on a busy Redis
        # outlast the pending entry's TTL.
        key = f"{redis_prefix}:session:{session_id}"
        assert await redis.exists(key)
        await redis.delete(key)  # the service's keys gone, as after FLUSHALL or a restart without persistence

        paid = await SimulatorControl(simulator.base_url).pay(checkout.invoice.invoice_id)

        assert paid["callback_status"] == 200
        answer = await stub.GetCheckout(pb.GetCheckoutRequest(session_id=session_id))
        assert answer.status == pb.CHECKOUT_STATUS_PAID and answer.payment_id
        assert await redis.exists(f"{redis_prefix}:session:{session_id}") == 1  # written through again
        assert cache.fallbacks == 0


async def test_getcheckout_answers_from_the_database_while_redis_is_down(
    new_database: NewDatabase, simulator: RunningSimulator, entitlement_port: int, refused_port: int
) -> None:
    down = f"redis://127.0.0.1:{refused_port}/0"
    async with _service(new_database, simulator, entitlement_port, down, "paygrant-down") as (stub, cache):
        session_id, checkout = await _checkout_and_pay(stub, simulator)

        paid = await SimulatorControl(simulator.base_url).pay(checkout.invoice.invoice_id)

        assert paid["callback_status"] == 200
        answer = await stub.GetCheckout(pb.GetCheckoutRequest(session_id=session_id))
        assert answer.status == pb.CHECKOUT_STATUS_PAID and answer.payment_id
        assert cache.fallbacks > 0
