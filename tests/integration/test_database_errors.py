"""Driver errors as the services see them, produced for real.

A unique violation is translated by constraint name: only the unique key asked about becomes a
domain error. An outage (refused, cut off, starting up, shutting down, pool exhausted, SQLite
locked or unopenable) is recognised as one (UNAVAILABLE, retryable); a bug never is. Outages
that need the server itself to go down run against a private server (tests/private_postgres.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, UniqueConstraint, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql import Insert

from paygrant import db
from paygrant.db import NAMING_CONVENTION, create_engine, is_unavailable, unique_violations, violated_constraint
from tests.conftest import CreateDatabase
from tests.private_postgres import PrivatePostgres, private_postgres
from tests.waiting import eventually

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


async def _failure(engine: AsyncEngine, statement: str = "SELECT 1") -> BaseException:
    """What running `statement` on `engine` raises."""
    with pytest.raises(Exception) as raised:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    return raised.value


@pytest.mark.parametrize("statement", ["SELEC 1", "SELECT * FROM no_such_table", "SELECT no_such_column FROM things"])
async def test_a_bug_in_a_statement_is_not_an_outage(engine: AsyncEngine, statement: str) -> None:
    # SQLite reports a syntax error or a missing table as OperationalError, the class of its outages too.
    assert not is_unavailable(await _failure(engine, statement))


async def test_a_pool_with_no_free_connection_is_unavailable(create_pg_database: CreateDatabase) -> None:
    engine = create_async_engine(await create_pg_database("pool"), pool_size=1, max_overflow=0, pool_timeout=0.05)
    try:
        async with engine.connect():
            failure = await _failure(engine)
    finally:
        await engine.dispose()
    assert is_unavailable(failure), failure


async def _backend_pid(conn: AsyncConnection) -> int:
    pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    assert isinstance(pid, int)
    return pid


async def _wait_until_running_a_query(admin: AsyncEngine, pid: int) -> None:
    async def running() -> bool:
        async with admin.connect() as conn:
            query = "SELECT state FROM pg_stat_activity WHERE pid = :pid"
            return (await conn.execute(text(query), {"pid": pid})).scalar() == "active"

    await eventually(running, what=f"backend {pid} to run its query")


async def _cut_off_mid_query(
    engine: AsyncEngine, admin: AsyncEngine, cut: Callable[[int], Awaitable[object]]
) -> BaseException:
    """What a long query on `engine` raises when `cut(backend pid)` ends its session while it runs."""
    with pytest.raises(Exception) as raised:
        async with engine.connect() as conn:
            pid = await _backend_pid(conn)
            sleeping = asyncio.create_task(conn.execute(text("SELECT pg_sleep(60)")))
            await _wait_until_running_a_query(admin, pid)
            await cut(pid)
            await sleeping
    return raised.value


async def test_a_session_the_administrator_terminates_mid_query_is_unavailable(
    create_pg_database: CreateDatabase,
) -> None:
    url = await create_pg_database("terminated")
    engine, admin = create_async_engine(url), create_async_engine(url)

    async def terminate(pid: int) -> None:
        async with admin.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    try:
        failure = await _cut_off_mid_query(engine, admin, terminate)
    finally:
        await engine.dispose()
        await admin.dispose()
    assert "administrator command" in str(failure)
    assert is_unavailable(failure)


@pytest.fixture(scope="module")
def private_server() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server these tests may stop, crash and start (never the suite's shared one)."""
    with private_postgres() as server:
        yield server


@pytest.fixture
async def private_engines(private_server: PrivatePostgres) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """An engine on the private server, and one to watch it with."""
    engine, admin = create_engine(private_server.url()), create_engine(private_server.url())
    yield engine, admin
    await engine.dispose()
    await admin.dispose()


async def test_a_server_stopped_mid_query_is_unavailable(
    private_server: PrivatePostgres, private_engines: tuple[AsyncEngine, AsyncEngine]
) -> None:
    engine, admin = private_engines
    try:
        failure = await _cut_off_mid_query(engine, admin, lambda _pid: asyncio.to_thread(private_server.stop))
    finally:
        private_server.start()
    assert "administrator command" in str(failure)
    assert is_unavailable(failure), failure


async def test_a_server_that_is_down_is_unavailable(private_server: PrivatePostgres) -> None:
    engine = create_engine(private_server.url())
    private_server.stop()
    try:
        failure = await _failure(engine)
    finally:
        private_server.start()
        await engine.dispose()
    assert is_unavailable(failure), failure


async def test_a_server_starting_up_is_unavailable(private_server: PrivatePostgres) -> None:
    engine = create_engine(private_server.url())
    private_server.stop()
    private_server.start_without_accepting()
    try:
        failure = await _failure(engine)
    finally:
        private_server.promote()
        await engine.dispose()
    assert "not accepting connections" in str(failure)
    assert is_unavailable(failure), failure


async def test_a_backend_that_dies_mid_query_is_unavailable(
    private_server: PrivatePostgres, private_engines: tuple[AsyncEngine, AsyncEngine]
) -> None:
    engine, admin = private_engines

    # The postmaster then resets every session and recovers, as after any crash.
    async def crash(pid: int) -> None:
        os.kill(pid, signal.SIGKILL)

    failure = await _cut_off_mid_query(engine, admin, crash)

    assert is_unavailable(failure), failure

    async def accepting() -> bool:
        try:
            async with admin.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as error:
            assert is_unavailable(error), error  # while it recovers, too
            return False
        return True

    await eventually(accepting, what="the private server to recover from the crash")


async def test_an_sqlite_file_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}")  # a folder, not a database file
    try:
        failure = await _failure(engine)
    finally:
        await engine.dispose()
    assert "unable to open database file" in str(failure)
    assert is_unavailable(failure)


async def test_a_locked_sqlite_database_is_unavailable(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/locked.db"
    holder = create_engine(url)
    impatient = create_async_engine(url, connect_args={"timeout": 0})  # no busy wait: the lock shows at once
    try:
        async with holder.connect() as writing:
            await writing.execute(text("CREATE TABLE t (x INTEGER)"))
            await writing.commit()
            await writing.execute(text("INSERT INTO t VALUES (1)"))  # holds the write lock until the end
            failure = await _failure(impatient, "INSERT INTO t VALUES (2)")
    finally:
        await holder.dispose()
        await impatient.dispose()
    assert "database is locked" in str(failure)
    assert is_unavailable(failure)


async def _terminate_the_pooled_connection(engine: AsyncEngine, admin: AsyncEngine) -> None:
    """Uses the pool's one connection, then has the server end it while it idles in the pool."""
    async with engine.connect() as conn:
        pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    async with admin.connect() as conn:
        await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


@pytest.mark.parametrize("idle_for", ["long", "a moment"])
async def test_a_pooled_connection_that_died_is_pinged_after_idling_and_fails_one_call_after_a_moment(
    create_pg_database: CreateDatabase, monkeypatch: pytest.MonkeyPatch, idle_for: str
) -> None:
    # Long: every connection counts as idle (pinged at checkout); a moment: none does (no ping).
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0 if idle_for == "long" else 3600.0)
    url = await create_pg_database("idle_ping")
    engine, admin = create_engine(url), create_async_engine(url)
    try:
        await _terminate_the_pooled_connection(engine, admin)
        if idle_for == "a moment":
            failure = await _failure(engine)
            assert is_unavailable(failure), failure  # the call is refused as an outage, and retried by its caller
        async with engine.connect() as conn:  # the ping found the dead connection, or the failure emptied the pool
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()
        await admin.dispose()
