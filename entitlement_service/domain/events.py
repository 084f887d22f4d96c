"""The payment events the service applies: a completion grants a payment's items, a refund revokes them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from entitlement_service.domain.purchase import ItemRef
from paygrant.contract_rules import EventType


@dataclass(frozen=True)
class PaidItem:
    """An item of a payment with the price paid for it, in minor units."""

    item: ItemRef
    amount: int


@dataclass(frozen=True)
class PaymentEvent:
    """A validated completion or refund of one payment; event_id makes applying it idempotent.

    `request_id` names the checkout's request (paygrant.request_id) for the log; None when unknown.
    """

    event_id: str
    type: EventType
    payment_id: str
    user_id: str
    items: tuple[PaidItem, ...]
    occurred_at: dt.datetime
    currency: str
    request_id: str | None = None
