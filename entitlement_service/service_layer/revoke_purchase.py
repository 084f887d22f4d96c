"""RevokePurchase: ends one purchase, whatever its source, as reconciliation repairs a grant nothing paid for."""

from __future__ import annotations

from entitlement_service.domain.errors import NotFound
from entitlement_service.domain.purchase import Purchase, PurchaseRevoke
from entitlement_service.service_layer.ownership_cache import OwnershipCache
from entitlement_service.service_layer.rederive import rederive_entitlements
from entitlement_service.service_layer.unit_of_work import AbstractUnitOfWork, UnitOfWorkFactory
from paygrant.db import utcnow


async def revoke_purchase(
    command: PurchaseRevoke, uow_factory: UnitOfWorkFactory, cache: OwnershipCache
) -> tuple[Purchase, bool]:
    """Revokes the purchase and re-derives its holder's ownership of the item; returns it and whether it changed
    (False when it was revoked already). NotFound when no purchase has the id."""
    async with uow_factory() as uow:
        purchase = await _get(uow, command.purchase_id)
        await uow.purchases.lock_buyer(purchase.user_id)
        purchase = await _get(uow, command.purchase_id)  # again, under the buyer's lock
        if not purchase.is_active:
            return purchase, False
        purchase.revoke(utcnow(), reason=command.reason, by=command.actor)
        await uow.purchases.save_revocations([purchase])
        await rederive_entitlements(uow, purchase.user_id, [purchase.item])
        await uow.commit()
    await cache.invalidate_user(purchase.user_id)
    return purchase, True


async def _get(uow: AbstractUnitOfWork, purchase_id: str) -> Purchase:
    purchase = await uow.purchases.get(purchase_id)
    if purchase is None:
        raise NotFound(f"purchase {purchase_id} does not exist", "purchase_id")
    return purchase
