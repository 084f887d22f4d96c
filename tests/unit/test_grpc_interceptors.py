"""checked(): the check runs before a unary or a streaming behavior, and a refusal stops it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from paygrant.grpc_interceptors import checked


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

    handler = checked(grpc.unary_unary_rpc_method_handler(double), _refuse_odd, request_deserializer=int)
    assert handler.request_deserializer is int
    assert await handler.unary_unary(2, None) == 4
    with pytest.raises(Refused):
        await handler.unary_unary(3, None)
    assert ran == [2]


async def test_a_streaming_behavior_yields_nothing_when_refused() -> None:
    async def count(request: int, context: Any) -> AsyncIterator[int]:
        for number in range(request):
            yield number

    handler = checked(grpc.unary_stream_rpc_method_handler(count), _refuse_odd)
    assert [n async for n in handler.unary_stream(4, None)] == [0, 1, 2, 3]
    with pytest.raises(Refused):
        _ = [n async for n in handler.unary_stream(5, None)]
