"""The end-to-end stack fixture."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from paygrant.common.v1 import common_pb2
from paygrant.entitlement.v1 import entitlement_pb2_grpc
from paygrant.payment.v1 import payment_pb2, payment_pb2_grpc
from tests.conftest import NewDatabase
from tests.e2e.stack import Stack

COURSE = common_pb2.ItemRef(kind="course", id="calculus-2")
PRICE = 2_990_000


@pytest.fixture
def backend() -> str:
    """The end-to-end stack runs as production does: on PostgreSQL."""
    return "postgresql"


@pytest.fixture
async def stack(new_database: NewDatabase, redis_url: str, redis_prefix: str, tmp_path: Path) -> AsyncIterator[Stack]:
    """Simulator, entitlement and payment services running as processes, with a course on sale."""
    running = Stack(
        payment_db_url=await new_database("payment"),
        entitlement_db_url=await new_database("entitlement"),
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        log_dir=tmp_path,
    )
    try:
        for name in ("qpay-sim", "entitlement", "payment"):
            await running.start(name)
        async with grpc.aio.insecure_channel(running.payment_target) as channel:
            product = payment_pb2.Product(item=COURSE, title="Calculus II", amount=PRICE, currency="MNT", active=True)
            await payment_pb2_grpc.PaymentServiceStub(channel).PutProduct(
                payment_pb2.PutProductRequest(product=product)
            )
        yield running
    finally:
        await running.stop_all()


@pytest.fixture
async def payments(stack: Stack) -> AsyncIterator[payment_pb2_grpc.PaymentServiceStub]:
    async with grpc.aio.insecure_channel(stack.payment_target) as channel:
        yield payment_pb2_grpc.PaymentServiceStub(channel)


@pytest.fixture
async def entitlements(stack: Stack) -> AsyncIterator[entitlement_pb2_grpc.EntitlementServiceStub]:
    async with grpc.aio.insecure_channel(stack.entitlement_target) as channel:
        yield entitlement_pb2_grpc.EntitlementServiceStub(channel)


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process (this test) listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]
