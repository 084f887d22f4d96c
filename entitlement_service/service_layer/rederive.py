"""Re-deriving entitlements from active purchases: the one way every ownership change updates the projection."""

from __future__ import annotations

from collections.abc import Iterable

from entitlement_service.domain.entitlement import Entitlement, derive_entitlement
from entitlement_service.domain.purchase import ItemRef
from entitlement_service.service_layer.unit_of_work import AbstractUnitOfWork


async def rederive_entitlements(
    uow: AbstractUnitOfWork, user_id: str, items: Iterable[ItemRef]
) -> dict[ItemRef, Entitlement | None]:
    """Stores what the user's active purchases of each item give now (after this transaction's writes)."""
    derived: dict[ItemRef, Entitlement | None] = {}
    for item in dict.fromkeys(items):
        active = await uow.purchases.active_purchases(user_id, item)
        derived[item] = derive_entitlement(user_id, item, active)
        await uow.entitlements.put(user_id, item, derived[item])
    return derived
