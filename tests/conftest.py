"""Real PostgreSQL and Redis for the suite.

The servers this machine runs (127.0.0.1:5432 and :6379) are used when they answer;
otherwise pytest-postgresql and pytest-redis start private ones from their binaries.
Every run makes its own databases and its own Redis key prefix, so nothing an earlier
run left behind is read.
"""

from __future__ import annotations

import itertools
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import pytest
from pytest_postgresql import factories as pg_factories
from pytest_redis import factories as redis_factories

RUN_ID = uuid.uuid4().hex[:10]


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


@pytest.fixture(scope="session")
def pg_admin_dsn(pg_server: Any) -> str:
    """A libpq DSN of the server's maintenance database."""
    password = f":{pg_server.password}" if pg_server.password else ""
    return f"postgresql://{pg_server.user}{password}@{pg_server.host}:{pg_server.port}/postgres"


_database_numbers = itertools.count()


@pytest.fixture
async def create_pg_database(pg_admin_dsn: str) -> AsyncIterator[CreateDatabase]:
    """Makes fresh, empty PostgreSQL databases; returns their SQLAlchemy asyncpg URLs."""
    made: list[str] = []

    async def create(label: str) -> str:
        name = f"paygrant_{RUN_ID}_{next(_database_numbers)}_{label}"
        admin = await asyncpg.connect(pg_admin_dsn)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        made.append(name)
        return pg_admin_dsn.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{name}"

    yield create
    admin = await asyncpg.connect(pg_admin_dsn)
    try:
        for name in made:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def redis_url(redis_server: Any) -> str:
    """URL of the real Redis server."""
    return f"redis://{redis_server.host}:{redis_server.port}/0"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix no other test or run shares."""
    yield f"paygrant-test-{RUN_ID}-{uuid.uuid4().hex[:8]}"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
