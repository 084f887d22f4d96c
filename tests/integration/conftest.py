"""Fixtures of the integration tests: the payment harness, and a Redis client of the test's own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tests.conftest import NewDatabase
from tests.integration.payment_harness import PaymentHarness, open_harness


@pytest.fixture
async def harness(new_database: NewDatabase) -> AsyncIterator[PaymentHarness]:
    """The payment use cases over a fresh payment database (on each backend) and an in-process QPay simulator."""
    async with open_harness(await new_database("payment")) as opened:
        yield opened


@pytest.fixture
async def redis(redis_url: str, redis_prefix: str) -> AsyncIterator[Redis]:
    """A Redis client of the test's own, for what an operator would do (redis_prefix removes the test's keys)."""
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()
