"""Request ids: taken from a caller's valid `x-request-id` or made anew, bound while a call runs, written on
every log line of it (text and JSON), and never a way to forge a line."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
import pytest

from paygrant.grpc_guards import with_request_id
from paygrant.request_id import (
    RequestIdFilter,
    bound,
    current_request_id,
    log_extra,
    outgoing_metadata,
    request_id_of,
    request_id_problem,
)
from paygrant.runtime import LOG_FORMAT, JsonLineFormatter, OneLineFormatter, configure_logging

HEX_ID = r"[0-9a-f]{32}"


@pytest.mark.parametrize("value", ["gw-42", "a", "r" * 128, "!~#$%&'()*+,-./:;<=>?@[]^_`{|}"])
def test_printable_ascii_without_spaces_up_to_128_characters_is_a_request_id(value: str) -> None:
    assert request_id_problem(value) is None
    assert request_id_of([("x-request-id", value)]) == value


@pytest.mark.parametrize(
    "value",
    ["", "r" * 129, "two words", " lead", "tab\there", "line\nbreak", "cr\rlf", "nul\x00", "esc\x1b[2J", "é", "\u2028"],
    ids=["empty", "129", "space", "leading-space", "tab", "lf", "cr", "nul", "escape", "non-ascii", "line-separator"],
)
def test_an_invalid_request_id_is_ignored_and_a_new_one_made(value: str) -> None:
    assert request_id_problem(value) is not None
    made = request_id_of([("x-request-id", value)])
    assert made != value and re.fullmatch(HEX_ID, made)


def test_a_call_without_one_gets_a_new_id_each_time() -> None:
    first, second = request_id_of(None), request_id_of([("authorization", "Bearer t")])
    assert first != second
    assert re.fullmatch(HEX_ID, first) and re.fullmatch(HEX_ID, second)


def test_bytes_metadata_is_read_as_ascii() -> None:
    assert request_id_of([("x-request-id", b"gw-7")]) == "gw-7"


def test_bound_sets_the_current_id_for_the_block_and_none_keeps_it() -> None:
    assert current_request_id() is None and outgoing_metadata() == ()
    with bound("outer"):
        with bound(None):
            assert current_request_id() == "outer"
        with bound("inner"):
            assert outgoing_metadata() == (("x-request-id", "inner"),)
        assert current_request_id() == "outer"
        assert outgoing_metadata("given") == (("x-request-id", "given"),)
    assert current_request_id() is None


class _Context:
    """What with_request_id uses of a grpc.aio servicer context."""

    def __init__(self, metadata: Sequence[tuple[str, str]]) -> None:
        self._metadata = tuple(metadata)
        self.trailing: tuple[tuple[str, str], ...] = ()

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def set_trailing_metadata(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self.trailing = metadata


async def test_a_unary_call_runs_under_the_callers_id_and_echoes_it() -> None:
    async def seen(request: Any, context: Any) -> str | None:
        return current_request_id()

    handler = with_request_id(grpc.unary_unary_rpc_method_handler(seen))
    context = _Context([("x-request-id", "gw-42")])

    assert await handler.unary_unary(None, context) == "gw-42"
    assert context.trailing == (("x-request-id", "gw-42"),)
    assert current_request_id() is None


async def test_a_streaming_call_without_a_valid_id_runs_under_a_new_one() -> None:
    async def seen(request: Any, context: Any) -> AsyncIterator[str | None]:
        yield current_request_id()
        yield current_request_id()

    handler = with_request_id(grpc.unary_stream_rpc_method_handler(seen))
    context = _Context([("x-request-id", "no spaces please")])

    first, second = [seen async for seen in handler.unary_stream(None, context)]
    assert first == second and first is not None and re.fullmatch(HEX_ID, first)
    assert context.trailing == (("x-request-id", first),)
    assert current_request_id() is None


async def test_a_stream_grpc_abandoned_closes_quietly_in_another_context() -> None:
    async def count(request: Any, context: Any) -> AsyncIterator[int]:
        for number in range(3):
            yield number

    stream = with_request_id(grpc.unary_stream_rpc_method_handler(count)).unary_stream(None, _Context([]))

    async def first() -> int:
        return int(await anext(stream))

    assert await asyncio.create_task(first()) == 0  # served in a task of its own, as grpc serves a call
    await stream.aclose()  # closed later from elsewhere, as the event loop closes an abandoned generator
    assert current_request_id() is None


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("payment_service", logging.INFO, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_the_filter_names_the_current_request_unless_the_log_call_named_one() -> None:
    plain, named = _record("a"), _record("b", **log_extra("checkout-id"))
    with bound("call-id"):
        RequestIdFilter().filter(plain)
        RequestIdFilter().filter(named)
    outside = _record("c")
    RequestIdFilter().filter(outside)

    logged = [record.__dict__["request_id"] for record in (plain, named, outside)]
    assert logged == ["call-id", "checkout-id", None]
    assert log_extra(None) == {}


def test_a_text_line_ends_with_its_request_id_and_one_without_has_none() -> None:
    formatter = OneLineFormatter(LOG_FORMAT)

    assert formatter.format(_record("session %s paid", "s-1", request_id="gw-42")).endswith(
        "payment_service: session s-1 paid request_id=gw-42"
    )
    assert formatter.format(_record("started", request_id=None)).endswith("payment_service: started")
    assert "request_id" not in formatter.format(_record("started"))


def test_a_request_id_passed_by_hand_cannot_forge_a_text_line() -> None:
    line = OneLineFormatter(LOG_FORMAT).format(_record("paid", request_id="r\n2026-11-21 INFO forged"))

    assert "\n" not in line and line.endswith(r"paid request_id=r\n2026-11-21 INFO forged")


def test_the_request_id_goes_before_a_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("p", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    record.request_id = "gw-42"

    first, *rest = OneLineFormatter(LOG_FORMAT).format(record).splitlines()

    assert first.endswith("failed request_id=gw-42") and rest[-1] == "ValueError: boom"


def test_a_json_line_has_a_request_id_key_only_when_there_is_one() -> None:
    formatter = JsonLineFormatter()

    assert json.loads(formatter.format(_record("paid", request_id="gw-42")))["request_id"] == "gw-42"
    assert "request_id" not in json.loads(formatter.format(_record("started", request_id=None)))
    assert "request_id" not in json.loads(formatter.format(_record("started")))


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_configure_logging_names_the_current_request_on_every_line(log_format: str) -> None:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers.clear()  # as in a fresh process; pytest's capturing handlers are put back after
    try:
        configure_logging("INFO", log_format)
        [handler] = root.handlers
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
    record = _record("paid")

    with bound("gw-42"):
        assert handler.filter(record)

    assert "gw-42" in handler.format(record)
