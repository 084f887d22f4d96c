"""Asks a paygrant gRPC server whether it is SERVING (used by tests, benchmarks and scripts)."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


async def is_serving(target: str, deadline_seconds: float = 1.0) -> bool:
    """True when the server at `target` answers the standard health check with SERVING."""
    async with grpc.aio.insecure_channel(target) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=deadline_seconds
            )
        except grpc.aio.AioRpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
