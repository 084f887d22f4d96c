"""Fixtures of the payment-service integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import NewDatabase
from tests.integration.payment_harness import PaymentHarness, open_harness


@pytest.fixture
async def harness(new_database: NewDatabase) -> AsyncIterator[PaymentHarness]:
    """The payment use cases over a fresh payment database (on each backend) and an in-process QPay simulator."""
    async with open_harness(await new_database("payment")) as opened:
        yield opened
