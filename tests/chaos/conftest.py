"""Fixtures of the chaos run: a PostgreSQL of its own (the run restarts it), Redis, and the stack on them."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from paygrant.grpc_channel import open_channel
from paygrant.payment.v1 import payment_pb2, payment_pb2_grpc
from tests.chaos.plan import products
from tests.chaos.stack import GATEWAY, ChaosStack
from tests.private_postgres import PrivatePostgres, private_postgres

# Fixed, so a failing run can be replayed: PAYGRANT_CHAOS_SEED=<seed> make chaos.
DEFAULT_SEED = 20260606
# Process logs of every run are kept here (pytest's temporary folders are rotated by other runs).
LOG_ROOT = Path(__file__).resolve().parents[2] / "var" / "chaos"


@pytest.fixture
def seed() -> int:
    """The seed of every random choice of the run."""
    return int(os.environ.get("PAYGRANT_CHAOS_SEED", DEFAULT_SEED))


@pytest.fixture
def log_dir(seed: int) -> Path:
    """Where this run's process logs go: var/chaos/<time>-seed<seed>/."""
    folder = LOG_ROOT / f"{time.strftime('%Y%m%d-%H%M%S')}-seed{seed}"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server only this run uses: both services' databases live on it, so a restart hits both."""
    with private_postgres() as server:
        yield server


@pytest.fixture
async def redis(redis_url: str, redis_prefix: str) -> AsyncIterator[Redis]:
    """The suite's Redis; the run's keys (its own prefix) are removed afterwards."""
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        keys = [key async for key in client.scan_iter(match=f"{redis_prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
async def chaos_stack(
    postgres: PrivatePostgres, redis: Redis, redis_url: str, redis_prefix: str, log_dir: Path
) -> AsyncIterator[ChaosStack]:
    """Simulator, entitlement service, payment service and a separate relay, with the catalog on sale."""
    admin = await asyncpg.connect(postgres.dsn)
    try:
        for name in ("payment", "entitlement"):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    stack = ChaosStack(
        payment_db_url=postgres.url("payment"),
        entitlement_db_url=postgres.url("entitlement"),
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        log_dir=log_dir,
    )
    try:
        for name in ("qpay-sim", "entitlement", "payment", "relay"):
            await stack.start(name)
        async with open_channel(stack.payment_target, GATEWAY) as channel:
            catalog = payment_pb2_grpc.PaymentServiceStub(channel)
            for product in products():
                await catalog.PutProduct(payment_pb2.PutProductRequest(product=product))
        yield stack
    finally:
        await stack.stop_all()
