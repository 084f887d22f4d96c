"""The entitlement domain: purchase lifecycle, ownership derivation and input rules, with no I/O."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from entitlement_service.domain.entitlement import NOT_OWNED, OwnershipQuery, derive_entitlement
from entitlement_service.domain.errors import InvalidRequest, InvalidTransition, PaymentOfAnotherUser
from entitlement_service.domain.events import PaidItem
from entitlement_service.domain.purchase import ItemRef, Purchase, PurchaseStatus, Source, ensure_bought_by
from entitlement_service.domain.validation import parse_payment_event, parse_queries, parse_query, require_kind
from paygrant.contract_rules import KIND_PATTERN, EventType

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
COURSE = ItemRef("course", "algebra-1")


def bought(amount: int = 1000, at: dt.datetime = T0, user_id: str = "u1", item: ItemRef = COURSE) -> Purchase:
    return Purchase.bought(
        user_id=user_id, item=item, amount=amount, currency="MNT", payment_id="p1", event_id="e1", purchased_at=at
    )


def test_purchase_with_money_is_active_and_paid() -> None:
    purchase = bought(amount=1000)
    assert (purchase.status, purchase.source, purchase.is_active) == (PurchaseStatus.ACTIVE, Source.PAID, True)


def test_purchase_at_zero_price_is_free() -> None:
    assert bought(amount=0).source is Source.FREE


def test_revoke_ends_the_purchase_at_the_given_time() -> None:
    purchase = bought()
    purchase.revoke(T0 + dt.timedelta(days=1))
    assert (purchase.status, purchase.revoked_at, purchase.is_active) == (
        PurchaseStatus.REVOKED,
        T0 + dt.timedelta(days=1),
        False,
    )


def test_revoking_a_revoked_purchase_is_refused_and_keeps_the_first_revocation_time() -> None:
    purchase = bought()
    purchase.revoke(T0)
    with pytest.raises(InvalidTransition):
        purchase.revoke(T0 + dt.timedelta(hours=1))
    assert purchase.revoked_at == T0


def test_earliest_active_purchase_gives_the_entitlement() -> None:
    later_admin = dataclasses.replace(bought(at=T0 + dt.timedelta(days=2)), source=Source.ADMIN, payment_id=None)
    earliest = bought(amount=0, at=T0)
    entitlement = derive_entitlement("u1", COURSE, [later_admin, earliest, bought(at=T0 + dt.timedelta(days=1))])
    assert entitlement is not None
    assert (entitlement.purchase_id, entitlement.purchased_at, entitlement.source) == (earliest.id, T0, Source.FREE)
    assert entitlement.payment_id == "p1"


def test_revoked_purchase_gives_nothing_and_the_next_active_one_takes_over() -> None:
    first, second = bought(at=T0), bought(at=T0 + dt.timedelta(days=1))
    first.revoke(T0 + dt.timedelta(days=2))
    entitlement = derive_entitlement("u1", COURSE, [first, second])
    assert entitlement is not None and entitlement.purchase_id == second.id


def test_no_active_purchase_means_not_owned() -> None:
    only = bought()
    only.revoke(T0)
    assert derive_entitlement("u1", COURSE, [only]) is None
    assert derive_entitlement("u1", COURSE, []) is None
    assert not NOT_OWNED.owned


def test_purchases_of_other_users_or_items_give_nothing() -> None:
    others = [bought(user_id="u2"), bought(item=ItemRef("course", "geometry"))]
    assert derive_entitlement("u1", COURSE, others) is None


def test_a_payment_of_another_user_is_refused() -> None:
    with pytest.raises(PaymentOfAnotherUser):
        ensure_bought_by([bought(user_id="u2")], "u1")
    ensure_bought_by([bought(user_id="u1")], "u1")


def event_fields(**changes: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "event_id": str(uuid.uuid4()),
        "type": EventType.PAYMENT_COMPLETED,
        "payment_id": "p1",
        "user_id": "u1",
        "items": [("course", "algebra-1", 1000), ("test", "t-9", 0)],
        "occurred_at": T0,
        "currency": "",
    }
    return {**fields, **changes}


def test_valid_completion_is_parsed_with_default_currency_and_canonical_event_id() -> None:
    event_id = uuid.uuid4()
    event = parse_payment_event(**event_fields(event_id=str(event_id).upper()))  # type: ignore[arg-type]
    assert event.event_id == str(event_id)
    assert event.currency == "MNT"
    assert event.items == (PaidItem(COURSE, 1000), PaidItem(ItemRef("test", "t-9"), 0))


def test_the_request_id_is_kept_and_an_empty_one_is_unknown() -> None:
    assert parse_payment_event(**event_fields(request_id="r" * 128)).request_id == "r" * 128  # type: ignore[arg-type]
    assert parse_payment_event(**event_fields(request_id="")).request_id is None  # type: ignore[arg-type]


def test_refund_may_list_no_items() -> None:
    event = parse_payment_event(**event_fields(type=EventType.PAYMENT_REFUNDED, items=[], currency="USD"))  # type: ignore[arg-type]
    assert (event.items, event.currency) == ((), "USD")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"event_id": "not-a-uuid"}, "event_id"),
        ({"type": None}, "type"),
        ({"payment_id": ""}, "payment_id"),
        ({"payment_id": "p" * 129}, "payment_id"),
        ({"user_id": ""}, "user_id"),
        ({"occurred_at": None}, "occurred_at"),
        ({"currency": "mnt"}, "currency"),
        ({"currency": "TUGRIK"}, "currency"),
        ({"items": []}, "items"),
        ({"items": [("course", f"c{i}", 1) for i in range(101)]}, "items"),
        ({"items": [("course", "a", 1), ("Course", "b", 1)]}, "items[1].item.kind"),
        ({"items": [("c" * 33, "a", 1)]}, "items[0].item.kind"),
        ({"items": [("course", "", 1)]}, "items[0].item.id"),
        ({"items": [("course", "x" * 129, 1)]}, "items[0].item.id"),
        ({"items": [("course", "a", -1)]}, "items[0].amount"),
        ({"items": [("course", "a", 1), ("test", "a", 1), ("course", "a", 2)]}, "items[2].item"),
        ({"request_id": "r" * 129}, "request_id"),
        ({"request_id": "two words"}, "request_id"),
        ({"request_id": "r-1\nforged"}, "request_id"),
        ({"request_id": "é"}, "request_id"),
    ],
)
def test_invalid_event_is_refused_naming_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_payment_event(**event_fields(**changes))  # type: ignore[arg-type]
    assert refused.value.field == field
    assert str(refused.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("queries", "field"),
    [
        ([], "queries"),
        ([("u1", "course", "a")] * 1001, "queries"),
    ],
)
def test_a_batch_of_the_wrong_size_is_refused_naming_the_field(queries: list[tuple[str, str, str]], field: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_queries(queries)
    assert refused.value.field == field


def test_an_invalid_query_stands_in_the_batch_as_its_own_error() -> None:
    parsed = parse_queries([("u1", "course", "a"), ("", "course", "a"), ("u1", "9course", "a")])
    assert isinstance(parsed[0], OwnershipQuery)
    assert [(error.field, error.problem) for error in parsed[1:] if isinstance(error, InvalidRequest)] == [
        ("user_id", "is required"),
        ("item.kind", "must be 1-32 lowercase letters, digits, '_' or '-', starting with a letter"),
    ]


def test_queries_keep_the_callers_order() -> None:
    parsed = [q for q in parse_queries([("u2", "test", "b"), ("u1", "course", "a")]) if isinstance(q, OwnershipQuery)]
    assert [(q.user_id, q.item) for q in parsed] == [("u2", ItemRef("test", "b")), ("u1", ItemRef("course", "a"))]


@given(st.one_of(st.text(max_size=40), st.from_regex(KIND_PATTERN, fullmatch=True)))
def test_a_kind_is_accepted_exactly_when_it_matches_the_pattern(kind: str) -> None:
    matches = KIND_PATTERN.fullmatch(kind) is not None
    try:
        require_kind(kind, "kind")
    except InvalidRequest as refused:
        assert not matches and refused.field == "kind"
    else:
        assert matches


_ID_PARTS = st.one_of(st.from_regex(r"[A-Za-z0-9_.:@+=-]{1,6}", fullmatch=True), st.text(max_size=6))
_KINDS = st.one_of(st.sampled_from(["course", "test", "e-book_2"]), st.text(max_size=6))


@given(st.lists(st.tuples(_ID_PARTS, _KINDS, _ID_PARTS), min_size=1, max_size=20))
def test_a_batch_is_judged_as_its_queries_are_one_by_one(queries: list[tuple[str, str, str]]) -> None:
    # parse_queries takes a shortcut when the whole batch is plain; it must answer exactly as the rules do.
    expected: list[object] = []
    for user_id, kind, item_id in queries:
        try:
            expected.append(parse_query(user_id, kind, item_id))
        except InvalidRequest as invalid:
            expected.append((invalid.field, invalid.problem))
    parsed = parse_queries(queries)
    assert [q if isinstance(q, OwnershipQuery) else (q.field, q.problem) for q in parsed] == expected
