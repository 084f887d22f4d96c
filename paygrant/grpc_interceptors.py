"""What paygrant's server interceptors share: a check awaited before a method's own behavior.

grpc.aio interceptors only see the method name; the caller's metadata, peer certificate and
request come with the call. So an interceptor returns the method's handler with a check in front
of its behavior; the check aborts the call to refuse it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc

Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]
Check = Callable[[Any, Context], Awaitable[None]]


def checked(
    handler: grpc.RpcMethodHandler, check: Check, request_deserializer: Callable[[bytes], Any] | None = None
) -> grpc.RpcMethodHandler:
    """`handler` with `check(request, context)` awaited first (and another deserializer, if given)."""
    changes: dict[str, Any] = {}
    if request_deserializer is not None:
        changes["request_deserializer"] = request_deserializer
    if handler.unary_unary is not None:
        unary = handler.unary_unary

        async def unary_unary(request: Any, context: Context) -> Any:
            await check(request, context)
            return await unary(request, context)

        return handler._replace(unary_unary=unary_unary, **changes)
    if handler.unary_stream is not None:
        stream = handler.unary_stream

        async def unary_stream(request: Any, context: Context) -> AsyncIterator[Any]:
            await check(request, context)
            async for response in stream(request, context):
                yield response

        return handler._replace(unary_stream=unary_stream, **changes)
    return handler
