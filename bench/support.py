"""What every benchmark needs: fresh databases (PostgreSQL when it answers, else SQLite)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from paygrant.health_probe import is_serving

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
    """`paygrant entitlement` as its own process, as deployed; yields its gRPC target."""
    port = _free_port()
    env = {
        **os.environ,
        "PAYGRANT_ENTITLEMENT_DATABASE_URL": database_url,
        "PAYGRANT_ENTITLEMENT_GRPC_PORT": str(port),
        "PAYGRANT_REDIS_KEY_PREFIX": f"paygrant-bench-{uuid.uuid4().hex[:8]}",
    }
    if redis_url:
        env["PAYGRANT_REDIS_URL"] = redis_url
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "paygrant_cli", "--log-level", "WARNING", "entitlement"), env=env
    )
    target = f"127.0.0.1:{port}"
    try:
        for _ in range(300):
            if await is_serving(target):
                break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError("the entitlement service did not become ready")
        yield target
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
