"""ApplyPaymentEvent over in-memory storage: grants, duplicates, refunds and their order, with no I/O."""

from __future__ import annotations

import datetime as dt

import pytest

from entitlement_service.domain.entitlement import NOT_OWNED, OwnershipQuery
from entitlement_service.domain.errors import PaymentOfAnotherUser
from entitlement_service.domain.events import PaymentEvent
from entitlement_service.domain.purchase import ItemRef, PurchaseStatus, Source
from entitlement_service.service_layer.apply_payment_event import apply_payment_event
from paygrant.contract_rules import EventType
from tests.unit.entitlement_events import ITEMS, T0, payment_event
from tests.unit.entitlement_fakes import FakeDatabase, FakeOwnershipCache, Tables

ALGEBRA, MOCK_EXAM = ItemRef("course", "algebra-1"), ItemRef("test", "mock-exam")


@pytest.fixture
def database() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def cache() -> FakeOwnershipCache:
    return FakeOwnershipCache()


async def apply(event: PaymentEvent, database: FakeDatabase, cache: FakeOwnershipCache | None = None) -> bool:
    return await apply_payment_event(event, database.uow_factory, cache or FakeOwnershipCache())


def owners(tables: Tables) -> dict[tuple[str, ItemRef], str | None]:
    """Who owns what, and through which payment."""
    return {key: entitlement.payment_id for key, entitlement in tables.entitlements.items()}


async def test_completion_grants_each_item_with_its_source(database: FakeDatabase) -> None:
    assert await apply(payment_event(EventType.PAYMENT_COMPLETED), database) is False
    entitlements = database.committed.entitlements
    assert (entitlements["u1", ALGEBRA].source, entitlements["u1", MOCK_EXAM].source) == (Source.PAID, Source.FREE)
    assert entitlements["u1", ALGEBRA].purchased_at == T0


async def test_a_repeated_event_id_is_reported_duplicate_and_changes_nothing(database: FakeDatabase) -> None:
    event = payment_event(EventType.PAYMENT_COMPLETED)
    await apply(event, database)
    before = database.committed.copy()
    assert await apply(event, database) is True
    assert database.committed == before


async def test_a_resent_completion_with_a_new_event_id_grants_nothing_twice(database: FakeDatabase) -> None:
    await apply(payment_event(EventType.PAYMENT_COMPLETED), database)
    later = payment_event(EventType.PAYMENT_COMPLETED, at=T0 + dt.timedelta(hours=1))
    assert await apply(later, database) is False
    assert len(database.committed.purchases) == 2
    assert database.committed.entitlements["u1", ALGEBRA].purchased_at == T0


async def test_refund_revokes_the_payments_items(database: FakeDatabase) -> None:
    await apply(payment_event(EventType.PAYMENT_COMPLETED), database)
    assert await apply(payment_event(EventType.PAYMENT_REFUNDED), database) is False
    assert owners(database.committed) == {}
    assert {p.status for p in database.committed.purchases} == {PurchaseStatus.REVOKED}


async def test_refund_keeps_an_item_owned_that_another_active_purchase_gives(database: FakeDatabase) -> None:
    await apply(payment_event(EventType.PAYMENT_COMPLETED, payment_id="pay-1"), database)
    second = payment_event(EventType.PAYMENT_COMPLETED, payment_id="pay-2", items=ITEMS[:1], at=T0 + dt.timedelta(1))
    await apply(second, database)
    await apply(payment_event(EventType.PAYMENT_REFUNDED, payment_id="pay-1"), database)
    assert owners(database.committed) == {("u1", ALGEBRA): "pay-2"}


async def test_refund_before_completion_leaves_a_mark_so_the_late_completion_grants_nothing(
    database: FakeDatabase,
) -> None:
    assert await apply(payment_event(EventType.PAYMENT_REFUNDED), database) is False
    assert database.committed.refund_marks == {"pay-1"}
    assert await apply(payment_event(EventType.PAYMENT_COMPLETED), database) is False
    assert owners(database.committed) == {}
    assert [(p.item, p.status) for p in database.committed.purchases] == [
        (ALGEBRA, PurchaseStatus.REVOKED),
        (MOCK_EXAM, PurchaseStatus.REVOKED),
    ]


@pytest.mark.parametrize("kind", [EventType.PAYMENT_COMPLETED, EventType.PAYMENT_REFUNDED])
async def test_an_event_naming_another_users_payment_is_refused_and_changes_nothing(
    database: FakeDatabase, kind: EventType
) -> None:
    await apply(payment_event(EventType.PAYMENT_COMPLETED), database)
    before = database.committed.copy()
    with pytest.raises(PaymentOfAnotherUser):
        await apply(payment_event(kind, user_id="u2"), database)
    assert database.committed == before


async def test_every_apply_invalidates_the_users_cached_answers_also_a_duplicate(
    database: FakeDatabase, cache: FakeOwnershipCache
) -> None:
    query = OwnershipQuery("u1", ALGEBRA)
    event = payment_event(EventType.PAYMENT_COMPLETED)
    cache.answers[query] = NOT_OWNED
    await apply(event, database, cache)
    assert query not in cache.answers
    await apply(event, database, cache)  # the first apply may have died between commit and invalidation
    assert cache.invalidated == ["u1", "u1"]
