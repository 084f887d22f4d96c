"""What a caller is told when a call fails: outages UNAVAILABLE, anything unexpected INTERNAL with an error id.

Neither answer carries the driver's text, SQL, bound parameters or hashes; the log line has the id.
The outage rules are checked here on driver errors built in memory, the same errors produced for
real in tests/integration/test_database_errors.py.
"""

from __future__ import annotations

import re
from typing import Any

import asyncpg.exceptions
import grpc
import pytest
from google.rpc import status_pb2
from grpc_status import rpc_status
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, PendingRollbackError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from paygrant.db import is_unavailable
from paygrant.errors import ServiceError
from paygrant.grpc_errors import MAX_MESSAGE_CHARACTERS, UNAVAILABLE_MESSAGE, translate_errors

SECRET_SQL = "SELECT * FROM checkout_sessions WHERE callback_secret_hash = $1"
SECRET_HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
ERROR_ID = re.compile(r"error id ([0-9a-f]{8})")


def _wrapped(driver_error: Exception, invalidated: bool = False) -> DBAPIError:
    """A driver error as SQLAlchemy raises it: with the statement and its parameters."""
    return DBAPIError(SECRET_SQL, (SECRET_HASH,), driver_error, connection_invalidated=invalidated)


def _raised_while_handling(first: BaseException, later: Exception) -> Exception:
    """`later`, raised inside an `except` of `first` (so its __context__ is `first`)."""
    try:
        raise first
    except BaseException:
        try:
            raise later
        except Exception as error:
            return error


OUTAGES = {
    "refused": ConnectionRefusedError(111, "Connect call failed"),
    "reset": ConnectionResetError(104, "Connection reset by peer"),
    "several addresses refused": OSError("Multiple exceptions: [Errno 111] ..., [Errno 99] ..."),
    "timed out": TimeoutError(),
    "pool exhausted": PoolTimeoutError("QueuePool limit of size 5 overflow 10 reached"),
    "connection invalidated": _wrapped(RuntimeError("connection lost"), invalidated=True),
    "closed mid-query": _wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("closed in the middle of operation")),
    "connection is closed": InterfaceError(
        SECRET_SQL, (), asyncpg.exceptions.InterfaceError("connection is closed"), connection_invalidated=True
    ),
    "starting up": _wrapped(asyncpg.exceptions.CannotConnectNowError("the database system is starting up")),
    "administrator shutdown": _wrapped(asyncpg.exceptions.AdminShutdownError("terminating connection")),
    "crash shutdown": _wrapped(asyncpg.exceptions.CrashShutdownError("terminating connection")),
    "too many connections": _wrapped(asyncpg.exceptions.TooManyConnectionsError("too many clients already")),
    "rollback after a lost connection": _raised_while_handling(
        _wrapped(RuntimeError("gone"), invalidated=True), PendingRollbackError("can't reconnect")
    ),
}
BUGS = {
    "unique violation": IntegrityError(SECRET_SQL, (), asyncpg.exceptions.UniqueViolationError("duplicate key")),
    "syntax error": _wrapped(asyncpg.exceptions.PostgresSyntaxError("syntax error at or near")),
    "operation in progress": _wrapped(asyncpg.exceptions.InterfaceError("another operation is in progress")),
    "a bug while handling an outage": _raised_while_handling(ConnectionResetError(), KeyError("x")),
    "plain bug": ValueError("bad"),
}


@pytest.mark.parametrize("error", OUTAGES.values(), ids=OUTAGES.keys())
def test_an_outage_is_unavailable(error: Exception) -> None:
    assert is_unavailable(error)


@pytest.mark.parametrize("error", BUGS.values(), ids=BUGS.keys())
def test_a_bug_is_not_an_outage(error: Exception) -> None:
    assert not is_unavailable(error)


class Refused(ServiceError):
    """A mapped refusal."""


class Misconfigured(ServiceError):
    """A mapped error that is the service's own fault."""


class RecordingContext:
    """The part of a grpc.aio servicer context the translation uses."""

    status: grpc.Status | None = None

    async def abort_with_status(self, status: grpc.Status) -> None:
        self.status = status
        raise grpc.aio.AbortError()


class Servicer:
    """A servicer whose one method raises what the test gives it."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    @translate_errors({Refused: grpc.StatusCode.INVALID_ARGUMENT, Misconfigured: grpc.StatusCode.INTERNAL})
    async def Call(self, request: object, context: Any) -> None:
        raise self.error


async def _answer(error: BaseException) -> grpc.Status:
    context = RecordingContext()
    with pytest.raises(grpc.aio.AbortError):
        await Servicer(error).Call(object(), context)
    assert context.status is not None
    return context.status


def _assert_discloses_nothing(message: str) -> None:
    for private in ("SELECT", "checkout_sessions", SECRET_HASH, "Traceback"):
        assert private not in message, f"{private!r} leaked into {message!r}"


@pytest.mark.parametrize(
    "error",
    [
        _wrapped(asyncpg.exceptions.PostgresSyntaxError("syntax error")),
        KeyError(SECRET_HASH),
        Misconfigured(f"provider said {SECRET_HASH}"),
    ],
    ids=["database bug", "plain bug", "mapped to INTERNAL"],
)
async def test_an_unexpected_error_answers_internal_with_an_error_id_that_the_log_line_carries(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    status = await _answer(error)

    assert status.code is grpc.StatusCode.INTERNAL
    _assert_discloses_nothing(status.details)
    found = ERROR_ID.search(status.details)
    assert found, status.details
    [record] = [r for r in caplog.records if found.group(1) in r.getMessage()]
    assert record.exc_info is not None and record.exc_info[1] is error, "the log keeps the traceback"


async def test_each_unexpected_error_gets_its_own_id() -> None:
    answers = [await _answer(ValueError("bad")) for _ in range(2)]

    assert len({ERROR_ID.findall(answer.details)[0] for answer in answers}) == 2


@pytest.mark.parametrize("error", OUTAGES.values(), ids=OUTAGES.keys())
async def test_an_outage_answers_unavailable_without_the_drivers_text(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    status = await _answer(error)

    assert (status.code, status.details) == (grpc.StatusCode.UNAVAILABLE, UNAVAILABLE_MESSAGE)
    [record] = caplog.records
    assert record.exc_info is None, "an outage is one log line, not a traceback"
    _assert_discloses_nothing(record.getMessage())


async def test_a_mapped_refusal_answers_its_own_code_and_message() -> None:
    status = await _answer(Refused("must be positive", "amount"))

    assert (status.code, status.details) == (grpc.StatusCode.INVALID_ARGUMENT, "amount: must be positive")


async def test_a_refusal_quoting_a_huge_input_is_cut_to_fit_the_trailers() -> None:
    status = await _answer(Refused(f"checkout {'a' * 100_000} does not exist", "session_id"))

    assert status.code is grpc.StatusCode.INVALID_ARGUMENT
    assert len(status.details) == MAX_MESSAGE_CHARACTERS and status.details.startswith("session_id: checkout aaa")


async def test_a_status_the_handler_chose_itself_is_kept() -> None:
    context = RecordingContext()

    class Aborting:
        @translate_errors({})
        async def Call(self, request: object, context: Any) -> None:
            await context.abort_with_status(rpc_status.to_status(status_pb2.Status(code=5, message="no such thing")))

    with pytest.raises(grpc.aio.AbortError):
        await Aborting().Call(object(), context)
    assert context.status is not None
    assert (context.status.code, context.status.details) == (grpc.StatusCode.NOT_FOUND, "no such thing")
