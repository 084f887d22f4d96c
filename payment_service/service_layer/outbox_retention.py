"""Deletes sent outbox rows once the retention period is over, a small batch per transaction.

A sent row only serves operators and reconciliation looking back; kept forever, the outbox would
grow by a row per payment event. Small batches keep each transaction (and its locks) short, so
deleting a backlog never holds up the relays claiming rows of the same table.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from paygrant.db import utcnow
from paygrant.failure_log import log_failure
from paygrant.runtime import BackgroundService
from payment_service.service_layer.unit_of_work import UnitOfWorkFactory


class OutboxRetention(BackgroundService):
    """Every `interval_seconds`, deletes the rows sent more than `retention` ago, `batch_size` per transaction."""

    name = "outbox-retention"

    def __init__(
        self, uow_factory: UnitOfWorkFactory, retention: dt.timedelta, batch_size: int, interval_seconds: float
    ) -> None:
        self._uow_factory = uow_factory
        self._retention = retention
        self._batch_size = batch_size
        self._interval_seconds = interval_seconds

    async def prune(self) -> int:
        """Deletes the rows sent before the retention period began, batch by batch; returns how many."""
        cutoff = utcnow() - self._retention
        deleted = 0
        while True:
            async with self._uow_factory() as uow:
                batch = await uow.outbox.delete_sent_before(cutoff, self._batch_size)
                await uow.commit()
            deleted += batch
            if batch < self._batch_size:
                return deleted

    async def run(self) -> None:
        """Prunes, then waits for the interval; forever."""
        while True:
            try:
                await self.prune()
            except Exception as error:  # the database may be briefly away; the loop must outlive it
                log_failure("outbox retention pass", error)
            await asyncio.sleep(self._interval_seconds)
