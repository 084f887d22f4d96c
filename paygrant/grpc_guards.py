"""Checks put in front of a service's methods once, when they are registered, not per call.

grpc.aio's server interceptors run for every call and build the call's handler anew each time,
which costs an ownership check about a fifth of its time. The same checks are put in place here
once per method: `GuardedRegistry` stands in for the server while a generated
`add_…Servicer_to_server` registers the servicer, and every handler it registers (generic and
pre-registered alike, since grpc prefers the latter) passes through a `Guard` first. A check is
awaited before the method's behavior and aborts the call to refuse it; the caller's metadata, peer
certificate and request come with the call. `with_request_id` binds each call's request id
(paygrant.request_id) while its handler runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeAlias

import grpc

from paygrant.request_id import METADATA_KEY, bound, request_id_of

Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]
Check = Callable[[Any, Context], Awaitable[None]]
# Given a method's path (/package.Service/Method) and its handler, the handler to serve instead.
Guard = Callable[[str, grpc.RpcMethodHandler], grpc.RpcMethodHandler]


def checked(
    handler: grpc.RpcMethodHandler,
    checks: Sequence[Check],
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> grpc.RpcMethodHandler:
    """`handler` with each of `checks(request, context)` awaited first (and another deserializer, if given)."""
    changes: dict[str, Any] = {}
    if request_deserializer is not None:
        changes["request_deserializer"] = request_deserializer
    if handler.unary_unary is not None and checks:
        unary = handler.unary_unary

        async def unary_unary(request: Any, context: Context) -> Any:
            for check in checks:
                await check(request, context)
            return await unary(request, context)

        changes["unary_unary"] = unary_unary
    elif handler.unary_stream is not None and checks:
        stream = handler.unary_stream

        async def unary_stream(request: Any, context: Context) -> AsyncIterator[Any]:
            for check in checks:
                await check(request, context)
            async for response in stream(request, context):
                yield response

        changes["unary_stream"] = unary_stream
    return handler._replace(**changes) if changes else handler


def with_request_id(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """`handler` run with the call's request id bound (the caller's valid `x-request-id`, else a new one).

    The id is echoed in the trailing metadata (`x-request-id`), so a caller can quote it.
    """
    if handler.unary_unary is not None:
        unary = handler.unary_unary

        async def unary_unary(request: Any, context: Context) -> Any:
            with bound(_take_request_id(context)):
                return await unary(request, context)

        return handler._replace(unary_unary=unary_unary)
    if handler.unary_stream is not None:
        stream = handler.unary_stream

        async def unary_stream(request: Any, context: Context) -> AsyncIterator[Any]:
            with bound(_take_request_id(context)):
                async for response in stream(request, context):
                    yield response

        return handler._replace(unary_stream=unary_stream)
    return handler


def _take_request_id(context: Context) -> str:
    request_id = request_id_of(context.invocation_metadata())
    context.set_trailing_metadata(((METADATA_KEY, request_id),))
    return request_id


class GuardedRegistry:
    """Looks like a grpc.aio.Server to a generated `add_…Servicer_to_server`; registers guarded handlers."""

    def __init__(self, server: grpc.aio.Server, guard: Guard) -> None:
        self._server = server
        self._guard = guard

    def add_generic_rpc_handlers(self, generic_handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        """Registers each generic handler with its method handlers guarded."""
        self._server.add_generic_rpc_handlers([_GuardedGeneric(handler, self._guard) for handler in generic_handlers])

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: Mapping[str, grpc.RpcMethodHandler]
    ) -> None:
        """Registers the service's method handlers, guarded."""
        guarded = {name: self._guard(f"/{service_name}/{name}", h) for name, h in method_handlers.items()}
        self._server.add_registered_method_handlers(service_name, guarded)


class _GuardedGeneric(grpc.GenericRpcHandler):  # type: ignore[misc]
    """A generic handler whose answers are guarded, each method's once."""

    def __init__(self, inner: grpc.GenericRpcHandler, guard: Guard) -> None:
        self._inner = inner
        self._guard = guard
        self._guarded: dict[str, grpc.RpcMethodHandler] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        if method not in self._guarded:
            handler = self._inner.service(handler_call_details)
            if handler is None:
                return None
            self._guarded[method] = self._guard(method, handler)
        return self._guarded[method]
