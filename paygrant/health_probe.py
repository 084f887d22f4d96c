"""Asks a paygrant gRPC server whether it is SERVING (used by tests, benchmarks and scripts)."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from paygrant.grpc_channel import ChannelSecurity, open_channel


async def is_serving(target: str, deadline_seconds: float = 1.0, security: ChannelSecurity | None = None) -> bool:
    """True when the server at `target` answers the standard health check with SERVING (over TLS if `security` says)."""
    async with open_channel(target, security) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=deadline_seconds
            )
        except grpc.aio.AioRpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
