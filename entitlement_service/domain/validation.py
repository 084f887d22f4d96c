"""Input rules: every check raises InvalidRequest naming the offending field, the way callers spell it."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Sequence
from typing import TypeVar

from entitlement_service.domain.admin_action import ActionKind, AdminAction
from entitlement_service.domain.entitlement import OwnershipQuery
from entitlement_service.domain.errors import InvalidRequest
from entitlement_service.domain.events import PaidItem, PaymentEvent
from entitlement_service.domain.history import HistoryQuery, after_token
from entitlement_service.domain.purchase import ItemRef, PurchaseRevoke, PurchaseStatus, Source
from entitlement_service.domain.purchase_stream import PurchaseKey, StreamQuery
from entitlement_service.domain.stats import Granularity, StatsQuery
from paygrant import contract_rules, keyset
from paygrant.contract_rules import KIND_PATTERN, PLAIN_ID_PATTERN, EventType
from paygrant.request_id import request_id_problem

# Newline-joined lists of plain ids, and of kinds: a batch checked in one match per field.
_PLAIN_IDS = re.compile(rf"(?:{PLAIN_ID_PATTERN.pattern}\n)*{PLAIN_ID_PATTERN.pattern}")
_KINDS = re.compile(rf"(?:{KIND_PATTERN.pattern}\n)*{KIND_PATTERN.pattern}")

CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
DEFAULT_CURRENCY = "MNT"
MAX_ITEMS = 100
MAX_QUERIES = 1000
MAX_EVENTS = 1000

# (kind, id, amount) of an item as the caller sent it, before any check.
RawPaidItem = tuple[str, str, int]
Raw = TypeVar("Raw")
Parsed = TypeVar("Parsed")


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
    if PLAIN_ID_PATTERN.fullmatch(user_id) and KIND_PATTERN.fullmatch(kind) and PLAIN_ID_PATTERN.fullmatch(item_id):
        return OwnershipQuery(user_id, ItemRef(kind, item_id))  # the common case, valid at a glance
    return OwnershipQuery(require_id(user_id, f"{prefix}user_id"), require_item(kind, item_id, f"{prefix}item"))


def parse_queries(raw: Sequence[tuple[str, str, str]]) -> list[OwnershipQuery | InvalidRequest]:
    """A batch of 1-1000 (user_id, kind, item id) questions, in the caller's order.

    The batch's size is checked as a whole (InvalidRequest naming `queries`); an invalid question
    stands in the list as its InvalidRequest (its field relative to the question, e.g. `item.kind`),
    so the others are still answered.
    """
    require_count(len(raw), "queries", 1, MAX_QUERIES)
    if _all_plain(raw):  # the common case, valid at a glance: three matches for the whole batch
        return [OwnershipQuery(user_id, ItemRef(kind, item_id)) for user_id, kind, item_id in raw]
    parsed: list[OwnershipQuery | InvalidRequest] = []
    for query in raw:
        try:
            parsed.append(parse_query(*query))
        except InvalidRequest as invalid:
            parsed.append(invalid)
    return parsed


def _all_plain(raw: Sequence[tuple[str, str, str]]) -> bool:
    """True when every user id and item id is a plain id and every kind a valid kind (none holds a newline)."""
    users, kinds, ids = zip(*raw, strict=True)
    return bool(
        _PLAIN_IDS.fullmatch("\n".join(users))
        and _KINDS.fullmatch("\n".join(kinds))
        and _PLAIN_IDS.fullmatch("\n".join(ids))
    )


def parse_payment_event(
    *,
    event_id: str,
    type: EventType | None,
    payment_id: str,
    user_id: str,
    items: Sequence[RawPaidItem],
    occurred_at: dt.datetime | None,
    currency: str,
    request_id: str = "",
) -> PaymentEvent:
    """A payment event with every field checked; a refund may list no items (it revokes the whole payment).

    An empty `request_id` is an unknown one.
    """
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
        request_id=_parse_request_id(request_id) if request_id else None,
    )


def _parse_request_id(value: str) -> str:
    problem = request_id_problem(value)
    if problem:
        raise InvalidRequest("request_id", problem)
    return value


def parse_each(
    raw: Sequence[Raw], field: str, high: int, parse: Callable[[Raw], Parsed]
) -> list[Parsed | InvalidRequest]:
    """A batch of 1 to `high` entries of `field`, each parsed on its own, in the caller's order.

    The batch's size is checked as a whole (InvalidRequest naming `field`); an invalid entry stands
    in the list as its InvalidRequest (its field relative to the entry, e.g. `items[0].amount`), so
    the others are still served.
    """
    require_count(len(raw), field, 1, high)
    parsed: list[Parsed | InvalidRequest] = []
    for entry in raw:
        try:
            parsed.append(parse(entry))
        except InvalidRequest as invalid:
            parsed.append(invalid)
    return parsed


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


# ---- analytics: statistics and streams over a time range

# The longest range per granularity: ten years of months, one year of days (an answer stays well
# under gRPC's default 4 MB message limit).
MAX_STATS_RANGE = {Granularity.MONTH: dt.timedelta(days=3653), Granularity.DAY: dt.timedelta(days=366)}
DEFAULT_TOP_ITEMS, MAX_TOP_ITEMS = 10, 100
DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE = 1000, 5000


def require_time_range(
    start: dt.datetime | None, end: dt.datetime | None, longest: dt.timedelta | None = None
) -> tuple[dt.datetime, dt.datetime]:
    """[start_time, end_time): both given, end after start and, when `longest` is given, at most that far."""
    if start is None:
        raise InvalidRequest("start_time", "is required")
    if end is None:
        raise InvalidRequest("end_time", "is required")
    if end <= start:
        raise InvalidRequest("end_time", "must be after start_time")
    if longest is not None and end - start > longest:
        raise InvalidRequest("end_time", f"must be at most {longest.days} days after start_time")
    return start, end


def require_size(value: int, field: str, high: int, default: int) -> int:
    """A count the caller may leave at 0 for `default`; else 1 to `high`."""
    return keyset.require_size(value, field, high, default, InvalidRequest)


def parse_stats_query(
    *, start: dt.datetime | None, end: dt.datetime | None, granularity: Granularity | None, kind: str, top_items: int
) -> StatsQuery:
    """A statistics request with every field checked; an empty kind means every kind."""
    if granularity is None:
        raise InvalidRequest("granularity", "must be GRANULARITY_DAY or GRANULARITY_MONTH")
    start, end = require_time_range(start, end, MAX_STATS_RANGE[granularity])
    return StatsQuery(
        start=start,
        end=end,
        granularity=granularity,
        kind=require_kind(kind, "kind") if kind else None,
        top_items=require_size(top_items, "top_items", MAX_TOP_ITEMS, DEFAULT_TOP_ITEMS),
    )


def parse_stream_query(
    *, start: dt.datetime | None, end: dt.datetime | None, after_key: str, batch_size: int, user_id: str = ""
) -> StreamQuery:
    """A stream request with every field checked; an empty after_key starts at the range's start, an empty
    user_id means every user."""
    start, end = require_time_range(start, end)
    if user_id:
        require_id(user_id, "user_id")
    after = None
    if after_key:
        after = PurchaseKey.from_token(after_key)
        if after is None:
            raise InvalidRequest("after_key", "is not a key this service gave (PurchaseBatch.last_key)")
    size = require_size(batch_size, "batch_size", MAX_BATCH_SIZE, DEFAULT_BATCH_SIZE)
    return StreamQuery(start, end, after, size, user_id or None)


# ---- grants, revokes and purchase history

MAX_REASON_LENGTH = contract_rules.MAX_REASON_LENGTH
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 500


def require_text(value: str, field: str, max_length: int) -> str:
    """Free text for people (a reason): 1 to `max_length` characters, not blank, no control characters."""
    return contract_rules.require_text(value, field, max_length, InvalidRequest)


def parse_grant(
    *, user_id: str, kind: str, item_id: str, reason: str, actor: str, idempotency_key: str, source: Source | None
) -> AdminAction:
    """A grant by hand with every field checked; no source means ADMIN, and PAID is refused (payments grant that)."""
    if source is Source.PAID:
        raise InvalidRequest("source", "must be SOURCE_ADMIN or SOURCE_FREE")
    source = source or Source.ADMIN
    return _admin_action(ActionKind.GRANT, user_id, kind, item_id, reason, actor, idempotency_key, source)


def parse_revoke(
    *, user_id: str, kind: str, item_id: str, reason: str, actor: str, idempotency_key: str
) -> AdminAction:
    """A revoke by hand with every field checked."""
    return _admin_action(ActionKind.REVOKE, user_id, kind, item_id, reason, actor, idempotency_key, None)


def parse_purchase_revoke(*, purchase_id: str, reason: str, actor: str) -> PurchaseRevoke:
    """A RevokePurchase with every field checked."""
    return PurchaseRevoke(
        purchase_id=require_id(purchase_id, "purchase_id"),
        reason=require_text(reason, "reason", MAX_REASON_LENGTH),
        actor=require_id(actor, "actor"),
    )


def _admin_action(
    action: ActionKind,
    user_id: str,
    kind: str,
    item_id: str,
    reason: str,
    actor: str,
    idempotency_key: str,
    source: Source | None,
) -> AdminAction:
    return AdminAction(
        idempotency_key=require_id(idempotency_key, "idempotency_key"),
        kind=action,
        user_id=require_id(user_id, "user_id"),
        item=require_item(kind, item_id, "item"),
        reason=require_text(reason, "reason", MAX_REASON_LENGTH),
        actor=require_id(actor, "actor"),
        source=source,
    )


def parse_history_query(
    *, user_id: str, kind: str, status: PurchaseStatus | None, page_size: int, page_token: str
) -> HistoryQuery:
    """A ListPurchases request with every field checked; empty kind and no status mean all."""
    query = HistoryQuery(
        user_id=require_id(user_id, "user_id"),
        kind=require_kind(kind, "kind") if kind else None,
        status=status,
        page_size=require_size(page_size, "page_size", MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE),
    )
    return after_token(query, page_token)
