"""Events the payment service announces through its outbox."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from paygrant.contract_rules import EventType


@dataclass(frozen=True)
class PaidItem:
    """An item of a payment with the price paid for it, in minor units."""

    kind: str
    item_id: str
    amount: int


@dataclass(frozen=True)
class PaymentEvent:
    """A PaymentCompleted or PaymentRefunded, as stored in the outbox and delivered.

    `request_id`: that of the CreateCheckout of the session paid (paygrant.request_id), so the apply
    is logged under it; None when unknown (sessions and outbox rows from before migration 0009).
    """

    event_id: str
    type: EventType
    payment_id: str
    user_id: str
    currency: str
    items: tuple[PaidItem, ...]
    occurred_at: dt.datetime
    request_id: str | None = None

    def to_payload(self) -> dict[str, Any]:
        """The JSON body of the outbox row (the event id and type live in their own columns)."""
        return {
            "payment_id": self.payment_id,
            "user_id": self.user_id,
            "currency": self.currency,
            "items": [{"kind": i.kind, "id": i.item_id, "amount": i.amount} for i in self.items],
            "occurred_at": self.occurred_at.isoformat(),
            "request_id": self.request_id,
        }

    @classmethod
    def from_payload(cls, event_id: str, type: str, payload: dict[str, Any]) -> PaymentEvent:
        """Rebuilds the event from an outbox row."""
        return cls(
            event_id=event_id,
            type=EventType(type),
            payment_id=payload["payment_id"],
            user_id=payload["user_id"],
            currency=payload["currency"],
            items=tuple(PaidItem(i["kind"], i["id"], i["amount"]) for i in payload["items"]),
            occurred_at=dt.datetime.fromisoformat(payload["occurred_at"]),
            request_id=payload.get("request_id"),
        )
