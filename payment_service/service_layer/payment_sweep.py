"""The sparse sweep: asks QPay about unpaid sessions around their expiry, once in a while, and stores expiry.

A callback can be lost (QPay gave up, the listener was down). The sweep catches those payments
without tight polling: each session near its expiry is checked at most once per `recheck`
interval, across all replicas (the check claims the session with a conditional UPDATE).

It is also the writer of expiry for sessions nobody reads: each pass, after asking QPay about the
sessions due, it stores EXPIRED for every session still unpaid past its time (session_expiry.py says
who else writes it, and why no payment recorded at the same moment is ever overwritten).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass

from paygrant.db import utcnow
from paygrant.failure_log import log_failure
from paygrant.runtime import BackgroundService
from payment_service.domain.errors import PaymentServiceError
from payment_service.service_layer.payment_confirmation import PaymentConfirmation
from payment_service.service_layer.session_expiry import expire_overdue_sessions
from payment_service.service_layer.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepWindow:
    """Which sessions a pass looks at, and how often one session may be checked."""

    lead: dt.timedelta
    grace: dt.timedelta
    recheck: dt.timedelta
    batch: int = 100


@dataclass(frozen=True)
class SweepPass:
    """What one pass did: sessions checked with QPay, sessions its batch writes stored EXPIRED.

    A check stores the expiry of the session it checked itself, so those are not counted twice.
    """

    checked: int
    expired: int


class PaymentSweep(BackgroundService):
    """Runs `sweep_once` every `interval` seconds in the background."""

    name = "payment-sweep"

    def __init__(
        self, uow_factory: UnitOfWorkFactory, confirmation: PaymentConfirmation, window: SweepWindow, interval: float
    ) -> None:
        self._uow_factory = uow_factory
        self._confirmation = confirmation
        self._window = window
        self._interval = interval

    async def sweep_once(self) -> SweepPass:
        """Checks the sessions now due with QPay, then stores expiry of the overdue ones."""
        w = self._window
        async with self._uow_factory() as uow:
            due = await uow.checkouts.near_expiry(utcnow(), w.lead, w.grace, w.recheck, w.batch)
        for session_id in due:
            try:
                session = await self._confirmation.check(session_id)
            except PaymentServiceError as error:  # QPay away: the next pass tries again
                log.warning("sweep could not check session %s: %s", session_id, error)
                continue
            if session.payment_id is not None:
                log.info("sweep found the lost payment of session %s", session_id)
        expired = await expire_overdue_sessions(self._uow_factory, utcnow(), w.batch)
        return SweepPass(checked=len(due), expired=expired)

    async def run(self) -> None:
        """A pass every `interval` seconds, forever."""
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.sweep_once()
            except Exception as error:  # the database may be briefly away; the sweep must outlive it
                log_failure("payment sweep pass", error)
