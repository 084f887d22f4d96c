"""A grpc.aio server with the standard health and reflection services, credentials and request decoding.

Health answers SERVING only while the service's database answers, re-checked periodically.
Every method of the service's own is guarded when registered (paygrant.grpc_guards): its requests
are decoded by RequestDecoding (bad bytes answer INVALID_ARGUMENT, never UNKNOWN) and, when
credentials are configured, each call is checked by Authorization (the roles the contract declares);
every call is timed (paygrant.metrics) and runs with its request id bound (paygrant.request_id).
The port is bound exclusively: grpc's default SO_REUSEPORT would let a second server on a taken
port start silently and take part of the traffic. Only `share_port` (the workers of one
`--workers N` group, which checked the port free first) binds with SO_REUSEPORT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from paygrant.errors import CannotServe
from paygrant.grpc_auth import Authorization
from paygrant.grpc_guards import Guard, GuardedRegistry, checked, with_request_id
from paygrant.metrics import timed
from paygrant.request_decoding import RequestDecoding, refuse_undecodable
from paygrant.server_security import ServerSecurity

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class GrpcServer:
    """Owns one grpc.aio server; start() binds and serves, stop() drains gracefully."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        services: Sequence[ServiceDescriptor],
        register: Callable[[GuardedRegistry], None],
        is_ready: Callable[[], Awaitable[bool]],
        security: ServerSecurity | None = None,
        share_port: bool = False,
        readiness_interval: float = 2.0,
    ) -> None:
        self._host = host
        self._address = f"{host}:{port}"
        self._services = tuple(services)
        self._service_names = tuple(service.full_name for service in services)
        self._security = security or ServerSecurity()
        self._share_port = share_port
        self._register = register
        self._is_ready = is_ready
        self._readiness_interval = readiness_interval
        self._server: grpc.aio.Server | None = None
        self._health = health.aio.HealthServicer()
        self._watcher: asyncio.Task[None] | None = None
        self.port = 0

    async def start(self) -> int:
        """Binds, starts serving and returns the bound port (useful when asked for port 0).

        Raises CannotServe when the port is taken, or when protected mode forbids the address.
        """
        security = self._security
        security.check_address(self._host)
        server = grpc.aio.server(options=[("grpc.so_reuseport", 1 if self._share_port else 0)])
        self._register(GuardedRegistry(server, self._guard(security)))
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        if security.reflection:
            health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
            reflection.enable_server_reflection((*self._service_names, health_name, reflection.SERVICE_NAME), server)
        try:
            if security.tls is None:
                self.port = server.add_insecure_port(self._address)
            else:
                self.port = server.add_secure_port(self._address, security.tls.server_credentials())
        except RuntimeError:
            if security.tls is not None:
                reason = "the port is taken, the address is not local, or the TLS certificate and key do not match"
                raise CannotServe.port_taken(self._address, reason) from None
            raise CannotServe.port_taken(self._address) from None
        if not security.credentials.configured:
            log.warning("protected mode: no credentials configured, so %s serves on loopback only", self._address)
        # Checked once before serving: a client asking right after start() gets the answer, not a placeholder.
        await self._set_health(SERVING if await self._is_ready() else NOT_SERVING)
        await server.start()
        self._server = server
        self._watcher = asyncio.create_task(self._watch_readiness())
        return self.port

    def _guard(self, security: ServerSecurity) -> Guard:
        authorization = Authorization(self._services, security.credentials)
        decoding = RequestDecoding(self._services)

        def guard(method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
            checks = [check for check in (authorization.check_for(method), refuse_undecodable) if check is not None]
            return with_request_id(
                timed(method, checked(handler, checks, request_deserializer=decoding.decoder_for(method)))
            )

        return guard

    async def stop(self, grace: float = 5.0) -> None:
        """Reports NOT_SERVING, lets running calls finish for `grace` seconds, then stops."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self._server is not None:
            await self._health.enter_graceful_shutdown()
            await self._server.stop(grace)
            self._server = None

    async def _watch_readiness(self) -> None:
        while True:
            ready = await self._is_ready()
            await self._set_health(SERVING if ready else NOT_SERVING)
            await asyncio.sleep(self._readiness_interval)

    async def _set_health(self, status: health_pb2.HealthCheckResponse.ServingStatus.ValueType) -> None:
        for name in ("", *self._service_names):
            await self._health.set(name, status)
