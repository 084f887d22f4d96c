"""Stored expiry: who writes EXPIRED, and reading a session as it stands now.

A session still unpaid at its `expires_at` becomes EXPIRED through one conditional UPDATE
(`CheckoutRepository.expire_overdue`: status still PENDING and its time up), which never overwrites
a payment or a cancellation committed at the same moment. Two writers use it:

- the sweep (payment_sweep.py) stores expiry for every overdue session, in batches, each pass;
- reads (`current_checkout`: GetCheckout, CheckPayment, CancelCheckout) store it for the one
  session they show when they find it overdue before the sweep did,

so what a caller is shown is what is stored, whether or not the sweep runs. Either may win; both
write the same thing. Recording a payment holds the session's row lock, so it commits wholly
before or after such a write. A payment recorded once the session's time is up is honoured and
flagged late either way (CheckoutSession.record_payment, which under that lock also stores the
expiry a short late payment leaves in place).
"""

from __future__ import annotations

import datetime as dt

from paygrant.db import utcnow
from payment_service.domain.checkout import CheckoutSession
from payment_service.service_layer.queries import load_checkout
from payment_service.service_layer.unit_of_work import UnitOfWorkFactory


async def current_checkout(uow_factory: UnitOfWorkFactory, session_id: str) -> CheckoutSession:
    """The session as recorded, with its expiry stored first if it is overdue; InvalidRequest or NotFound otherwise."""
    session = await load_checkout(uow_factory, session_id)
    now = utcnow()
    if not session.expire(now):
        return session
    async with uow_factory() as uow:
        stored = await uow.checkouts.expire_overdue(now, session_id=session.id)
        await uow.commit()
    # Nothing stored: a payment or a cancellation committed first, so show what it left.
    return session if stored else await load_checkout(uow_factory, session_id)


async def expire_overdue_sessions(uow_factory: UnitOfWorkFactory, now: dt.datetime, batch: int) -> int:
    """Stores EXPIRED for every session overdue at `now`, `batch` rows per transaction; returns how many."""
    expired = 0
    while True:
        async with uow_factory() as uow:
            count = await uow.checkouts.expire_overdue(now, limit=batch)
            await uow.commit()
        expired += count
        if count < batch:
            return expired
