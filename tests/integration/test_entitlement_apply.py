"""ApplyPaymentEvent against real databases: PostgreSQL and the embedded SQLite profile."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, text

from entitlement_service.adapters.orm import SCHEMA, purchases
from entitlement_service.adapters.ownership_reader import SqlOwnershipReader
from entitlement_service.domain.entitlement import Ownership
from entitlement_service.domain.errors import PaymentOfAnotherUser
from entitlement_service.domain.events import PaymentEvent
from entitlement_service.domain.purchase import PurchaseStatus, Source
from entitlement_service.domain.validation import parse_query
from entitlement_service.service_layer.apply_payment_event import apply_payment_event
from entitlement_service.service_layer.ownership import check_ownership, list_entitlements
from entitlement_service.service_layer.ownership_cache import NoOwnershipCache
from entitlement_service.service_layer.unit_of_work import UnitOfWork
from paygrant.contract_rules import EventType
from paygrant.db import Database, open_database
from tests.conftest import POSTGRES_ONLY, NewDatabase
from tests.unit.entitlement_events import ITEMS, T0, payment_event


@pytest.fixture
async def database(new_database: NewDatabase) -> AsyncIterator[Database]:
    """A fresh entitlement database on the test's backend."""
    async with open_database(await new_database("entitlement"), SCHEMA) as opened:
        yield opened


async def apply(event: PaymentEvent, database: Database) -> bool:
    return await apply_payment_event(event, lambda: UnitOfWork(database.sessions), NoOwnershipCache())


async def ownership(database: Database, kind: str, item_id: str, user_id: str = "u1") -> Ownership:
    query = parse_query(user_id, kind, item_id)
    [answer] = await check_ownership([query], SqlOwnershipReader(database.autocommit), NoOwnershipCache())
    return answer


async def owned_payments(
    database: Database, user_id: str = "u1", kind: str | None = None
) -> list[tuple[str, str, str | None]]:
    owned = await list_entitlements(user_id, kind, lambda: UnitOfWork(database.sessions))
    return [(e.item.kind, e.item.id, e.payment_id) for e in owned]


async def row_counts(database: Database) -> dict[str, int]:
    async with database.engine.connect() as conn:
        tables = ["inbox", "purchases", "entitlements", "refund_marks"]
        return {t: (await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one() for t in tables}


async def purchase_statuses(database: Database) -> list[tuple[str, PurchaseStatus, str | None]]:
    async with database.engine.connect() as conn:
        rows = await conn.execute(select(purchases.c.item_id, purchases.c.status, purchases.c.payment_id))
        return sorted((r.item_id, r.status, r.payment_id) for r in rows)


REVOKED_PAY_1 = [("algebra-1", PurchaseStatus.REVOKED, "pay-1"), ("mock-exam", PurchaseStatus.REVOKED, "pay-1")]


async def test_completion_grants_each_item(database: Database) -> None:
    assert await apply(payment_event(EventType.PAYMENT_COMPLETED), database) is False
    assert await ownership(database, "course", "algebra-1") == Ownership(purchased_at=T0, source=Source.PAID)
    assert await ownership(database, "test", "mock-exam") == Ownership(purchased_at=T0, source=Source.FREE)
    assert not (await ownership(database, "course", "algebra-1", user_id="u2")).owned
    assert await owned_payments(database) == [("course", "algebra-1", "pay-1"), ("test", "mock-exam", "pay-1")]


async def test_replayed_event_is_a_noop(database: Database) -> None:
    event = payment_event(EventType.PAYMENT_COMPLETED)
    await apply(event, database)
    before = await row_counts(database)
    assert await apply(event, database) is True
    assert await row_counts(database) == before == {"inbox": 1, "purchases": 2, "entitlements": 2, "refund_marks": 0}


async def test_resent_completion_with_a_new_event_id_grants_once(database: Database) -> None:
    await apply(payment_event(EventType.PAYMENT_COMPLETED), database)
    assert await apply(payment_event(EventType.PAYMENT_COMPLETED, at=T0 + dt.timedelta(hours=1)), database) is False
    assert await row_counts(database) == {"inbox": 2, "purchases": 2, "entitlements": 2, "refund_marks": 0}
    assert (await ownership(database, "course", "algebra-1")).purchased_at == T0


async def test_refund_revokes_the_payments_items(database: Database) -> None:
    await apply(payment_event(EventType.PAYMENT_COMPLETED), database)
    assert await apply(payment_event(EventType.PAYMENT_REFUNDED, items=[]), database) is False
    assert not (await ownership(database, "course", "algebra-1")).owned
    assert not (await ownership(database, "test", "mock-exam")).owned
    assert await owned_payments(database) == []
    assert await purchase_statuses(database) == REVOKED_PAY_1


async def test_refund_keeps_an_item_owned_that_another_active_purchase_gives(database: Database) -> None:
    later = T0 + dt.timedelta(days=1)
    await apply(payment_event(EventType.PAYMENT_COMPLETED, payment_id="pay-1"), database)
    await apply(payment_event(EventType.PAYMENT_COMPLETED, payment_id="pay-2", items=ITEMS[:1], at=later), database)
    await apply(payment_event(EventType.PAYMENT_REFUNDED, payment_id="pay-1", items=[]), database)
    assert await ownership(database, "course", "algebra-1") == Ownership(purchased_at=later, source=Source.PAID)
    assert not (await ownership(database, "test", "mock-exam")).owned
    assert await owned_payments(database, kind="course") == [("course", "algebra-1", "pay-2")]


async def test_refund_before_completion_makes_the_completion_grant_nothing(database: Database) -> None:
    assert await apply(payment_event(EventType.PAYMENT_REFUNDED, items=[]), database) is False
    assert await apply(payment_event(EventType.PAYMENT_COMPLETED), database) is False
    assert not (await ownership(database, "course", "algebra-1")).owned
    assert await purchase_statuses(database) == REVOKED_PAY_1
    assert (await row_counts(database))["refund_marks"] == 1


async def test_refund_of_another_users_payment_changes_nothing(database: Database) -> None:
    await apply(payment_event(EventType.PAYMENT_COMPLETED), database)
    before = await row_counts(database)
    with pytest.raises(PaymentOfAnotherUser):
        await apply(payment_event(EventType.PAYMENT_REFUNDED, items=[], user_id="u2"), database)
    assert await row_counts(database) == before
    assert (await ownership(database, "course", "algebra-1")).owned


class CrashBeforeCommit(UnitOfWork):
    """A unit of work that dies after every insert was sent, just before committing."""

    async def commit(self) -> None:
        raise RuntimeError("process died before commit")


async def test_failure_inside_the_apply_transaction_leaves_nothing(database: Database) -> None:
    event = payment_event(EventType.PAYMENT_COMPLETED)
    with pytest.raises(RuntimeError, match="before commit"):
        await apply_payment_event(event, lambda: CrashBeforeCommit(database.sessions), NoOwnershipCache())
    assert await row_counts(database) == {"inbox": 0, "purchases": 0, "entitlements": 0, "refund_marks": 0}
    assert await apply(event, database) is False  # the redelivery is applied, not taken for a duplicate
    assert (await ownership(database, "course", "algebra-1")).owned


@POSTGRES_ONLY  # SQLite admits one writer at a time: the race needs PostgreSQL
async def test_concurrent_copies_of_one_event_apply_once(database: Database) -> None:
    event = payment_event(EventType.PAYMENT_COMPLETED)
    results = await asyncio.gather(*(apply(event, database) for _ in range(5)))
    assert sorted(results) == [False, True, True, True, True]
    assert await row_counts(database) == {"inbox": 1, "purchases": 2, "entitlements": 2, "refund_marks": 0}


@POSTGRES_ONLY  # SQLite admits one writer at a time: the race needs PostgreSQL
async def test_concurrent_refund_and_new_payment_of_one_item_leave_it_owned(database: Database) -> None:
    users = [f"u{n}" for n in range(10)]
    for user in users:
        first = payment_event(EventType.PAYMENT_COMPLETED, payment_id=f"{user}-pay-1", items=ITEMS[:1], user_id=user)
        await apply(first, database)
    racing = [
        event
        for user in users
        for event in (
            payment_event(EventType.PAYMENT_REFUNDED, payment_id=f"{user}-pay-1", items=[], user_id=user),
            payment_event(EventType.PAYMENT_COMPLETED, payment_id=f"{user}-pay-2", items=ITEMS[:1], user_id=user),
        )
    ]
    assert await asyncio.gather(*(apply(event, database) for event in racing)) == [False] * len(racing)
    for user in users:
        assert await owned_payments(database, user) == [("course", "algebra-1", f"{user}-pay-2")]
