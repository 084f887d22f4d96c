"""RevokeEntitlement: ends a user's active grants of an item by hand, never a paid purchase, once per key."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from entitlement_service.domain.admin_action import AdminAction
from entitlement_service.domain.entitlement import OwnershipQuery
from entitlement_service.domain.purchase import Purchase
from entitlement_service.service_layer.admin_actions import carry_out_once
from entitlement_service.service_layer.ownership_cache import OwnershipCache
from entitlement_service.service_layer.rederive import rederive_entitlements
from entitlement_service.service_layer.unit_of_work import AbstractUnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True)
class RevokeOutcome:
    """The grants revoked, whether the user still owns the item, and whether the key had revoked them before."""

    revoked: list[Purchase]
    still_owned: bool
    duplicate: bool


async def revoke_entitlement(
    action: AdminAction, uow_factory: UnitOfWorkFactory, cache: OwnershipCache
) -> RevokeOutcome:
    """Revokes every active grant of the item; NotFound (and nothing written) when there is none."""

    async def first(uow: AbstractUnitOfWork, at: dt.datetime) -> tuple[list[Purchase], bool]:
        revoked = action.revoke_grants(await uow.purchases.active_purchases(action.user_id, action.item), at)
        await uow.purchases.save_revocations(revoked)
        derived = await rederive_entitlements(uow, action.user_id, [action.item])
        return revoked, derived[action.item] is not None

    async def again(uow: AbstractUnitOfWork) -> tuple[list[Purchase], bool]:
        query = OwnershipQuery(action.user_id, action.item)
        ownership = (await uow.entitlements.ownership_of([query]))[query]
        return await uow.purchases.revoked_by_action(action.idempotency_key), ownership.owned

    (revoked, still_owned), duplicate = await carry_out_once(action, uow_factory, cache, first, again)
    return RevokeOutcome(revoked, still_owned, duplicate)
