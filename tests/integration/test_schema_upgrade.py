"""Migrations: replicas starting together on one PostgreSQL database all come up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from entitlement_service.bootstrap import MIGRATIONS_DIR
from paygrant.db import create_engine, upgrade_to_head
from payment_service.bootstrap import MIGRATIONS
from tests.conftest import CreateDatabase


@pytest.mark.parametrize("migrations", [MIGRATIONS, MIGRATIONS_DIR], ids=["payment", "entitlement"])
async def test_concurrent_upgrades_of_a_fresh_database_all_succeed(
    create_pg_database: CreateDatabase, migrations: Path
) -> None:
    url = await create_pg_database("upgrade")
    engines = [create_engine(url) for _ in range(3)]
    try:
        # Without the upgrade lock the replicas block each other; fail rather than hang.
        await asyncio.wait_for(asyncio.gather(*(upgrade_to_head(engine, migrations) for engine in engines)), 60)
        async with engines[0].connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        assert versions == ["0001"]
    finally:
        for engine in engines:
            await engine.dispose()
