"""Wakes relays when a new outbox row commits, through PostgreSQL's LISTEN/NOTIFY.

Migration 0002 makes every outbox insert NOTIFY the channel. The relay still polls, so a lost
listener connection only slows delivery down to the poll interval until it reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from paygrant.runtime import BackgroundService

log = logging.getLogger(__name__)

CHANNEL = "paygrant_outbox"


class OutboxNotifications(BackgroundService):
    """Listens on the outbox channel and calls `on_notify` for each notification.

    `listening` is set while LISTEN is active, and cleared when the connection drops.
    """

    name = "outbox-notifications"

    def __init__(self, database_url: str, on_notify: Callable[[], None], reconnect_seconds: float = 2.0) -> None:
        self._dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._on_notify = on_notify
        self._reconnect_seconds = reconnect_seconds
        self.listening = asyncio.Event()

    async def run(self) -> None:
        """Listens, reconnecting when the connection drops, forever."""
        while True:
            try:
                connection = await asyncpg.connect(self._dsn)
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("outbox listener cannot connect, relying on polling: %s", error)
                await asyncio.sleep(self._reconnect_seconds)
                continue
            try:
                await self._listen_until_closed(connection)
            finally:
                self.listening.clear()
                with contextlib.suppress(Exception):
                    await connection.close()

    async def _listen_until_closed(self, connection: asyncpg.Connection) -> None:
        closed = asyncio.Event()
        connection.add_termination_listener(lambda _connection: closed.set())
        await connection.add_listener(CHANNEL, self._notified)
        self.listening.set()
        self._on_notify()  # rows may have committed while nobody listened
        await closed.wait()
        log.warning("outbox listener connection closed; reconnecting")

    def _notified(self, *_: Any) -> None:
        self._on_notify()
