"""ApplyPaymentEvent(s): a payment completion grants its items, a refund revokes them, each at most once.

A batch is applied in one transaction, planned first rather than savepointed per event: the
inbox takes every id in one statement (INSERT … ON CONFLICT DO NOTHING, so it still decides each
event on its own), the buyers are locked and the rows the events touch are read a statement per
kind, then a PaymentLedger applies the events one after another in memory, and what changed is
written a statement per kind. An event its ledger refuses (a payment of another user) changed
nothing in memory, and its inbox row is taken out again before the commit, so it neither blocks
nor rolls back the others. A savepoint per event would give the same answers at about ten round
trips per event instead of about ten per batch: the relay's throughput is this difference.

After the commit the cache forgets the buyers' answers, and may keep the ones the ledger derived
(CommittedAnswers), so that a buyer's first check after paying need not read them back.

A single ApplyPaymentEvent is a batch of one: one code path for both.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping, Sequence

from entitlement_service.domain.errors import InvalidRequest, PaymentOfAnotherUser
from entitlement_service.domain.events import PaymentEvent
from entitlement_service.domain.payment_ledger import PaymentLedger, holdings_paid_for, holdings_touched
from entitlement_service.service_layer.ownership_cache import CommittedAnswers, OwnershipCache
from entitlement_service.service_layer.unit_of_work import UnitOfWorkFactory
from paygrant.db import utcnow
from paygrant.request_id import log_extra

log = logging.getLogger(__name__)


class Applied(enum.Enum):
    """An event that did what it says: now, or by an earlier copy of its id."""

    NEW = "new"
    DUPLICATE = "duplicate"


# What became of one event of a batch: applied, or the error that refused it alone.
EventOutcome = Applied | InvalidRequest | PaymentOfAnotherUser


async def apply_payment_event(event: PaymentEvent, uow_factory: UnitOfWorkFactory, cache: OwnershipCache) -> bool:
    """Applies the event in one transaction; returns True when its id was applied before (nothing changes).

    Raises PaymentOfAnotherUser, changing nothing, when the event's payment was made by someone else.
    """
    [outcome] = await apply_payment_events([event], uow_factory, cache)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome is Applied.DUPLICATE


async def apply_payment_events(
    events: Sequence[PaymentEvent | InvalidRequest], uow_factory: UnitOfWorkFactory, cache: OwnershipCache
) -> list[EventOutcome]:
    """Applies the valid events in order, in one transaction; one outcome per entry, in order.

    An InvalidRequest entry (an event that failed validation) stays its own outcome. Failures of the
    whole batch (the database, a concurrent change, the cache) raise, and nothing is applied.
    """
    valid = [event for event in events if isinstance(event, PaymentEvent)]
    decided: dict[int, EventOutcome] = {}  # by position in `valid`
    committed = CommittedAnswers({}, cache.epoch())
    if valid:
        async with uow_factory() as uow:
            now = utcnow()
            new_ids = await uow.inbox.record_new(valid, now)
            fresh = [event for event in valid if event.event_id in new_ids]
            await uow.purchases.lock_buyers(sorted({event.user_id for event in fresh}))
            payments = {event.payment_id for event in fresh}
            of_payment, active = await uow.purchases.purchases_touched(payments, holdings_paid_for(fresh))
            if refunded := holdings_touched(fresh, of_payment) - active.keys():  # what refunded payments gave
                active.update(await uow.purchases.active_purchases_of(refunded))
            ledger = PaymentLedger(of_payment, active, await uow.purchases.refund_marked(payments), now)
            applied: set[str] = set()
            for position, event in enumerate(valid):
                if event.event_id not in new_ids or event.event_id in applied:
                    decided[position] = Applied.DUPLICATE
                    continue
                try:
                    ledger.apply(event)
                except PaymentOfAnotherUser as refused:
                    decided[position] = refused
                else:
                    applied.add(event.event_id)
                    decided[position] = Applied.NEW
            await uow.inbox.withdraw(new_ids - applied)
            await uow.purchases.add_purchases(ledger.added)
            await uow.purchases.save_revocations(ledger.revoked)
            await uow.purchases.mark_refunds(ledger.refund_marks, now)
            await uow.entitlements.put_many(ledger.entitlements())
            committed = CommittedAnswers(ledger.answers(), cache.epoch())
            await uow.commit()
        _log_applied(valid, decided)
    # Also after a duplicate: the first apply may have committed and then failed to get here.
    done = [event for position, event in enumerate(valid) if isinstance(decided[position], Applied)]
    await cache.invalidate_users(sorted({event.user_id for event in done}), committed)
    outcomes = iter(decided[position] for position in range(len(valid)))
    return [event if isinstance(event, InvalidRequest) else next(outcomes) for event in events]


def _log_applied(events: Sequence[PaymentEvent], decided: Mapping[int, EventOutcome]) -> None:
    """A line per event applied now (a duplicate changed nothing), under its checkout's request id."""
    for position, event in enumerate(events):
        if decided[position] is Applied.NEW:
            log.info(
                "payment event %s applied: %s of payment %s for user %s, %d item(s)",
                event.event_id,
                event.type,
                event.payment_id,
                event.user_id,
                len(event.items),
                extra=log_extra(event.request_id),
            )
