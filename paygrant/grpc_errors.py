"""Turns a service's own exceptions into gRPC statuses with rich error details.

What a service does not map is still answered, never as UNKNOWN: a database that cannot be
reached is UNAVAILABLE (retryable); anything else is INTERNAL, with its traceback in the log.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from paygrant.db import is_unavailable

log = logging.getLogger(__name__)

Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])


async def abort(
    context: grpc.aio.ServicerContext[Any, Any], code: grpc.StatusCode, message: str, field: str | None = None
) -> NoReturn:
    """Ends the call with `code`; a `field` is also sent as a BadRequest field violation."""
    details = []
    if field is not None:
        violation = error_details_pb2.BadRequest.FieldViolation(field=field, description=message)
        packed = any_pb2.Any()
        packed.Pack(error_details_pb2.BadRequest(field_violations=[violation]))
        details.append(packed)
    status = status_pb2.Status(code=_code_number(code), message=message, details=details)
    await context.abort_with_status(rpc_status.to_status(status))
    raise AssertionError("abort_with_status returned")  # it always raises


def _code_number(code: grpc.StatusCode) -> int:
    number = code.value[0]
    assert isinstance(number, int)
    return number


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
            except tuple(mapping) as error:
                code = next(code for cls, code in mapping.items() if isinstance(error, cls))
                await abort(context, code, str(error), getattr(error, "field", None))
            except Exception as error:
                if is_unavailable(error):
                    log.warning("%s: database unavailable: %s", handler.__name__, error)
                    await abort(context, grpc.StatusCode.UNAVAILABLE, "the database is unavailable; retry")
                log.exception("%s failed unexpectedly", handler.__name__)
                await abort(context, grpc.StatusCode.INTERNAL, "internal error; it has been logged")

        return wrapper  # type: ignore[return-value]

    return decorate
