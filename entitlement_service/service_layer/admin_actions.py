"""Grants and revokes by hand, carried out at most once per idempotency key.

The key's admin_actions row is inserted first, in the transaction that carries the action out,
as the inbox does for payment events: of two requests with one key, the second waits on the
first's row and then finds it (pk_admin_actions), so exactly one carries the action out and the
other answers what it did. A failed action (nothing to revoke) rolls its row back with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import TypeVar

from entitlement_service.domain.admin_action import AdminAction
from entitlement_service.domain.errors import AdminActionRecorded, ConcurrentChange
from entitlement_service.service_layer.ownership_cache import OwnershipCache
from entitlement_service.service_layer.unit_of_work import AbstractUnitOfWork, UnitOfWorkFactory
from paygrant.db import utcnow

Result = TypeVar("Result")


async def carry_out_once(
    action: AdminAction,
    uow_factory: UnitOfWorkFactory,
    cache: OwnershipCache,
    first: Callable[[AbstractUnitOfWork, dt.datetime], Awaitable[Result]],
    again: Callable[[AbstractUnitOfWork], Awaitable[Result]],
) -> tuple[Result, bool]:
    """Runs `first` (inside the transaction that records the key) unless the key is recorded; then checks the
    request repeats the recorded one (IdempotencyKeyReused if not) and answers `again`. Returns the result and
    whether it was a repeat; the user's cached answers are invalidated either way."""
    try:
        async with uow_factory() as uow:
            at = utcnow()
            await uow.admin_actions.record(action, at)
            await uow.purchases.lock_buyer(action.user_id)
            result = await first(uow, at)
            await uow.commit()
        duplicate = False
    except AdminActionRecorded:
        async with uow_factory() as uow:
            recorded = await uow.admin_actions.get(action.idempotency_key)
            if recorded is None:  # only if the row was removed since: the caller may simply retry
                raise ConcurrentChange(f"key {action.idempotency_key!r} changed concurrently") from None
            action.ensure_repeats(recorded)
            result = await again(uow)
        duplicate = True
    # Also after a repeat: the first request may have committed and then failed to get here.
    await cache.invalidate_user(action.user_id)
    return result, duplicate
