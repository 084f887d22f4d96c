"""Wires the entitlement service: database and migrations, ownership cache, gRPC server."""

from __future__ import annotations

import logging

from redis.asyncio import Redis

from entitlement_service.adapters.memory_ownership_cache import MemoryOwnershipCache
from entitlement_service.adapters.orm import SCHEMA
from entitlement_service.adapters.ownership_reader import SqlOwnershipReader
from entitlement_service.adapters.redis_invalidations import RedisInvalidations
from entitlement_service.adapters.redis_ownership_cache import RedisOwnershipCache
from entitlement_service.entrypoints.grpc_servicer import EntitlementServicer
from entitlement_service.service_layer.ownership_cache import NoOwnershipCache, OwnershipCache
from entitlement_service.service_layer.unit_of_work import UnitOfWork
from entitlement_service.settings import EntitlementSettings
from paygrant.db import open_database, ping
from paygrant.entitlement.v1 import entitlement_pb2, entitlement_pb2_grpc
from paygrant.grpc_server import GrpcServer
from paygrant.metrics import MetricsEndpoint
from paygrant.runtime import ServiceApp

SERVICE = entitlement_pb2.DESCRIPTOR.services_by_name["EntitlementService"]
SERVICE_NAME: str = SERVICE.full_name

log = logging.getLogger(__name__)


class EntitlementApp(ServiceApp):
    """The entitlement service in one process: serving stops before Redis and the database close."""

    def __init__(self, settings: EntitlementSettings) -> None:
        super().__init__()
        self.settings = settings
        self.invalidations: RedisInvalidations | None = None  # with Redis: what keeps answers in memory right

    async def _start(self) -> None:
        s = self.settings
        security = s.server_security()  # a misconfiguration stops the start before anything opens
        database = await self._started.enter_async_context(open_database(s.entitlement_database_url, SCHEMA))
        servicer = EntitlementServicer(
            lambda: UnitOfWork(database.sessions),
            SqlOwnershipReader(database.autocommit),
            await self._ownership_cache(),
        )
        server = GrpcServer(
            host=s.entitlement_grpc_host,
            port=s.entitlement_grpc_port,
            services=[SERVICE],
            register=lambda grpc_server: entitlement_pb2_grpc.add_EntitlementServiceServicer_to_server(
                servicer, grpc_server
            ),
            is_ready=lambda: ping(database.engine),
            security=security,
            share_port=s.shared_ports,
        )
        self._started.push_async_callback(server.stop)
        self.grpc_port = await server.start()
        self.listening = {"EntitlementService gRPC": f"{s.entitlement_grpc_host}:{self.grpc_port}"}
        if s.entitlement_metrics_port is not None:
            metrics = MetricsEndpoint(s.entitlement_metrics_host, s.entitlement_metrics_port, share_port=s.shared_ports)
            await self._component(metrics)
            self.listening.update(metrics.listening)
        log.info("entitlement service: gRPC on %s:%d", s.entitlement_grpc_host, self.grpc_port)

    async def _ownership_cache(self) -> OwnershipCache:
        s = self.settings
        if s.redis_url is None:
            return NoOwnershipCache()
        redis = Redis.from_url(s.redis_url, decode_responses=True)
        self._started.push_async_callback(redis.aclose)
        await redis.ping()  # a wrong URL should stop the start, not surface on the first refund
        shared = RedisOwnershipCache(redis, s.redis_key_prefix, s.ownership_cache_ttl_seconds)
        if s.ownership_memory_users == 0:
            return shared
        memory = MemoryOwnershipCache(shared, s.ownership_memory_users, s.ownership_memory_ttl_seconds)
        self.invalidations = RedisInvalidations(s.redis_url, shared, memory)
        await self._component(self.invalidations)
        return memory
