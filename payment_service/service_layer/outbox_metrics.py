"""Keeps the outbox gauges (paygrant.metrics) current: a scrape reads them, it never waits for the database."""

from __future__ import annotations

import asyncio

from paygrant.db import utcnow
from paygrant.failure_log import log_failure
from paygrant.metrics import OUTBOX_OLDEST_PENDING_SECONDS, OUTBOX_ROWS
from paygrant.runtime import BackgroundService
from payment_service.service_layer.outbox_admin import outbox_report
from payment_service.service_layer.unit_of_work import UnitOfWorkFactory


class OutboxGauges(BackgroundService):
    """Every `interval_seconds`, counts the outbox rows by status and ages the oldest pending one."""

    name = "outbox-gauges"

    def __init__(self, uow_factory: UnitOfWorkFactory, interval_seconds: float = 5.0) -> None:
        self._uow_factory = uow_factory
        self._interval_seconds = interval_seconds
        self.measured = asyncio.Event()  # set after each measurement; tests wait on it

    async def measure(self) -> None:
        """Reads the outbox once and sets the gauges."""
        report = await outbox_report(self._uow_factory, dead_limit=0)
        for status, count in report.counts.items():
            OUTBOX_ROWS.labels(status.value).set(count)
        oldest = report.oldest_pending_at
        OUTBOX_OLDEST_PENDING_SECONDS.set(0.0 if oldest is None else (utcnow() - oldest).total_seconds())
        self.measured.set()

    async def run(self) -> None:
        """Measures, then waits for the interval; forever."""
        while True:
            try:
                await self.measure()
            except Exception as error:  # the database may be briefly away; the gauges keep their last values
                log_failure("outbox gauges", error)
            await asyncio.sleep(self._interval_seconds)
