"""Purchases: one row per item bought or granted, active until revoked by a refund or by hand."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from entitlement_service.domain.errors import InvalidTransition, PaymentOfAnotherUser


class Source(enum.StrEnum):
    """How a purchase came about."""

    PAID = "paid"
    FREE = "free"
    ADMIN = "admin"


class PurchaseStatus(enum.StrEnum):
    """A purchase gives ownership while active; a refund or a revoke ends it for good."""

    ACTIVE = "active"
    REVOKED = "revoked"


class ItemRef(NamedTuple):
    """A sellable, ownable thing: its kind and its id within that kind.

    A named tuple rather than a frozen dataclass: ownership checks make and hash millions of them,
    and a tuple is made and hashed in C (several times faster).
    """

    kind: str
    id: str

    def __composite_values__(self) -> tuple[str, str]:
        """Its columns, for the ORM's composite mapping."""
        return self.kind, self.id


def source_for_amount(amount: int) -> Source:
    """Money paid makes a paid purchase; a zero price makes a free one."""
    return Source.PAID if amount > 0 else Source.FREE


@dataclass
class Purchase:
    """One item bought (or granted) once, by one user."""

    id: str
    user_id: str
    item: ItemRef
    payment_id: str | None
    event_id: str | None
    amount: int
    currency: str
    source: Source
    purchased_at: dt.datetime
    status: PurchaseStatus = PurchaseStatus.ACTIVE
    revoked_at: dt.datetime | None = None
    reason: str | None = None
    actor: str | None = None
    double_purchase: bool = False
    revoke_reason: str | None = None
    revoked_by: str | None = None
    # The idempotency keys of the grant that made it and of the revoke that ended it, if by hand.
    granted_by_action: str | None = None
    revoked_by_action: str | None = None

    @classmethod
    def bought(
        cls,
        *,
        user_id: str,
        item: ItemRef,
        amount: int,
        currency: str,
        payment_id: str,
        event_id: str,
        purchased_at: dt.datetime,
    ) -> Purchase:
        """A new, active purchase of one item of a payment."""
        return cls(
            id=str(uuid.uuid4()),
            user_id=user_id,
            item=item,
            payment_id=payment_id,
            event_id=event_id,
            amount=amount,
            currency=currency,
            source=source_for_amount(amount),
            purchased_at=purchased_at,
        )

    @property
    def is_active(self) -> bool:
        """True while the purchase gives ownership."""
        return self.status is PurchaseStatus.ACTIVE

    @property
    def is_grant(self) -> bool:
        """True for a grant by hand (admin or free, no payment behind it): what a revoke by hand may end."""
        return self.payment_id is None and self.source is not Source.PAID

    def revoke(
        self, at: dt.datetime, reason: str | None = None, by: str | None = None, action: str | None = None
    ) -> None:
        """Ends the purchase, noting why, who (by hand) and the revoke's key; a revoked purchase never
        becomes active again, so a second revoke is an error."""
        if not self.is_active:
            raise InvalidTransition(f"purchase {self.id} is already revoked")
        self.status = PurchaseStatus.REVOKED
        self.revoked_at = at
        self.revoke_reason = reason
        self.revoked_by = by
        self.revoked_by_action = action


@dataclass(frozen=True)
class PurchaseRevoke:
    """A request to end one purchase, whatever its source: reconciliation's repair of a paid purchase that no
    paid payment stands behind."""

    purchase_id: str
    reason: str
    actor: str


def owned_through_another_payment(active: Iterable[Purchase], payment_id: str) -> bool:
    """True when an active purchase of another payment already gives the item: a new one is a double purchase."""
    return any(p.payment_id is not None and p.payment_id != payment_id for p in active if p.is_active)


def ensure_bought_by(purchases: Iterable[Purchase], user_id: str) -> None:
    """Refuses to act on a payment whose purchases belong to someone else."""
    for purchase in purchases:
        if purchase.user_id != user_id:
            raise PaymentOfAnotherUser(f"payment {purchase.payment_id} was made by another user")
