"""The request id: what one grep finds a checkout by, in both services' logs.

Every gRPC call of either service runs with a request id: the caller's `x-request-id` metadata
when it is a valid one, else a new one (paygrant.grpc_guards binds it while the handler runs). A
checkout keeps the id of its CreateCheckout, its outbox events carry it to the entitlement
service, and the log lines about it name it (`request_id=<id>`, or a `request_id` key in JSON),
added to every record by `RequestIdFilter`. A log call about something another request started
names that request's id with `extra=log_extra(id)`.

A valid id is 1-128 printable ASCII characters without spaces: it goes into log lines and into a
column of 128, so an id that is not is never taken from a caller (a new one is made instead; a call
is never refused for its metadata).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterable, Iterator
from contextvars import ContextVar

METADATA_KEY = "x-request-id"
MAX_LENGTH = 128
_VALID = re.compile(rf"[!-~]{{1,{MAX_LENGTH}}}")  # printable ASCII, no space

_current: ContextVar[str | None] = ContextVar("paygrant_request_id", default=None)


def request_id_problem(value: str) -> str | None:
    """What is wrong with a request id, or None when it is valid."""
    if _VALID.fullmatch(value):
        return None
    return f"must be 1-{MAX_LENGTH} printable ASCII characters without spaces"


def new_request_id() -> str:
    """A new request id: 32 random hex digits (os.urandom: a quarter of uuid4's cost, paid by every call
    that brings no id of its own)."""
    return os.urandom(16).hex()


def current_request_id() -> str | None:
    """The id of the request being served by this task, if any."""
    return _current.get()


def request_id_of(metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
    """The caller's `x-request-id` when it is valid, else a new id."""
    for key, value in metadata or ():
        if key == METADATA_KEY:
            text = value.decode("ascii", errors="replace") if isinstance(value, bytes) else value
            return text if request_id_problem(text) is None else new_request_id()
    return new_request_id()


def outgoing_metadata(request_id: str | None = None) -> tuple[tuple[str, str], ...]:
    """Metadata that passes `request_id` (by default the current one) on to a called service; empty when none."""
    request_id = request_id or current_request_id()
    return () if request_id is None else ((METADATA_KEY, request_id),)


@contextlib.contextmanager
def bound(request_id: str | None) -> Iterator[None]:
    """Makes `request_id` the current one inside the block; None keeps the current one."""
    if request_id is None:
        yield
        return
    token = _current.set(request_id)
    try:
        yield
    finally:
        # A streaming handler abandoned by grpc (its client gone) is closed later by the event loop, in
        # another context: there is nothing to restore then.
        with contextlib.suppress(ValueError):
            _current.reset(token)


def log_extra(request_id: str | None) -> dict[str, str]:
    """`extra=` for a log call about what `request_id` started; the current id is logged when it is None."""
    return {} if request_id is None else {"request_id": request_id}


class RequestIdFilter(logging.Filter):
    """Gives every record a `request_id` attribute: the one its log call passed, else the current one (or None)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Sets the attribute and lets the record through."""
        if getattr(record, "request_id", None) is None:
            record.request_id = _current.get()
        return True
