"""Turns a service's own exceptions into gRPC statuses with rich error details.

What a service does not map is still answered, never as UNKNOWN: a database that cannot serve
now is UNAVAILABLE (retryable); anything else is INTERNAL with a short error id, and the log
line with its traceback carries the same id. A caller never sees driver text, SQL or parameters.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from paygrant.db import is_unavailable
from paygrant.failure_log import log_unavailable, log_unexpected
from paygrant.request_id import outgoing_metadata

log = logging.getLogger(__name__)

Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])
Streamer = TypeVar("Streamer", bound=Callable[..., AsyncIterator[Any]])

UNAVAILABLE_MESSAGE = "the database is unavailable; retry later"
# A status message travels in the trailers (twice, with its details), whose size gRPC limits: a message
# quoting a huge input would turn the answer into RESOURCE_EXHAUSTED, so it is cut to this many characters.
MAX_MESSAGE_CHARACTERS = 300


def internal_message(error_id: str) -> str:
    """What a caller is told of an unexpected failure: nothing but the id to quote."""
    return f"internal error (error id {error_id}); it has been logged"


async def abort(
    context: grpc.aio.ServicerContext[Any, Any], code: grpc.StatusCode, message: str, field: str | None = None
) -> NoReturn:
    """Ends the call with `code`; a `field` is also sent as a BadRequest field violation."""
    if len(message) > MAX_MESSAGE_CHARACTERS:
        message = message[: MAX_MESSAGE_CHARACTERS - 1] + "…"
    details = []
    if field is not None:
        violation = error_details_pb2.BadRequest.FieldViolation(field=field, description=message)
        packed = any_pb2.Any()
        packed.Pack(error_details_pb2.BadRequest(field_violations=[violation]))
        details.append(packed)
    answer = rpc_status.to_status(status_pb2.Status(code=_code_number(code), message=message, details=details))
    # An abort sends its own trailing metadata, not what the call set before: the request id goes with it.
    answer = answer._replace(trailing_metadata=(*answer.trailing_metadata, *outgoing_metadata()))
    await context.abort_with_status(answer)
    raise AssertionError("abort_with_status returned")  # it always raises


def _code_number(code: grpc.StatusCode) -> int:
    number = code.value[0]
    assert isinstance(number, int)
    return number


async def _abort_unexpected(context: grpc.aio.ServicerContext[Any, Any], what: str, error: BaseException) -> NoReturn:
    await abort(context, grpc.StatusCode.INTERNAL, internal_message(log_unexpected(what, error)))


def translate_errors(mapping: Mapping[type[Exception], grpc.StatusCode]) -> Callable[[Handler], Handler]:
    """Decorates a servicer method so each mapped exception becomes its status code.

    The first matching class in `mapping` wins, so list subclasses before their bases.
    An exception with a `field` attribute names the offending input in the details.
    """

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            try:
                return await handler(self, request, context)
            except grpc.aio.AbortError:
                raise  # the handler already chose its status
            except Exception as error:
                await _answer_failure(context, mapping, handler.__name__, error)

        return wrapper  # type: ignore[return-value]

    return decorate


def translate_stream_errors(mapping: Mapping[type[Exception], grpc.StatusCode]) -> Callable[[Streamer], Streamer]:
    """translate_errors for a server-streaming method (an async generator): messages already sent stay sent."""

    def decorate(handler: Streamer) -> Streamer:
        @functools.wraps(handler)
        async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            try:
                async for response in handler(self, request, context):
                    yield response
            except grpc.aio.AbortError:
                raise  # the handler already chose its status
            except Exception as error:
                await _answer_failure(context, mapping, handler.__name__, error)

        return wrapper  # type: ignore[return-value]

    return decorate


async def _answer_failure(
    context: grpc.aio.ServicerContext[Any, Any],
    mapping: Mapping[type[Exception], grpc.StatusCode],
    what: str,
    error: Exception,
) -> NoReturn:
    """Ends the call for `error`: its mapped code (the first matching class), UNAVAILABLE, or INTERNAL."""
    code = next((code for cls, code in mapping.items() if isinstance(error, cls)), None)
    if code is None and is_unavailable(error):
        log_unavailable(what, error)
        await abort(context, grpc.StatusCode.UNAVAILABLE, UNAVAILABLE_MESSAGE)
    if code is not None and code is not grpc.StatusCode.INTERNAL:
        await abort(context, code, str(error), getattr(error, "field", None))
    await _abort_unexpected(context, what, error)  # a bug, mapped to INTERNAL or not: answered with an error id
