"""Migrations: they build exactly the models' schema, and replicas starting together all come up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData, text

from entitlement_service.adapters.orm import SCHEMA as ENTITLEMENT_SCHEMA
from paygrant.db import create_engine, upgrade_to_head
from payment_service.adapters.orm import SCHEMA as PAYMENT_SCHEMA
from tests.conftest import CreateDatabase

HISTORIES = pytest.mark.parametrize(
    ("migrations", "metadata", "head"),
    [
        (PAYMENT_SCHEMA.migrations, PAYMENT_SCHEMA.metadata, "0009"),
        (ENTITLEMENT_SCHEMA.migrations, ENTITLEMENT_SCHEMA.metadata, "0003"),
    ],
    ids=["payment", "entitlement"],
)


@HISTORIES
@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
async def test_migrations_build_exactly_the_schema_the_models_declare(
    create_pg_database: CreateDatabase, tmp_path: Path, backend: str, migrations: Path, metadata: MetaData, head: str
) -> None:
    url = await create_pg_database("schema") if backend == "postgresql" else f"sqlite+aiosqlite:///{tmp_path}/s.db"
    engine = create_engine(url)

    def differences(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))

    try:
        await upgrade_to_head(engine, migrations)
        async with engine.connect() as conn:
            assert await conn.run_sync(differences) == []
            assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one() == head
    finally:
        await engine.dispose()


@HISTORIES
async def test_concurrent_upgrades_of_a_fresh_database_all_succeed(
    create_pg_database: CreateDatabase, migrations: Path, metadata: MetaData, head: str
) -> None:
    url = await create_pg_database("upgrade")
    engines = [create_engine(url) for _ in range(3)]
    try:
        # Without the upgrade lock the replicas block each other; fail rather than hang.
        await asyncio.wait_for(asyncio.gather(*(upgrade_to_head(engine, migrations) for engine in engines)), 60)
        async with engines[0].connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        assert versions == [head]
    finally:
        for engine in engines:
            await engine.dispose()
