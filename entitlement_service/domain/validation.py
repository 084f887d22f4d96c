"""Input rules: every check raises InvalidRequest naming the offending field, the way callers spell it."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence

from entitlement_service.domain.entitlement import OwnershipQuery
from entitlement_service.domain.errors import InvalidRequest
from entitlement_service.domain.events import PaidItem, PaymentEvent
from entitlement_service.domain.purchase import ItemRef
from paygrant import contract_rules
from paygrant.contract_rules import EventType

CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
DEFAULT_CURRENCY = "MNT"
MAX_ITEMS = 100
MAX_QUERIES = 1000

# (kind, id, amount) of an item as the caller sent it, before any check.
RawPaidItem = tuple[str, str, int]


def require_id(value: str, field: str) -> str:
    """An identifier the caller chose (user, payment, item id)."""
    return contract_rules.require_id(value, field, InvalidRequest)


def require_kind(value: str, field: str) -> str:
    """An item kind: lowercase, starting with a letter, 1-32 characters."""
    return contract_rules.require_kind(value, field, InvalidRequest)


def require_item(kind: str, item_id: str, field: str) -> ItemRef:
    """An item reference; `field` is the path of the ItemRef message."""
    return ItemRef(require_kind(kind, f"{field}.kind"), require_id(item_id, f"{field}.id"))


def require_count(count: int, field: str, low: int, high: int) -> None:
    """A repeated field with between `low` and `high` entries."""
    if not low <= count <= high:
        raise InvalidRequest(field, f"must have {low} to {high} entries, got {count}")


def parse_query(user_id: str, kind: str, item_id: str, prefix: str = "") -> OwnershipQuery:
    """One ownership question; `prefix` locates it inside a batch."""
    return OwnershipQuery(require_id(user_id, f"{prefix}user_id"), require_item(kind, item_id, f"{prefix}item"))


def parse_queries(raw: Sequence[tuple[str, str, str]]) -> list[OwnershipQuery | InvalidRequest]:
    """A batch of 1-1000 (user_id, kind, item id) questions, in the caller's order.

    The batch's size is checked as a whole (InvalidRequest naming `queries`); an invalid question
    stands in the list as its InvalidRequest (its field relative to the question, e.g. `item.kind`),
    so the others are still answered.
    """
    require_count(len(raw), "queries", 1, MAX_QUERIES)
    parsed: list[OwnershipQuery | InvalidRequest] = []
    for query in raw:
        try:
            parsed.append(parse_query(*query))
        except InvalidRequest as invalid:
            parsed.append(invalid)
    return parsed


def parse_payment_event(
    *,
    event_id: str,
    type: EventType | None,
    payment_id: str,
    user_id: str,
    items: Sequence[RawPaidItem],
    occurred_at: dt.datetime | None,
    currency: str,
) -> PaymentEvent:
    """A payment event with every field checked; a refund may list no items (it revokes the whole payment)."""
    try:
        event_uuid = uuid.UUID(event_id)
    except ValueError:
        raise InvalidRequest("event_id", "must be a UUID") from None
    if type is None:
        raise InvalidRequest("type", "must be PAYMENT_EVENT_TYPE_COMPLETED or PAYMENT_EVENT_TYPE_REFUNDED")
    if occurred_at is None:
        raise InvalidRequest("occurred_at", "is required")
    currency = currency or DEFAULT_CURRENCY
    if not CURRENCY_PATTERN.fullmatch(currency):
        raise InvalidRequest("currency", "must be three uppercase letters (ISO 4217)")
    return PaymentEvent(
        event_id=str(event_uuid),  # one spelling per UUID, so the inbox sees every copy as the same event
        type=type,
        payment_id=require_id(payment_id, "payment_id"),
        user_id=require_id(user_id, "user_id"),
        items=_parse_paid_items(items, low=1 if type is EventType.PAYMENT_COMPLETED else 0),
        occurred_at=occurred_at,
        currency=currency,
    )


def _parse_paid_items(raw: Sequence[RawPaidItem], low: int) -> tuple[PaidItem, ...]:
    require_count(len(raw), "items", low, MAX_ITEMS)
    seen: dict[ItemRef, int] = {}
    parsed = []
    for i, (kind, item_id, amount) in enumerate(raw):
        item = require_item(kind, item_id, f"items[{i}].item")
        if item in seen:
            raise InvalidRequest(f"items[{i}].item", f"repeats items[{seen[item]}].item")
        amount_problem = contract_rules.amount_problem(amount)
        if amount_problem:
            raise InvalidRequest(f"items[{i}].amount", amount_problem)
        seen[item] = i
        parsed.append(PaidItem(item, amount))
    # No payment the payment service records can add up past what it stores.
    total_problem = contract_rules.total_problem([paid.amount for paid in parsed])
    if total_problem:
        raise InvalidRequest("items", total_problem)
    return tuple(parsed)
