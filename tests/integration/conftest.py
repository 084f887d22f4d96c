"""Fixtures of the payment-service integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import CreateDatabase
from tests.integration.payment_harness import PaymentHarness, make_database_url, open_harness


@pytest.fixture(params=["postgresql", "sqlite"])
async def payment_db_url(request: pytest.FixtureRequest, create_pg_database: CreateDatabase, tmp_path: Path) -> str:
    """A fresh payment database, once on PostgreSQL and once on SQLite."""
    return await make_database_url(request, create_pg_database, tmp_path)


@pytest.fixture
async def harness(payment_db_url: str) -> AsyncIterator[PaymentHarness]:
    """The payment use cases over that database and an in-process QPay simulator."""
    async for opened in open_harness(payment_db_url):
        yield opened
