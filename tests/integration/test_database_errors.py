"""Driver errors are translated by constraint name: only the unique key asked about becomes a domain error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Insert

from paygrant.db import NAMING_CONVENTION, create_engine, is_unavailable, unique_violations, violated_constraint
from tests.conftest import CreateDatabase

metadata = MetaData(naming_convention=NAMING_CONVENTION)
owners = Table("owners", metadata, Column("id", Integer, primary_key=True))
things = Table(
    "things",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(16), nullable=False),
    Column("owner_id", Integer, ForeignKey("owners.id")),
    Column("slot", Integer),
    Column("shelf", Integer),
    UniqueConstraint("code"),
    UniqueConstraint("slot", "shelf"),
)


class TakenFirst(Exception):
    """What a caller asked a unique violation to become."""


@pytest.fixture
async def engine(backend: str, create_pg_database: CreateDatabase, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = await create_pg_database("errors") if backend == "postgresql" else f"sqlite+aiosqlite:///{tmp_path}/e.db"
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(owners.insert().values(id=1))
        await conn.execute(things.insert().values(id=1, code="a", owner_id=1, slot=1, shelf=1))
    yield engine
    await engine.dispose()


async def _violation(engine: AsyncEngine, statement: Insert) -> IntegrityError:
    with pytest.raises(IntegrityError) as raised:
        async with engine.begin() as conn:
            await conn.execute(statement)
    return raised.value


@pytest.mark.parametrize(
    ("values", "constraint"),
    [
        ({"id": 1, "code": "b"}, "pk_things"),
        ({"id": 2, "code": "a"}, "uq_things_code"),
        ({"id": 2, "code": "b", "slot": 1, "shelf": 1}, "uq_things_slot_shelf"),
        ({"id": 2, "code": None}, None),  # NOT NULL
        ({"id": 2, "code": "b", "owner_id": 99}, None),  # foreign key
    ],
    ids=["primary-key", "unique", "composite-unique", "not-null", "foreign-key"],
)
async def test_each_violation_is_named_by_its_constraint_and_only_unique_ones_are(
    engine: AsyncEngine, values: dict[str, object], constraint: str | None
) -> None:
    error = await _violation(engine, things.insert().values(**values))

    assert violated_constraint(error, metadata) == constraint


async def test_a_mapped_unique_violation_becomes_the_asked_error(engine: AsyncEngine) -> None:
    error = await _violation(engine, things.insert().values(id=2, code="a"))

    with pytest.raises(TakenFirst), unique_violations(metadata, {"uq_things_code": TakenFirst}):
        raise error


@pytest.mark.parametrize("values", [{"id": 2, "code": None}, {"id": 1, "code": "b"}], ids=["not-null", "other-key"])
async def test_any_other_violation_passes_through_unchanged(engine: AsyncEngine, values: dict[str, object]) -> None:
    error = await _violation(engine, things.insert().values(**values))

    with pytest.raises(IntegrityError) as raised, unique_violations(metadata, {"uq_things_code": TakenFirst}):
        raise error
    assert raised.value is error
    assert not is_unavailable(error), "a constraint violation is a bug to see, not an outage to retry"


async def test_a_database_that_refuses_connections_is_unavailable(refused_port: int) -> None:
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{refused_port}/nowhere")
    try:
        with pytest.raises(Exception) as raised:
            async with engine.connect():
                pass
    finally:
        await engine.dispose()
    assert is_unavailable(raised.value)
