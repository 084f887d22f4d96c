"""Payment events as the entitlement service's tests send them: user u1's payment pay-1 of two items at T0."""

from __future__ import annotations

import datetime as dt
import uuid

from entitlement_service.domain.events import PaymentEvent
from entitlement_service.domain.validation import RawPaidItem, parse_payment_event
from paygrant.contract_rules import EventType

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
ITEMS: list[RawPaidItem] = [("course", "algebra-1", 25_000), ("test", "mock-exam", 0)]


def payment_event(
    kind: EventType,
    payment_id: str = "pay-1",
    items: list[RawPaidItem] | None = None,
    user_id: str = "u1",
    at: dt.datetime = T0,
) -> PaymentEvent:
    """A valid event with a new id; a completion lists ITEMS and a refund nothing unless `items` says otherwise."""
    if items is None:
        items = ITEMS if kind is EventType.PAYMENT_COMPLETED else []
    return parse_payment_event(
        event_id=str(uuid.uuid4()),
        type=kind,
        payment_id=payment_id,
        user_id=user_id,
        items=items,
        occurred_at=at,
        currency="MNT",
    )
