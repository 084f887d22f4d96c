"""Real PostgreSQL and Redis for the suite, and fresh migrated databases copied from templates.

The servers this machine runs (127.0.0.1:5432 and :6379) are used when they answer;
otherwise pytest-postgresql and pytest-redis start private ones from their binaries.
Every run makes its own databases and its own Redis key prefix, so nothing an earlier
run left behind is read.

Migrating a database costs more than most tests, so each service's schema is migrated once
per run into a template (a PostgreSQL template database, an SQLite file) and every test gets
a copy: `CREATE DATABASE … TEMPLATE …`, or a file copy.
"""

from __future__ import annotations

import itertools
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import asyncpg
import pytest
import pytest_asyncio
from pytest_postgresql import factories as pg_factories
from pytest_redis import factories as redis_factories
from redis import Redis as SyncRedis

from entitlement_service.adapters.orm import SCHEMA as ENTITLEMENT_SCHEMA
from paygrant.db import Schema, open_database
from payment_service.adapters.orm import SCHEMA as PAYMENT_SCHEMA

RUN_ID = uuid.uuid4().hex[:10]
SCHEMAS: dict[str, Schema] = {"payment": PAYMENT_SCHEMA, "entitlement": ENTITLEMENT_SCHEMA}
Service = Literal["payment", "entitlement"]


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


pg_server: Any
redis_server: Any
if _listening("127.0.0.1", 5432):
    pg_server = pg_factories.postgresql_noproc(host="127.0.0.1", port=5432, user="postgres", dbname=f"pg_{RUN_ID}")
else:
    pg_server = pg_factories.postgresql_proc(port=None, dbname=f"pg_{RUN_ID}")

if _listening("127.0.0.1", 6379):
    redis_server = redis_factories.redis_noproc(host="127.0.0.1", port=6379)
else:
    redis_server = redis_factories.redis_proc(port=None)  # type: ignore[arg-type]  # None: any free port


CreateDatabase = Callable[[str], Awaitable[str]]
NewDatabase = Callable[[Service], Awaitable[str]]

_database_numbers = itertools.count()


@pytest.fixture(scope="session")
def pg_admin_dsn(pg_server: Any) -> str:
    """A libpq DSN of the server's maintenance database."""
    password = f":{pg_server.password}" if pg_server.password else ""
    return f"postgresql://{pg_server.user}{password}@{pg_server.host}:{pg_server.port}/postgres"


def _asyncpg_url(admin_dsn: str, name: str) -> str:
    return admin_dsn.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{name}"


async def _admin(admin_dsn: str, *statements: str) -> None:
    connection = await asyncpg.connect(admin_dsn)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def pg_templates(pg_admin_dsn: str) -> AsyncIterator[dict[str, str]]:
    """One migrated PostgreSQL template database per service, made once per run."""
    names = {service: f"paygrant_{RUN_ID}_template_{service}" for service in SCHEMAS}
    try:
        for service, name in names.items():
            await _admin(pg_admin_dsn, f'CREATE DATABASE "{name}"')
            async with open_database(_asyncpg_url(pg_admin_dsn, name), SCHEMAS[service]):
                pass  # opening migrates; disposing leaves no connection, as TEMPLATE requires
        yield names
    finally:
        await _admin(pg_admin_dsn, *(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in names.values()))


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def sqlite_templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One migrated SQLite file per service, made once per run."""
    folder = tmp_path_factory.mktemp("sqlite-templates")
    files = {service: folder / f"{service}.db" for service in SCHEMAS}
    for service, path in files.items():
        async with open_database(f"sqlite+aiosqlite:///{path}", SCHEMAS[service]):
            pass
    return files


@pytest.fixture
async def create_pg_database(pg_admin_dsn: str) -> AsyncIterator[CreateDatabase]:
    """Makes fresh, empty PostgreSQL databases (for tests of migrations); returns asyncpg URLs."""
    made: list[str] = []

    async def create(label: str, template: str | None = None) -> str:
        name = f"paygrant_{RUN_ID}_{next(_database_numbers)}_{label}"
        await _admin(pg_admin_dsn, f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        made.append(name)
        return _asyncpg_url(pg_admin_dsn, name)

    yield create
    await _admin(pg_admin_dsn, *(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in made))


@pytest.fixture(params=["postgresql", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """The database kind a test runs on: every database test runs on both unless marked POSTGRES_ONLY."""
    return str(request.param)


POSTGRES_ONLY = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


@pytest.fixture
async def new_database(
    backend: str,
    create_pg_database: Callable[..., Awaitable[str]],
    pg_templates: dict[str, str],
    sqlite_templates: dict[str, Path],
    tmp_path: Path,
) -> NewDatabase:
    """Makes fresh, migrated databases of a service on the test's backend; returns their URLs."""

    async def new(service: Service) -> str:
        if backend == "postgresql":
            return await create_pg_database(service, pg_templates[service])
        copy = tmp_path / f"{service}-{next(_database_numbers)}.db"
        shutil.copyfile(sqlite_templates[service], copy)
        return f"sqlite+aiosqlite:///{copy}"

    return new


@pytest.fixture
def redis_url(redis_server: Any) -> str:
    """URL of the real Redis server."""
    return f"redis://{redis_server.host}:{redis_server.port}/0"


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test or run shares; its keys are deleted after the test, whoever wrote them."""
    prefix = f"paygrant-test-{RUN_ID}-{uuid.uuid4().hex[:8]}"
    yield prefix
    with SyncRedis.from_url(redis_url) as client:
        # COUNT: a scan walks the whole keyspace, whosever keys it holds; fewer, larger steps.
        keys = list(client.scan_iter(match=f"{prefix}:*", count=10_000))
        for start in range(0, len(keys), 1_000):
            client.delete(*keys[start : start + 1_000])


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound but not listening, so nothing else can take it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
