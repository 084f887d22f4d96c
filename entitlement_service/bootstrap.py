"""Wires the entitlement service: database and migrations, ownership cache, gRPC server."""

from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from entitlement_service.adapters.cache_protocol import NoOwnershipCache, OwnershipCache
from entitlement_service.adapters.ownership_cache import RedisOwnershipCache
from entitlement_service.entrypoints.grpc_servicer import EntitlementServicer
from entitlement_service.service_layer.unit_of_work import UnitOfWork
from paygrant.db import create_engine, ping, session_factory, upgrade_to_head
from paygrant.entitlement.v1 import entitlement_pb2, entitlement_pb2_grpc
from paygrant.grpc_server import GrpcServer
from paygrant.runtime import configure_logging, run_until_signalled
from entitlement_service.settings import EntitlementSettings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SERVICE_NAME: str = entitlement_pb2.DESCRIPTOR.services_by_name["EntitlementService"].full_name

log = logging.getLogger(__name__)


async def open_database(url: str) -> AsyncEngine:
    """An engine on the service's database, migrated to the latest schema."""
    engine = create_engine(url)
    try:
        await upgrade_to_head(engine, MIGRATIONS_DIR)
    except BaseException:
        await engine.dispose()
        raise
    return engine


class EntitlementApp:
    """The entitlement service as one component: nothing is opened until start()."""

    def __init__(self, settings: EntitlementSettings) -> None:
        self._settings = settings
        self._engine: AsyncEngine | None = None
        self._redis: Redis | None = None
        self._server: GrpcServer | None = None
        self.port = 0

    async def start(self) -> int:
        """Migrates the database, connects Redis when configured, serves gRPC; returns the bound port."""
        settings = self._settings
        try:
            engine = self._engine = await open_database(settings.entitlement_database_url)
            servicer = EntitlementServicer(functools.partial(UnitOfWork, session_factory(engine)), await self._cache())
            self._server = GrpcServer(
                host=settings.entitlement_grpc_host,
                port=settings.entitlement_grpc_port,
                service_names=[SERVICE_NAME],
                register=functools.partial(entitlement_pb2_grpc.add_EntitlementServiceServicer_to_server, servicer),
                is_ready=functools.partial(ping, engine),
            )
            self.port = await self._server.start()
        except BaseException:
            await self.stop()
            raise
        log.info("entitlement service listening on %s:%d", settings.entitlement_grpc_host, self.port)
        return self.port

    async def stop(self) -> None:
        """Drains running calls, then closes Redis and the database; safe to call more than once."""
        server, redis, engine = self._server, self._redis, self._engine
        self._server = self._redis = self._engine = None
        if server is not None:
            await server.stop()
        if redis is not None:
            await redis.aclose()
        if engine is not None:
            await engine.dispose()

    async def _cache(self) -> OwnershipCache:
        settings = self._settings
        if settings.redis_url is None:
            return NoOwnershipCache()
        self._redis = Redis.from_url(settings.redis_url, decode_responses=True)
        await self._redis.ping()  # a wrong URL should stop the start, not surface on the first refund
        return RedisOwnershipCache(self._redis, settings.redis_key_prefix, settings.ownership_cache_ttl_seconds)


async def run(settings: EntitlementSettings) -> None:
    """Runs the entitlement service until SIGTERM or SIGINT."""
    await run_until_signalled(EntitlementApp(settings))


def main() -> None:
    """Entry point of a process that runs only the entitlement service, configured from the environment."""
    configure_logging()
    asyncio.run(run(EntitlementSettings()))
