"""What every benchmark needs: fresh databases (PostgreSQL when it answers, else SQLite)."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager

import asyncpg
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from paygrant.grpc_channel import ChannelSecurity
from paygrant.health_probe import is_serving
from paygrant_cli.children import Child, start_child, stop_child

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


async def analyze(*database_urls: str) -> None:
    """ANALYZE each PostgreSQL database: statistics for the planner, as autovacuum keeps them on a database in use.

    A fresh database has none, and the plans asyncpg caches for its prepared statements would stay those of
    empty tables.
    """
    for url in database_urls:
        connection = await asyncpg.connect(
            make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        try:
            await connection.execute("ANALYZE")
        finally:
            await connection.close()


@asynccontextmanager
async def paygrant_process(
    command: str, env: Mapping[str, str], extra_args: Sequence[str] = ()
) -> AsyncIterator[dict[str, str]]:
    """`paygrant <command>` as its own process for the block, as deployed; yields where it listens (label -> address).

    `env` is the whole environment of the process (os.environ and the PAYGRANT_* variables that configure it).
    """
    child, listening = await start_child(command, env, log_level="WARNING", extra_args=extra_args)
    try:
        yield listening
    finally:
        await stop_child(child)


@asynccontextmanager
async def entitlement_process(
    database_url: str,
    redis_url: str | None = None,
    security: ChannelSecurity | None = None,
    redis_prefix: str | None = None,
    **settings: str,
) -> AsyncIterator[str]:
    """`paygrant entitlement` as its own process, as deployed, on any free port; yields its gRPC target.

    `settings` are more PAYGRANT_* variables (credentials, TLS files); `security` is how to reach it then.
    """
    child = entitlement_child(database_url, redis_url, security, settings=settings, redis_prefix=redis_prefix)
    async with child as (target, _child):
        yield target


@asynccontextmanager
async def entitlement_child(
    database_url: str,
    redis_url: str | None = None,
    security: ChannelSecurity | None = None,
    workers: int = 1,
    settings: Mapping[str, str] | None = None,
    redis_prefix: str | None = None,
) -> AsyncIterator[tuple[str, Child]]:
    """As entitlement_process, with `workers` server processes; yields the target and the (parent) process.

    Each process gets a Redis key prefix of its own unless `redis_prefix` is given (processes that share
    one act as replicas of one service).
    """
    env = {
        **(settings or {}),
        **os.environ,
        "PAYGRANT_ENTITLEMENT_DATABASE_URL": database_url,
        "PAYGRANT_ENTITLEMENT_GRPC_PORT": "0",
        "PAYGRANT_REDIS_KEY_PREFIX": redis_prefix or f"paygrant-bench-{uuid.uuid4().hex[:8]}",
    }
    if redis_url:
        env["PAYGRANT_REDIS_URL"] = redis_url
    extra_args = ("--workers", str(workers)) if workers > 1 else ()
    child, listening = await start_child("entitlement", env, log_level="WARNING", extra_args=extra_args)
    try:
        target = listening["EntitlementService gRPC"]
        await eventually_serving(target, security)
        yield target, child
    finally:
        await stop_child(child)
        if redis_url and redis_prefix is None:  # a prefix of our own: nobody else's keys
            await drop_keys(redis_url, env["PAYGRANT_REDIS_KEY_PREFIX"])


@asynccontextmanager
async def dropping_keys(redis_url: str, prefix: str) -> AsyncIterator[None]:
    """Deletes every key under `prefix` on the way out (a prefix the caller gave processes to share)."""
    try:
        yield
    finally:
        await drop_keys(redis_url, prefix)


async def drop_keys(redis_url: str, prefix: str) -> None:
    """Deletes every key under `prefix`, so benchmark runs do not pile up in Redis."""
    redis = Redis.from_url(redis_url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*", count=10_000)]
        for start in range(0, len(keys), 1000):
            await redis.delete(*keys[start : start + 1000])
    finally:
        await redis.aclose()


async def eventually_serving(target: str, security: ChannelSecurity | None = None, within: float = 30.0) -> None:
    """Waits until the server at `target` answers its health check with SERVING."""
    async with asyncio.timeout(within):
        while not await is_serving(target, security=security):  # noqa: ASYNC110  (another process's state: asked, not awaited)
            await asyncio.sleep(0.1)


async def rate(call: Callable[[int], Awaitable[int]], calls: int, concurrency: int) -> float:
    """Questions answered per second, `concurrency` calls in flight."""
    queue = iter(range(calls))
    answered = 0

    async def worker() -> None:
        nonlocal answered
        for n in queue:
            count = await call(n)  # not `answered += await …`: that reads `answered` before awaiting
            answered += count

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answered / (time.perf_counter() - started)
