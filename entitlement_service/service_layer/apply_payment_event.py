"""ApplyPaymentEvent: a payment completion grants its items, a refund revokes them, each at most once.

An item the user already owns through another payment is still recorded, flagged as a double
purchase: it grants nothing new, and reconciliation can count it and return the money.
"""

from __future__ import annotations

import datetime as dt

from entitlement_service.domain.errors import DuplicateEvent
from entitlement_service.domain.events import PaymentEvent
from entitlement_service.domain.purchase import ItemRef, Purchase, ensure_bought_by, owned_through_another_payment
from entitlement_service.service_layer.ownership_cache import OwnershipCache
from entitlement_service.service_layer.rederive import rederive_entitlements
from entitlement_service.service_layer.unit_of_work import AbstractUnitOfWork, UnitOfWorkFactory
from paygrant.contract_rules import EventType
from paygrant.db import utcnow

# Why a refund's purchases were revoked, for the history.
REFUNDED = "refunded"


async def apply_payment_event(event: PaymentEvent, uow_factory: UnitOfWorkFactory, cache: OwnershipCache) -> bool:
    """Applies the event in one transaction; returns True when its id was applied before (nothing changes)."""
    async with uow_factory() as uow:
        try:
            await uow.inbox.record_event(event, utcnow())
        except DuplicateEvent:
            duplicate = True
        else:
            duplicate = False
            await uow.purchases.lock_buyer(event.user_id)
            recorded = await uow.purchases.purchases_of_payment(event.payment_id)
            ensure_bought_by(recorded, event.user_id)
            if event.type is EventType.PAYMENT_COMPLETED:
                changed = await _grant(uow, event, recorded)
            else:
                changed = await _revoke(uow, event, recorded)
            await rederive_entitlements(uow, event.user_id, changed)
            await uow.commit()
    # Also after a duplicate: the first apply may have committed and then failed to get here.
    await cache.invalidate_user(event.user_id)
    return duplicate


async def _grant(uow: AbstractUnitOfWork, event: PaymentEvent, recorded: list[Purchase]) -> list[ItemRef]:
    """Records the payment's items not recorded yet (a re-sent completion adds nothing); returns the items granted."""
    already = {purchase.item for purchase in recorded}
    new = [
        Purchase.bought(
            user_id=event.user_id,
            item=paid.item,
            amount=paid.amount,
            currency=event.currency,
            payment_id=event.payment_id,
            event_id=event.event_id,
            purchased_at=event.occurred_at,
        )
        for paid in event.items
        if paid.item not in already
    ]
    refunded_early = await uow.purchases.is_refund_marked(event.payment_id)
    if refunded_early:
        _revoke_all(new, utcnow())  # kept as history, so reconcile sees the payment was applied
    else:
        for purchase in new:
            active = await uow.purchases.active_purchases(event.user_id, purchase.item)
            purchase.double_purchase = owned_through_another_payment(active, event.payment_id)
    await uow.purchases.add_purchases(new)
    return [] if refunded_early else [purchase.item for purchase in new]


async def _revoke(uow: AbstractUnitOfWork, event: PaymentEvent, recorded: list[Purchase]) -> list[ItemRef]:
    """Revokes the payment's active purchases, or marks the payment when its completion has not come yet."""
    if not recorded:
        if not await uow.purchases.is_refund_marked(event.payment_id):
            await uow.purchases.mark_refund(event.payment_id, event.event_id, utcnow())
        return []
    active = [purchase for purchase in recorded if purchase.is_active]
    _revoke_all(active, utcnow())
    await uow.purchases.save_revocations(active)
    return [purchase.item for purchase in active]


def _revoke_all(purchases: list[Purchase], at: dt.datetime) -> None:
    for purchase in purchases:
        purchase.revoke(at, reason=REFUNDED)
