"""Grants, revokes, double purchases and the purchase history over in-memory storage: the rules, with no I/O."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json

import pytest

from entitlement_service.domain.admin_action import AdminAction
from entitlement_service.domain.errors import IdempotencyKeyReused, InvalidRequest, NotFound
from entitlement_service.domain.history import HistoryQuery, page_token
from entitlement_service.domain.purchase import ItemRef, Purchase, PurchaseStatus, Source
from entitlement_service.domain.purchase_stream import PurchaseKey
from entitlement_service.domain.validation import parse_grant, parse_history_query, parse_revoke
from entitlement_service.service_layer.apply_payment_event import apply_payment_event
from entitlement_service.service_layer.grant_entitlement import grant_entitlement
from entitlement_service.service_layer.list_purchases import list_purchases
from entitlement_service.service_layer.revoke_entitlement import revoke_entitlement
from paygrant.contract_rules import EventType
from tests.unit.entitlement_events import T0, payment_event
from tests.unit.entitlement_fakes import FakeDatabase, FakeOwnershipCache

ALGEBRA = ItemRef("course", "algebra-1")
PAID_ALGEBRA = [("course", "algebra-1", 25_000)]


@pytest.fixture
def database() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def cache() -> FakeOwnershipCache:
    return FakeOwnershipCache()


def grant_request(key: str = "g-1", **changes: str | Source | None) -> AdminAction:
    fields: dict[str, str | Source | None] = {
        "user_id": "u1",
        "kind": "course",
        "item_id": "algebra-1",
        "reason": "support ticket 7",
        "actor": "alice",
        "idempotency_key": key,
        "source": None,
    }
    return parse_grant(**{**fields, **changes})  # type: ignore[arg-type]


def revoke_request(key: str = "r-1", **changes: str) -> AdminAction:
    fields = {
        "user_id": "u1",
        "kind": "course",
        "item_id": "algebra-1",
        "reason": "granted by mistake",
        "actor": "bob",
        "idempotency_key": key,
    }
    return parse_revoke(**{**fields, **changes})


async def pay(database: FakeDatabase, payment_id: str = "pay-1", at: dt.datetime = T0) -> None:
    event = payment_event(EventType.PAYMENT_COMPLETED, payment_id=payment_id, items=PAID_ALGEBRA, at=at)
    await apply_payment_event(event, database.uow_factory, FakeOwnershipCache())


async def refund(database: FakeDatabase, payment_id: str) -> None:
    event = payment_event(EventType.PAYMENT_REFUNDED, payment_id=payment_id)
    await apply_payment_event(event, database.uow_factory, FakeOwnershipCache())


def owner(database: FakeDatabase) -> tuple[Source, str | None] | None:
    """How u1 owns algebra-1: the source and payment of the purchase that gives it."""
    entitlement = database.committed.entitlements.get(("u1", ALGEBRA))
    return None if entitlement is None else (entitlement.source, entitlement.payment_id)


def purchase(database: FakeDatabase, payment_id: str) -> Purchase:
    return next(p for p in database.committed.purchases if p.payment_id == payment_id)


# ---- grants


async def test_a_grant_records_an_admin_purchase_with_who_and_why_and_gives_the_item(
    database: FakeDatabase, cache: FakeOwnershipCache
) -> None:
    outcome = await grant_entitlement(grant_request(), database.uow_factory, cache)
    granted = outcome.purchase
    assert outcome.duplicate is False
    assert (granted.source, granted.amount, granted.currency, granted.payment_id) == (Source.ADMIN, 0, "MNT", None)
    assert (granted.reason, granted.actor, granted.granted_by_action) == ("support ticket 7", "alice", "g-1")
    assert owner(database) == (Source.ADMIN, None)
    assert database.committed.admin_actions["g-1"].kind == "grant"
    assert cache.invalidated == ["u1"]


async def test_a_free_grant_is_recorded_as_free(database: FakeDatabase, cache: FakeOwnershipCache) -> None:
    outcome = await grant_entitlement(grant_request(source=Source.FREE), database.uow_factory, cache)
    assert outcome.purchase.source is Source.FREE
    assert owner(database) == (Source.FREE, None)


async def test_the_same_key_and_request_answers_the_same_grant_and_changes_nothing(
    database: FakeDatabase, cache: FakeOwnershipCache
) -> None:
    first = await grant_entitlement(grant_request(), database.uow_factory, cache)
    before = database.committed.copy()
    again = await grant_entitlement(grant_request(source=Source.ADMIN), database.uow_factory, cache)
    assert (again.purchase.id, again.duplicate) == (first.purchase.id, True)
    assert database.committed == before


@pytest.mark.parametrize(
    "change",
    [
        {"user_id": "u2"},
        {"item_id": "geometry"},
        {"kind": "test"},
        {"reason": "another reason"},
        {"actor": "mallory"},
        {"source": Source.FREE},
    ],
    ids=lambda change: next(iter(change)),
)
async def test_the_same_key_with_a_different_grant_is_refused_and_changes_nothing(
    database: FakeDatabase, cache: FakeOwnershipCache, change: dict[str, str | Source]
) -> None:
    await grant_entitlement(grant_request(), database.uow_factory, cache)
    before = database.committed.copy()
    with pytest.raises(IdempotencyKeyReused):
        await grant_entitlement(grant_request(**change), database.uow_factory, cache)
    assert database.committed == before


async def test_a_grant_key_reused_for_a_revoke_is_refused(database: FakeDatabase, cache: FakeOwnershipCache) -> None:
    await grant_entitlement(grant_request(key="k"), database.uow_factory, cache)
    with pytest.raises(IdempotencyKeyReused):
        await revoke_entitlement(
            revoke_request(key="k", reason="support ticket 7", actor="alice"), database.uow_factory, cache
        )
    assert owner(database) == (Source.ADMIN, None)


async def test_granting_an_item_owned_through_a_payment_records_the_grant_and_keeps_the_ownership(
    database: FakeDatabase, cache: FakeOwnershipCache
) -> None:
    await pay(database)
    outcome = await grant_entitlement(grant_request(), database.uow_factory, cache)
    assert len(database.committed.purchases) == 2
    assert outcome.purchase.double_purchase is False  # a grant is no payment: nothing to return
    assert owner(database) == (Source.PAID, "pay-1")


# ---- revokes


async def test_a_revoke_ends_every_active_grant_and_records_who_and_why(
    database: FakeDatabase, cache: FakeOwnershipCache
) -> None:
    await grant_entitlement(grant_request(key="g-1"), database.uow_factory, cache)
    await grant_entitlement(grant_request(key="g-2", source=Source.FREE), database.uow_factory, cache)
    outcome = await revoke_entitlement(revoke_request(), database.uow_factory, cache)
    assert (outcome.duplicate, outcome.still_owned) == (False, False)
    assert [p.granted_by_action for p in outcome.revoked] == ["g-1", "g-2"]
    for revoked in outcome.revoked:
        assert (revoked.status, revoked.revoke_reason, revoked.revoked_by) == (
            PurchaseStatus.REVOKED,
            "granted by mistake",
            "bob",
        )
        assert revoked.revoked_by_action == "r-1"
    assert owner(database) is None
    assert cache.invalidated == ["u1", "u1", "u1"]


async def test_a_revoke_never_touches_a_paid_purchase_and_says_the_item_is_still_owned(
    database: FakeDatabase, cache: FakeOwnershipCache
) -> None:
    await pay(database)
    await grant_entitlement(grant_request(), database.uow_factory, cache)
    outcome = await revoke_entitlement(revoke_request(), database.uow_factory, cache)
    assert (len(outcome.revoked), outcome.still_owned) == (1, True)
    assert purchase(database, "pay-1").is_active
    assert owner(database) == (Source.PAID, "pay-1")


async def test_a_revoke_when_only_a_paid_purchase_gives_the_item_is_not_found_and_writes_nothing(
    database: FakeDatabase, cache: FakeOwnershipCache
) -> None:
    await pay(database)
    before = database.committed.copy()
    with pytest.raises(NotFound):
        await revoke_entitlement(revoke_request(), database.uow_factory, cache)
    assert database.committed == before


async def test_a_revoke_of_nothing_is_not_found_and_leaves_its_key_free(
    database: FakeDatabase, cache: FakeOwnershipCache
) -> None:
    with pytest.raises(NotFound):
        await revoke_entitlement(revoke_request(), database.uow_factory, cache)
    assert database.committed.admin_actions == {}
    await grant_entitlement(grant_request(), database.uow_factory, cache)
    assert len((await revoke_entitlement(revoke_request(), database.uow_factory, cache)).revoked) == 1


async def test_a_repeated_revoke_answers_the_same_purchases_and_changes_nothing(
    database: FakeDatabase, cache: FakeOwnershipCache
) -> None:
    await grant_entitlement(grant_request(), database.uow_factory, cache)
    first = await revoke_entitlement(revoke_request(), database.uow_factory, cache)
    await grant_entitlement(grant_request(key="g-2"), database.uow_factory, cache)  # a new grant after the revoke
    before = database.committed.copy()
    again = await revoke_entitlement(revoke_request(), database.uow_factory, cache)
    assert ([p.id for p in again.revoked], again.duplicate) == ([p.id for p in first.revoked], True)
    assert again.still_owned is True  # as things are now: the later grant gives it
    assert database.committed == before


async def test_the_same_revoke_key_with_another_reason_is_refused(
    database: FakeDatabase, cache: FakeOwnershipCache
) -> None:
    await grant_entitlement(grant_request(), database.uow_factory, cache)
    await revoke_entitlement(revoke_request(), database.uow_factory, cache)
    with pytest.raises(IdempotencyKeyReused):
        await revoke_entitlement(revoke_request(reason="other"), database.uow_factory, cache)


# ---- double purchases and refunds


async def test_a_second_payment_of_an_owned_item_is_a_double_purchase_and_changes_no_ownership(
    database: FakeDatabase,
) -> None:
    await pay(database, "pay-1")
    await pay(database, "pay-2", at=T0 + dt.timedelta(hours=1))
    assert (purchase(database, "pay-1").double_purchase, purchase(database, "pay-2").double_purchase) == (False, True)
    assert owner(database) == (Source.PAID, "pay-1")


async def test_a_double_purchase_paid_earlier_but_applied_later_still_grants_nothing_new(
    database: FakeDatabase,
) -> None:
    await pay(database, "pay-1")
    await pay(database, "pay-2", at=T0 - dt.timedelta(hours=1))
    assert purchase(database, "pay-2").double_purchase is True
    assert owner(database) == (Source.PAID, "pay-1")


async def test_a_payment_of_an_item_granted_by_hand_is_no_double_purchase(
    database: FakeDatabase, cache: FakeOwnershipCache
) -> None:
    await grant_entitlement(grant_request(), database.uow_factory, cache)
    await pay(database)
    assert purchase(database, "pay-1").double_purchase is False


async def test_refunding_the_double_purchase_revokes_only_it(database: FakeDatabase) -> None:
    await pay(database, "pay-1")
    await pay(database, "pay-2", at=T0 + dt.timedelta(hours=1))
    await refund(database, "pay-2")
    assert (purchase(database, "pay-1").is_active, purchase(database, "pay-2").status) == (True, PurchaseStatus.REVOKED)
    assert purchase(database, "pay-2").revoke_reason == "refunded"
    assert owner(database) == (Source.PAID, "pay-1")


async def test_refunding_the_original_leaves_the_double_purchase_giving_the_item(database: FakeDatabase) -> None:
    await pay(database, "pay-1")
    await pay(database, "pay-2", at=T0 + dt.timedelta(hours=1))
    await refund(database, "pay-1")
    assert purchase(database, "pay-1").revoke_reason == "refunded"
    assert owner(database) == (Source.PAID, "pay-2")


# ---- input rules


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"source": Source.PAID}, "source"),
        ({"reason": ""}, "reason"),
        ({"reason": " \n\t "}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"reason": "bell \x07"}, "reason"),
        ({"actor": ""}, "actor"),
        ({"actor": "a" * 129}, "actor"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"idempotency_key": "k" * 129}, "idempotency_key"),
        ({"user_id": ""}, "user_id"),
        ({"kind": "Course"}, "item.kind"),
        ({"item_id": ""}, "item.id"),
    ],
)
def test_a_malformed_grant_is_refused_naming_the_field(change: dict[str, str | Source], field: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        grant_request(**change)
    assert refused.value.field == field


def test_a_reason_of_500_characters_on_several_lines_is_accepted() -> None:
    reason = ("line\n" * 100)[:500]
    assert grant_request(reason=reason).reason == reason


def history(
    page_size: int = 0, page_token: str = "", kind: str = "", status: PurchaseStatus | None = None
) -> HistoryQuery:
    return parse_history_query(user_id="u1", kind=kind, status=status, page_size=page_size, page_token=page_token)


@pytest.mark.parametrize(("page_size", "expected"), [(0, 50), (1, 1), (500, 500)])
def test_page_size_defaults_to_50_and_may_be_1_to_500(page_size: int, expected: int) -> None:
    assert history(page_size).page_size == expected


@pytest.mark.parametrize("page_size", [-1, 501, 2**31 - 1])
def test_a_page_size_out_of_range_is_refused(page_size: int) -> None:
    with pytest.raises(InvalidRequest) as refused:
        history(page_size)
    assert refused.value.field == "page_size"


def _token(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "%%%",
        "x" * 10_000,
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        _token([1, 2]),
        _token({"t": 1, "id": "p", "f": "x"}),
        _token({"t": "2025-01-01T00:00:00", "id": "p", "f": history().filters_digest()}),  # naive
        _token({"t": "0001-01-01T00:00:00+05:00", "id": "p", "f": history().filters_digest()}),  # before year 1 in UTC
        _token({"t": "yesterday", "id": "p", "f": history().filters_digest()}),
        _token({"t": "2025-01-01T00:00:00+00:00", "id": "p", "f": "another"}),
        base64.urlsafe_b64encode(b"[" * 300).decode(),  # deeply nested
    ],
)
def test_a_token_this_service_did_not_make_is_refused_naming_page_token(token: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        history(page_token=token)
    assert refused.value.field == "page_token"


@pytest.mark.parametrize(
    "other",
    [{"kind": "test"}, {"status": PurchaseStatus.ACTIVE}],
)
def test_a_token_is_refused_with_filters_other_than_its_own(other: dict[str, str | PurchaseStatus]) -> None:
    token = page_token(history(), PurchaseKey(T0, "p-1"))
    assert history(page_token=token).after == PurchaseKey(T0, "p-1")
    with pytest.raises(InvalidRequest) as refused:
        history(page_token=token, **other)  # type: ignore[arg-type]
    assert refused.value.field == "page_token"


async def test_pages_list_every_purchase_once_newest_first_while_new_ones_arrive(
    database: FakeDatabase, cache: FakeOwnershipCache
) -> None:
    for n in range(7):
        await pay(database, f"pay-{n}", at=T0 + dt.timedelta(minutes=n))
    await pay(database, "pay-tie", at=T0 + dt.timedelta(minutes=3))  # same time as pay-3: ordered by id
    seen: list[str] = []
    page = await list_purchases(history(page_size=3), database.uow_factory)
    while True:
        seen += [p.id for p in page.purchases]
        await grant_entitlement(grant_request(key=f"g-{len(seen)}"), database.uow_factory, cache)  # newer than all
        if not page.next_page_token:
            break
        page = await list_purchases(history(page_size=3, page_token=page.next_page_token), database.uow_factory)
    paid = sorted(
        (p for p in database.committed.purchases if p.payment_id), key=lambda p: (p.purchased_at, p.id), reverse=True
    )
    assert seen == [p.id for p in paid]


async def test_the_status_and_kind_filters_select_purchases(database: FakeDatabase, cache: FakeOwnershipCache) -> None:
    await pay(database, "pay-1")
    await pay(database, "pay-2", at=T0 + dt.timedelta(hours=1))
    await refund(database, "pay-1")
    revoked = await list_purchases(history(status=PurchaseStatus.REVOKED), database.uow_factory)
    assert [p.payment_id for p in revoked.purchases] == ["pay-1"]
    assert (await list_purchases(history(kind="test"), database.uow_factory)).purchases == []
    everything = await list_purchases(history(), database.uow_factory)
    assert [(p.payment_id, p.double_purchase) for p in everything.purchases] == [("pay-2", True), ("pay-1", False)]
    assert everything.next_page_token == ""


def test_an_admin_action_compares_by_request_not_by_time() -> None:
    action = grant_request()
    assert dataclasses.replace(action, recorded_at=T0) == action
