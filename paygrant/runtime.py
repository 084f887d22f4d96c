"""Runs long-lived components until SIGTERM or SIGINT, then stops them gracefully."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Protocol


class Component(Protocol):
    """Anything with an async start() and stop()."""

    async def start(self) -> object: ...

    async def stop(self) -> None: ...


def configure_logging(level: str = "INFO") -> None:
    """One log format for every paygrant process."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


async def run_until_signalled(*components: Component) -> None:
    """Starts the components in order, waits for a signal, stops them in reverse order."""
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_requested.set)
    started: list[Component] = []
    try:
        for component in components:
            started.append(component)  # before start(): a failed start must still be stopped
            await component.start()
        await stop_requested.wait()
    finally:
        for component in reversed(started):
            await component.stop()
