"""Ownership: the question asked, its answer, and the entitlement that answers it, derived from active purchases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from entitlement_service.domain.purchase import ItemRef, Purchase, Source


class OwnershipQuery(NamedTuple):
    """One validated "does this user own this item?" question (a named tuple, as ItemRef, for speed)."""

    user_id: str
    item: ItemRef


class Ownership(NamedTuple):
    """The answer to "does this user own this item?"; no source means not owned."""

    purchased_at: dt.datetime | None = None
    source: Source | None = None

    @property
    def owned(self) -> bool:
        """True when some active purchase gives the item."""
        return self.source is not None


NOT_OWNED = Ownership()


@dataclass(frozen=True)
class Entitlement:
    """A user owns an item because of one purchase: the earliest active one."""

    user_id: str
    item: ItemRef
    purchase_id: str
    purchased_at: dt.datetime
    source: Source
    payment_id: str | None

    @property
    def ownership(self) -> Ownership:
        """What an ownership check answers for this entitlement."""
        return Ownership(purchased_at=self.purchased_at, source=self.source)


def derive_entitlement(user_id: str, item: ItemRef, purchases: Iterable[Purchase]) -> Entitlement | None:
    """The entitlement the user's active purchases of the item give, or None when none is active.

    The earliest purchase wins so that the answer does not change when a later, redundant one
    (a second payment, an admin grant) comes and goes; ties break by id to stay deterministic.
    A double purchase gives the item only when no other active purchase does: it granted nothing
    new when recorded, even when its payment is older than the one applied before it.
    """
    active = [p for p in purchases if p.is_active and p.user_id == user_id and p.item == item]
    if not active:
        return None
    first = min(active, key=lambda p: (p.double_purchase, p.purchased_at, p.id))
    return Entitlement(
        user_id=user_id,
        item=item,
        purchase_id=first.id,
        purchased_at=first.purchased_at,
        source=first.source,
        payment_id=first.payment_id,
    )
