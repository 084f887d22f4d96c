"""How a failure is written to the log: an outage in one line, anything else with a traceback and an id.

Used by every entrypoint and background loop, so an outage of the database reads the same
everywhere and never floods the log with tracebacks, and a caller can quote an error id.
"""

from __future__ import annotations

import logging
import secrets

from paygrant.db import is_unavailable

log = logging.getLogger(__name__)


def log_unavailable(what: str, error: BaseException) -> None:
    """One warning line naming the outage, without the SQL or parameters a wrapped driver error carries."""
    log.warning("%s: database unavailable: %s", what, outage_summary(error))


def log_unexpected(what: str, error: BaseException) -> str:
    """Logs `error` with its traceback under a fresh error id and returns the id (for the caller's answer)."""
    error_id = secrets.token_hex(4)
    log.error("%s failed unexpectedly (error id %s)", what, error_id, exc_info=error)
    return error_id


def outage_summary(error: BaseException) -> str:
    """The driver's own error, class and first line: `CannotConnectNowError: the database system is starting up`."""
    innermost = error
    for _ in range(16):  # a bound, in case a chain loops
        inner = getattr(innermost, "orig", None) or innermost.__cause__
        if not isinstance(inner, BaseException):
            break
        innermost = inner
    first_line = str(innermost).partition("\n")[0][:200]
    return f"{type(innermost).__name__}: {first_line}"


def log_failure(what: str, error: BaseException) -> None:
    """A background pass failed: one line for an outage, a traceback with an id for anything else."""
    if is_unavailable(error):
        log_unavailable(what, error)
    else:
        log_unexpected(what, error)
