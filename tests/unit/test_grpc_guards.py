"""checked(): the checks run before a unary or a streaming behavior, and a refusal stops it; GuardedRegistry guards
every handler a generated registration function hands it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from paygrant.grpc_guards import GuardedRegistry, checked


class Refused(Exception):
    pass


async def _refuse_odd(request: Any, context: Any) -> None:
    if request % 2:
        raise Refused(request)


async def test_a_unary_behavior_runs_only_after_its_check() -> None:
    ran: list[int] = []

    async def double(request: int, context: Any) -> int:
        ran.append(request)
        return request * 2

    handler = checked(grpc.unary_unary_rpc_method_handler(double), [_refuse_odd], request_deserializer=int)
    assert handler.request_deserializer is int
    assert await handler.unary_unary(2, None) == 4
    with pytest.raises(Refused):
        await handler.unary_unary(3, None)
    assert ran == [2]


async def test_a_streaming_behavior_yields_nothing_when_refused() -> None:
    async def count(request: int, context: Any) -> AsyncIterator[int]:
        for number in range(request):
            yield number

    handler = checked(grpc.unary_stream_rpc_method_handler(count), [_refuse_odd])
    assert [n async for n in handler.unary_stream(4, None)] == [0, 1, 2, 3]
    with pytest.raises(Refused):
        _ = [n async for n in handler.unary_stream(5, None)]


class _RecordingServer:
    """Keeps what a registry registers, as grpc.aio.Server would serve it."""

    def __init__(self) -> None:
        self.generic: list[grpc.GenericRpcHandler] = []
        self.registered: dict[str, grpc.RpcMethodHandler] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        self.generic.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        self.registered.update({f"/{service}/{name}": handler for name, handler in handlers.items()})


class _Call:
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


async def test_the_registry_guards_registered_and_generic_handlers_alike_each_method_once() -> None:
    async def double(request: int, context: Any) -> int:
        return request * 2

    guarded: list[str] = []

    def guard(method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        guarded.append(method)
        return checked(handler, [_refuse_odd])

    server = _RecordingServer()
    registry = GuardedRegistry(server, guard)
    handlers = {"Double": grpc.unary_unary_rpc_method_handler(double)}
    registry.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Numbers", handlers)])
    registry.add_registered_method_handlers("test.Numbers", handlers)
    registered = server.registered["/test.Numbers/Double"]
    generic = server.generic[0].service(_Call("/test.Numbers/Double"))
    assert server.generic[0].service(_Call("/test.Numbers/Double")) is generic
    assert server.generic[0].service(_Call("/test.Numbers/Other")) is None
    for handler in (registered, generic):
        assert handler is not None
        assert await handler.unary_unary(2, None) == 4
        with pytest.raises(Refused):
            await handler.unary_unary(3, None)
    assert guarded == ["/test.Numbers/Double", "/test.Numbers/Double"]
