"""A logged value cannot forge a log line: the shared log format escapes control characters in messages."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from paygrant.runtime import (
    LOG_FORMAT,
    JsonLineFormatter,
    OneLineFormatter,
    configure_logging,
    escape_control_characters,
)

FORGED = "s-1\r\n2026-11-21 12:00:00,000 INFO payment_service: session s-2 paid\x1b[2J"


def _record(msg: str, *args: object, exc_info: bool = False) -> logging.LogRecord:
    return logging.LogRecord(
        "payment_service", logging.WARNING, __file__, 1, msg, args, sys.exc_info() if exc_info else None
    )


def test_a_value_with_a_line_break_stays_on_its_line() -> None:
    line = OneLineFormatter(LOG_FORMAT).format(_record("callback for session %s refused", FORGED))

    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert line.endswith(
        r"callback for session s-1\r\n2026-11-21 12:00:00,000 INFO payment_service: "
        + r"session s-2 paid\x1b[2J refused"
    )


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [("\t", r"\t"), ("\x00", r"\x00"), ("\x7f", r"\x7f"), ("\x85", r"\x85"), ("\u2028", r"\u2028"), ("é ü", "é ü")],
    ids=["tab", "nul", "delete", "next-line", "line-separator", "printable"],
)
def test_every_control_character_is_escaped_and_nothing_else(raw: str, escaped: str) -> None:
    assert escape_control_characters(raw) == escaped


def test_a_traceback_keeps_its_lines_after_the_escaped_message() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record("failed for %s", "a\nb", exc_info=True)

    text = OneLineFormatter(LOG_FORMAT).format(record)

    first, *rest = text.splitlines()
    assert first.endswith(r"failed for a\nb")
    assert rest[0] == "Traceback (most recent call last):" and rest[-1] == "ValueError: boom"


def test_the_record_itself_is_left_as_it_was() -> None:
    record = _record("value %s", "a\nb")

    OneLineFormatter(LOG_FORMAT).format(record)

    assert record.getMessage() == "value a\nb" and record.message == "value a\nb"


def test_configure_logging_installs_the_escaping_format() -> None:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers.clear()  # as in a fresh process; pytest's capturing handlers are put back after
    try:
        configure_logging("INFO")
        [handler] = root.handlers
    finally:
        root.handlers[:] = saved
        root.setLevel(level)

    assert isinstance(handler.formatter, OneLineFormatter)
    assert "\n" not in handler.format(_record("%s", FORGED))


def test_a_json_line_holds_the_record_and_a_forged_value_stays_inside_its_field() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record("callback for session %s refused", FORGED, exc_info=True)

    line = JsonLineFormatter().format(record)

    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    entry = json.loads(line)
    assert entry["message"] == f"callback for session {FORGED} refused"
    assert (entry["level"], entry["logger"], entry["process"]) == ("WARNING", "payment_service", record.process)
    assert entry["exception"].startswith("Traceback") and entry["exception"].endswith("ValueError: boom")
    assert entry["time"].endswith("+00:00")


def test_configure_logging_installs_the_json_format_when_asked() -> None:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers.clear()
    try:
        configure_logging("INFO", "json")
        [handler] = root.handlers
    finally:
        root.handlers[:] = saved
        root.setLevel(level)

    assert isinstance(handler.formatter, JsonLineFormatter)
