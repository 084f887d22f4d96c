"""What every benchmark needs: fresh databases (PostgreSQL when it answers, else SQLite)."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from paygrant.health_probe import is_serving
from paygrant_cli.children import start_child, stop_child

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_available() -> bool:
    """True when the machine's PostgreSQL answers on 127.0.0.1:5432."""
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


@asynccontextmanager
async def fresh_database(label: str, use_postgres: bool) -> AsyncIterator[str]:
    """A new empty database URL, dropped afterwards."""
    if not use_postgres:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite+aiosqlite:///{folder}/{label}.db"
        return
    name = f"paygrant_bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


@asynccontextmanager
async def entitlement_process(database_url: str, redis_url: str | None = None) -> AsyncIterator[str]:
    """`paygrant entitlement` as its own process, as deployed, on any free port; yields its gRPC target."""
    env = {
        **os.environ,
        "PAYGRANT_ENTITLEMENT_DATABASE_URL": database_url,
        "PAYGRANT_ENTITLEMENT_GRPC_PORT": "0",
        "PAYGRANT_REDIS_KEY_PREFIX": f"paygrant-bench-{uuid.uuid4().hex[:8]}",
    }
    if redis_url:
        env["PAYGRANT_REDIS_URL"] = redis_url
    child, listening = await start_child("entitlement", env, log_level="WARNING")
    try:
        target = listening["EntitlementService gRPC"]
        await eventually_serving(target)
        yield target
    finally:
        await stop_child(child)


async def eventually_serving(target: str, within: float = 30.0) -> None:
    """Waits until the server at `target` answers its health check with SERVING."""
    async with asyncio.timeout(within):
        while not await is_serving(target):  # noqa: ASYNC110  (another process's state: asked, not awaited)
            await asyncio.sleep(0.1)
