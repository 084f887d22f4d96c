"""Background loops log an outage as one line and anything else with a traceback and an error id."""

from __future__ import annotations

import logging

import pytest

from paygrant.failure_log import log_failure


def test_an_outage_is_one_line_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    try:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
    except ConnectionRefusedError as error:
        log_failure("outbox relay pass", error)
    [record] = caplog.records
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage() == (
        "outbox relay pass: database unavailable: "
        "ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 5432)"
    )


def test_a_bug_is_logged_with_its_traceback_and_an_error_id(caplog: pytest.LogCaptureFixture) -> None:
    try:
        raise KeyError("missing")
    except KeyError as error:
        log_failure("payment sweep pass", error)
    [record] = caplog.records
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert record.getMessage().startswith("payment sweep pass failed unexpectedly (error id ")
