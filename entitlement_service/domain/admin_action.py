"""Grants and revokes by hand: what an operator asked for, kept by its idempotency key.

A key names one request for good: asked again with the same request it answers what the first
one did; asked with anything else (another user, item, source, reason, actor or action) it is
refused, so a retry can never be mistaken for a new decision.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from entitlement_service.domain.errors import IdempotencyKeyReused, NotFound
from entitlement_service.domain.purchase import ItemRef, Purchase, Source

# A grant costs nothing; its amount is recorded in the service's default currency.
GRANT_CURRENCY = "MNT"


class ActionKind(enum.StrEnum):
    """What an operator did."""

    GRANT = "grant"
    REVOKE = "revoke"


@dataclass(frozen=True)
class AdminAction:
    """One validated grant or revoke request; `source` is set for grants only."""

    idempotency_key: str
    kind: ActionKind
    user_id: str
    item: ItemRef
    reason: str
    actor: str
    source: Source | None = None
    # When it was recorded: not part of the request, so two copies of one request compare equal.
    recorded_at: dt.datetime | None = field(default=None, compare=False)

    def ensure_repeats(self, recorded: AdminAction) -> None:
        """Refuses a request that reuses the key of a different recorded one."""
        if recorded != self:
            raise IdempotencyKeyReused(
                f"idempotency key {self.idempotency_key!r} was used for a different {recorded.kind.value}"
            )

    def granted_purchase(self, at: dt.datetime) -> Purchase:
        """The purchase a grant records: no payment, amount 0, who and why, and the grant's key."""
        return Purchase(
            id=str(uuid.uuid4()),
            user_id=self.user_id,
            item=self.item,
            payment_id=None,
            event_id=None,
            amount=0,
            currency=GRANT_CURRENCY,
            source=self.source or Source.ADMIN,
            purchased_at=at,
            reason=self.reason,
            actor=self.actor,
            granted_by_action=self.idempotency_key,
        )

    def revoke_grants(self, active: Iterable[Purchase], at: dt.datetime) -> list[Purchase]:
        """Ends every active grant among `active` (never a purchase with a payment behind it), oldest first;
        NotFound when there is none."""
        grants = sorted((p for p in active if p.is_active and p.is_grant), key=lambda p: (p.purchased_at, p.id))
        if not grants:
            raise NotFound(f"user {self.user_id} has no active grant of {self.item.kind} {self.item.id}")
        for grant in grants:
            grant.revoke(at, reason=self.reason, by=self.actor, action=self.idempotency_key)
        return grants
