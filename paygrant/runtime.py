"""Runs long-lived components until SIGTERM or SIGINT, then stops them gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import signal
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import urlsplit

from paygrant.request_id import RequestIdFilter

# What a process prints on stdout once every component has started: first a line per listener
# (`listening: <label> at <address>`), then READY. `paygrant up` and the tests read bound ports
# (port 0 included) from these lines instead of guessing free ports.
LISTENING_PREFIX = "listening: "
READY = "ready"


class Component(Protocol):
    """Anything with an async start() and stop()."""

    async def start(self) -> object: ...

    async def stop(self) -> None: ...


def announce(components: tuple[Component, ...]) -> None:
    """Prints where each started component listens (its `listening` label -> address map), then READY."""
    listening: dict[str, str] = {}
    for component in components:
        listening.update(getattr(component, "listening", {}))
    announce_listening(listening)


def announce_listening(listening: Mapping[str, str]) -> None:
    """Prints a `listening:` line per label -> address, then READY."""
    for label, address in listening.items():
        print(f"{LISTENING_PREFIX}{label} at {address}", flush=True)
    print(READY, flush=True)


def port_of(address: str) -> int:
    """The port of "host:port" or of a URL, as announced."""
    port = urlsplit(address if "//" in address else f"//{address}").port
    if port is None:
        raise ValueError(f"no port in {address!r}")
    return port


def parse_listening(line: str) -> tuple[str, str] | None:
    """(label, address) of a line `announce` printed, or None for any other line."""
    if not line.startswith(LISTENING_PREFIX):
        return None
    label, _, address = line[len(LISTENING_PREFIX) :].strip().rpartition(" at ")
    return label, address


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Control characters (CR and LF first of all) and Unicode line breaks, each as a visible escape.
_CONTROL_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))} | {
    ord("\r"): "\\r",
    ord("\n"): "\\n",
    ord("\t"): "\\t",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def escape_control_characters(text: str) -> str:
    """`text` on one line: every control character written as its escape (`\\n`, `\\x1b`)."""
    return text.translate(_CONTROL_ESCAPES)


class OneLineFormatter(logging.Formatter):
    """Escapes control characters in a record's message, so no logged value can forge a log line.

    Only the message is escaped: a traceback appended after it keeps its own newlines. A record's
    request id (paygrant.request_id), when it has one, ends the line as ` request_id=<id>`.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The formatted line with the record's message escaped (the record itself is left as it was)."""
        safe = logging.makeLogRecord(record.__dict__)
        safe.message = escape_control_characters(record.message)
        line = super().formatMessage(safe)
        request_id = getattr(record, "request_id", None)
        return line if request_id is None else f"{line} request_id={escape_control_characters(str(request_id))}"


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line (time, level, logger, process, message, request id and traceback if any), for machines.

    JSON escapes every control character of a value, so no logged value can forge a line here either.
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.process,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", log_format: str = "text") -> None:
    """One log format for every paygrant process, one line per message: text for a terminal, or `json`.

    Every line names the request it was logged for, if any (paygrant.request_id).
    """
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLineFormatter() if log_format == "json" else OneLineFormatter(LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    logging.basicConfig(level=level, handlers=[handler])
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def stop_requested() -> asyncio.Event:
    """An event set by the first SIGTERM or SIGINT this process receives."""
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, event.set)
    return event


async def run_until_signalled(*components: Component) -> None:
    """Starts the components in order, waits for a signal, stops them in reverse order."""
    stopping = stop_requested()
    started: list[Component] = []
    try:
        for component in components:
            started.append(component)  # before start(): a failed start must still be stopped
            await component.start()
        announce(components)
        await stopping.wait()
    finally:
        for component in reversed(started):
            await component.stop()


class BackgroundService:
    """A long-running `run()` as a component: start() launches it as a task, stop() cancels it."""

    name = "background-service"
    _task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """The loop; runs until cancelled."""
        raise NotImplementedError

    async def start(self) -> None:
        """Launches run() in the background."""
        self._task = asyncio.create_task(self.run(), name=self.name)

    async def stop(self) -> None:
        """Cancels run() and waits for it to end; safe to call more than once."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class ServiceApp:
    """A whole service in one process: start() does all the I/O, stop() undoes it.

    Each part that starts registers its own shutdown on an exit stack, so stop() (or a failed
    start) undoes exactly what was started, newest first. After start(), `grpc_port` is the bound
    gRPC port and `listening` maps a label to each address the service serves on.
    """

    def __init__(self) -> None:
        self._started = contextlib.AsyncExitStack()
        self.grpc_port = 0
        self.listening: dict[str, str] = {}

    async def start(self) -> None:
        """Starts every part; undoes what started if a step fails."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stops everything that was started, newest first; safe to call more than once."""
        await self._started.aclose()
        self.grpc_port = 0
        self.listening = {}

    async def _start(self) -> None:
        raise NotImplementedError

    async def _component(self, component: Component) -> None:
        """Starts a component and registers its shutdown."""
        await component.start()
        self._started.push_async_callback(component.stop)
