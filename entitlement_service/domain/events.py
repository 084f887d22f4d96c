"""What callers ask of the service: payment events to apply and ownership questions."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from entitlement_service.domain.purchase import Item


class EventType(enum.StrEnum):
    """What happened to a payment."""

    COMPLETED = "completed"
    REFUNDED = "refunded"


@dataclass(frozen=True)
class PaidItem:
    """An item of a payment with the price paid for it, in minor units."""

    item: Item
    amount: int


@dataclass(frozen=True)
class PaymentEvent:
    """A validated completion or refund of one payment; event_id makes applying it idempotent."""

    event_id: str
    type: EventType
    payment_id: str
    user_id: str
    items: tuple[PaidItem, ...]
    occurred_at: dt.datetime
    currency: str


@dataclass(frozen=True)
class OwnershipQuery:
    """One validated "does this user own this item?" question."""

    user_id: str
    item: Item
