"""GrantEntitlement: gives a user an item by hand, as an ADMIN or FREE purchase, once per idempotency key."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from entitlement_service.domain.admin_action import AdminAction
from entitlement_service.domain.purchase import Purchase
from entitlement_service.service_layer.admin_actions import carry_out_once
from entitlement_service.service_layer.ownership_cache import OwnershipCache
from entitlement_service.service_layer.rederive import rederive_entitlements
from entitlement_service.service_layer.unit_of_work import AbstractUnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True)
class GrantOutcome:
    """The purchase that records the grant; duplicate when the key had granted it before."""

    purchase: Purchase
    duplicate: bool


async def grant_entitlement(action: AdminAction, uow_factory: UnitOfWorkFactory, cache: OwnershipCache) -> GrantOutcome:
    """Records the grant as a purchase, even of an item the user owns already (ownership then stays as it was)."""

    async def first(uow: AbstractUnitOfWork, at: dt.datetime) -> Purchase:
        purchase = action.granted_purchase(at)
        await uow.purchases.add_purchases([purchase])
        await rederive_entitlements(uow, action.user_id, [action.item])
        return purchase

    async def again(uow: AbstractUnitOfWork) -> Purchase:
        purchase = await uow.purchases.granted_by_action(action.idempotency_key)
        if purchase is None:  # the grant's row and its purchase are committed together
            raise RuntimeError(f"grant {action.idempotency_key!r} is recorded without its purchase")
        return purchase

    purchase, duplicate = await carry_out_once(action, uow_factory, cache, first, again)
    return GrantOutcome(purchase, duplicate)
