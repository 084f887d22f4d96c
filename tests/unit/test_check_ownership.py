"""Ownership checks and listings over in-memory storage and cache: what the cache knows spares the database."""

from __future__ import annotations

import datetime as dt

from entitlement_service.domain.entitlement import NOT_OWNED, Entitlement, Ownership, OwnershipQuery
from entitlement_service.domain.purchase import ItemRef, Source
from entitlement_service.service_layer.ownership import check_ownership, list_entitlements, reader_in_units_of_work
from tests.unit.entitlement_fakes import FakeDatabase, FakeOwnershipCache

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
ALGEBRA, MOCK_EXAM = ItemRef("course", "algebra-1"), ItemRef("test", "mock-exam")
OWNS_ALGEBRA = OwnershipQuery("u1", ALGEBRA)


def database_where_u1_owns(*items: ItemRef) -> FakeDatabase:
    database = FakeDatabase()
    for item in items:
        database.committed.entitlements["u1", item] = Entitlement(
            "u1", item, f"purchase-{item.id}", T0, Source.PAID, "p"
        )
    return database


async def test_answers_come_in_query_order_and_misses_are_remembered() -> None:
    database, cache = database_where_u1_owns(ALGEBRA), FakeOwnershipCache()
    queries = [OwnershipQuery("u1", MOCK_EXAM), OWNS_ALGEBRA, OwnershipQuery("u2", ALGEBRA)]
    answers = await check_ownership(queries, reader_in_units_of_work(database.uow_factory), cache)
    owned = Ownership(purchased_at=T0, source=Source.PAID)
    assert answers == [NOT_OWNED, owned, NOT_OWNED]
    assert cache.answers == dict(zip(queries, answers, strict=True))


async def test_a_question_the_cache_knows_opens_no_unit_of_work() -> None:
    database, cache = database_where_u1_owns(), FakeOwnershipCache()
    cache.answers[OWNS_ALGEBRA] = Ownership(purchased_at=T0, source=Source.ADMIN)
    read = reader_in_units_of_work(database.uow_factory)
    assert await check_ownership([OWNS_ALGEBRA], read, cache) == [cache.answers[OWNS_ALGEBRA]]
    assert database.units_opened == 0


async def test_listing_is_ordered_by_kind_then_id_and_filters_by_kind() -> None:
    database = database_where_u1_owns(MOCK_EXAM, ALGEBRA)
    assert [e.item for e in await list_entitlements("u1", None, database.uow_factory)] == [ALGEBRA, MOCK_EXAM]
    assert [e.item for e in await list_entitlements("u1", "test", database.uow_factory)] == [MOCK_EXAM]
