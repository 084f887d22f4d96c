"""A bare grpc.aio server that answers CheckOwnership and BatchCheckOwnership with fixed answers.

It does no storage, validation or authorization: the ceiling Python gRPC reaches on this machine,
measured in the same run as the entitlement service (bench.ownership_check). Its answers have the
size of an "owned" answer. Run as its own process: python -m bench.bare_server
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from paygrant.db import utcnow
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.runtime import announce_listening, stop_requested
from paygrant.timestamps import to_timestamp

SERVICE = "paygrant.entitlement.v1.EntitlementService"
OWNED_AT = to_timestamp(utcnow())


async def check(request: pb.CheckOwnershipRequest, context: Any) -> pb.CheckOwnershipResponse:
    return pb.CheckOwnershipResponse(owned=True, purchased_at=OWNED_AT, source=pb.SOURCE_PAID)


async def batch(request: pb.BatchCheckOwnershipRequest, context: Any) -> pb.BatchCheckOwnershipResponse:
    results = [
        pb.OwnershipResult(query=query, owned=True, purchased_at=OWNED_AT, source=pb.SOURCE_PAID)
        for query in request.queries
    ]
    return pb.BatchCheckOwnershipResponse(results=results)


async def serve() -> None:
    """Serves until SIGTERM, after announcing its address."""
    stopping = stop_requested()
    server = grpc.aio.server()
    handlers = {
        "CheckOwnership": grpc.unary_unary_rpc_method_handler(
            check, pb.CheckOwnershipRequest.FromString, pb.CheckOwnershipResponse.SerializeToString
        ),
        "BatchCheckOwnership": grpc.unary_unary_rpc_method_handler(
            batch, pb.BatchCheckOwnershipRequest.FromString, pb.BatchCheckOwnershipResponse.SerializeToString
        ),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    announce_listening({"bare gRPC": f"127.0.0.1:{port}"})
    await stopping.wait()
    await server.stop(1)


if __name__ == "__main__":
    asyncio.run(serve())
