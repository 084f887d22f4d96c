"""ApplyPaymentEvent against real databases: PostgreSQL and the embedded SQLite profile."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from entitlement_service.adapters.cache_protocol import NoOwnershipCache
from entitlement_service.adapters.orm import PurchaseRow
from entitlement_service.bootstrap import open_database
from entitlement_service.domain.entitlement import Ownership
from entitlement_service.domain.events import EventType, PaymentEvent
from entitlement_service.domain.purchase import Source
from entitlement_service.domain.validation import RawPaidItem, parse_payment_event, parse_query
from entitlement_service.errors import PaymentOfAnotherUser
from entitlement_service.service_layer.apply_payment_event import apply_payment_event
from entitlement_service.service_layer.ownership import check_ownership, list_entitlements
from entitlement_service.service_layer.unit_of_work import UnitOfWork
from paygrant.db import session_factory
from tests.conftest import CreateDatabase

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
ITEMS: list[RawPaidItem] = [("course", "algebra-1", 25_000), ("test", "mock-exam", 0)]
Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture(params=["postgresql", "sqlite"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path, create_pg_database: CreateDatabase) -> str:
    """A fresh, empty database of each supported kind."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/ent.db"
    return await create_pg_database("ent")


POSTGRES_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = await open_database(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> Sessions:
    return session_factory(engine)


def payment_event(
    kind: EventType,
    payment_id: str = "pay-1",
    items: list[RawPaidItem] = ITEMS,
    at: dt.datetime = T0,
    user_id: str = "u1",
) -> PaymentEvent:
    return parse_payment_event(
        event_id=str(uuid.uuid4()),
        type=kind,
        payment_id=payment_id,
        user_id=user_id,
        items=items,
        occurred_at=at,
        currency="",
    )


async def apply(event: PaymentEvent, sessions: Sessions) -> bool:
    return await apply_payment_event(event, UnitOfWork(sessions), NoOwnershipCache())


async def ownership(sessions: Sessions, kind: str, item_id: str, user_id: str = "u1") -> Ownership:
    [answer] = await check_ownership([parse_query(user_id, kind, item_id)], UnitOfWork(sessions), NoOwnershipCache())
    return answer


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        tables = ["inbox", "purchases", "entitlements", "refund_marks"]
        return {t: (await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one() for t in tables}


async def purchase_statuses(engine: AsyncEngine) -> list[tuple[str, str, str | None]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(PurchaseRow.item_id, PurchaseRow.status, PurchaseRow.payment_id))
        return sorted((r.item_id, r.status, r.payment_id) for r in rows)


async def test_completion_grants_each_item(sessions: Sessions) -> None:
    assert await apply(payment_event(EventType.COMPLETED), sessions) is False
    assert await ownership(sessions, "course", "algebra-1") == Ownership(purchased_at=T0, source=Source.PAID)
    assert await ownership(sessions, "test", "mock-exam") == Ownership(purchased_at=T0, source=Source.FREE)
    assert not (await ownership(sessions, "course", "algebra-1", user_id="u2")).owned
    owned = await list_entitlements("u1", None, UnitOfWork(sessions))
    assert [(e.item.kind, e.item.id, e.payment_id) for e in owned] == [
        ("course", "algebra-1", "pay-1"),
        ("test", "mock-exam", "pay-1"),
    ]


async def test_replayed_event_is_a_noop(sessions: Sessions, engine: AsyncEngine) -> None:
    event = payment_event(EventType.COMPLETED)
    await apply(event, sessions)
    before = await row_counts(engine)
    assert await apply(event, sessions) is True
    assert await row_counts(engine) == before == {"inbox": 1, "purchases": 2, "entitlements": 2, "refund_marks": 0}


async def test_resent_completion_with_a_new_event_id_grants_once(sessions: Sessions, engine: AsyncEngine) -> None:
    await apply(payment_event(EventType.COMPLETED), sessions)
    assert await apply(payment_event(EventType.COMPLETED, at=T0 + dt.timedelta(hours=1)), sessions) is False
    assert await row_counts(engine) == {"inbox": 2, "purchases": 2, "entitlements": 2, "refund_marks": 0}
    assert (await ownership(sessions, "course", "algebra-1")).purchased_at == T0


async def test_refund_revokes_the_payments_items(sessions: Sessions, engine: AsyncEngine) -> None:
    await apply(payment_event(EventType.COMPLETED), sessions)
    assert await apply(payment_event(EventType.REFUNDED, items=[]), sessions) is False
    assert not (await ownership(sessions, "course", "algebra-1")).owned
    assert not (await ownership(sessions, "test", "mock-exam")).owned
    assert await list_entitlements("u1", None, UnitOfWork(sessions)) == []
    assert await purchase_statuses(engine) == [("algebra-1", "revoked", "pay-1"), ("mock-exam", "revoked", "pay-1")]


async def test_refund_keeps_an_item_owned_that_another_active_purchase_gives(sessions: Sessions) -> None:
    later = T0 + dt.timedelta(days=1)
    await apply(payment_event(EventType.COMPLETED, payment_id="pay-1"), sessions)
    await apply(payment_event(EventType.COMPLETED, payment_id="pay-2", items=ITEMS[:1], at=later), sessions)
    await apply(payment_event(EventType.REFUNDED, payment_id="pay-1", items=[]), sessions)
    assert await ownership(sessions, "course", "algebra-1") == Ownership(purchased_at=later, source=Source.PAID)
    assert not (await ownership(sessions, "test", "mock-exam")).owned
    [still_owned] = await list_entitlements("u1", "course", UnitOfWork(sessions))
    assert still_owned.payment_id == "pay-2"


async def test_refund_before_completion_makes_the_completion_grant_nothing(
    sessions: Sessions, engine: AsyncEngine
) -> None:
    assert await apply(payment_event(EventType.REFUNDED, items=[]), sessions) is False
    assert await apply(payment_event(EventType.COMPLETED), sessions) is False
    assert not (await ownership(sessions, "course", "algebra-1")).owned
    assert await purchase_statuses(engine) == [("algebra-1", "revoked", "pay-1"), ("mock-exam", "revoked", "pay-1")]
    assert (await row_counts(engine))["refund_marks"] == 1


async def test_refund_of_another_users_payment_changes_nothing(sessions: Sessions, engine: AsyncEngine) -> None:
    await apply(payment_event(EventType.COMPLETED), sessions)
    before = await row_counts(engine)
    with pytest.raises(PaymentOfAnotherUser):
        await apply(payment_event(EventType.REFUNDED, items=[], user_id="u2"), sessions)
    assert await row_counts(engine) == before
    assert (await ownership(sessions, "course", "algebra-1")).owned


class CrashBeforeCommit(UnitOfWork):
    """A unit of work that dies after every insert was sent, just before committing."""

    async def commit(self) -> None:
        raise RuntimeError("process died before commit")


async def test_failure_inside_the_apply_transaction_leaves_nothing(sessions: Sessions, engine: AsyncEngine) -> None:
    event = payment_event(EventType.COMPLETED)
    with pytest.raises(RuntimeError, match="before commit"):
        await apply_payment_event(event, CrashBeforeCommit(sessions), NoOwnershipCache())
    assert await row_counts(engine) == {"inbox": 0, "purchases": 0, "entitlements": 0, "refund_marks": 0}
    assert await apply(event, sessions) is False  # the redelivery is applied, not taken for a duplicate
    assert (await ownership(sessions, "course", "algebra-1")).owned


@POSTGRES_ONLY  # SQLite admits one writer at a time: the race needs PostgreSQL
async def test_concurrent_copies_of_one_event_apply_once(
    database_url: str, sessions: Sessions, engine: AsyncEngine
) -> None:
    event = payment_event(EventType.COMPLETED)
    results = await asyncio.gather(*(apply(event, sessions) for _ in range(5)))
    assert sorted(results) == [False, True, True, True, True]
    assert await row_counts(engine) == {"inbox": 1, "purchases": 2, "entitlements": 2, "refund_marks": 0}


@POSTGRES_ONLY  # SQLite admits one writer at a time: the race needs PostgreSQL
async def test_concurrent_refund_and_new_payment_of_one_item_leave_it_owned(
    database_url: str, sessions: Sessions
) -> None:
    users = [f"u{n}" for n in range(10)]
    for user in users:
        first = payment_event(EventType.COMPLETED, payment_id=f"{user}-pay-1", items=ITEMS[:1], user_id=user)
        await apply(first, sessions)
    racing = [
        event
        for user in users
        for event in (
            payment_event(EventType.REFUNDED, payment_id=f"{user}-pay-1", items=[], user_id=user),
            payment_event(EventType.COMPLETED, payment_id=f"{user}-pay-2", items=ITEMS[:1], user_id=user),
        )
    ]
    assert await asyncio.gather(*(apply(event, sessions) for event in racing)) == [False] * len(racing)
    for user in users:
        [owned] = await list_entitlements(user, None, UnitOfWork(sessions))
        assert owned.payment_id == f"{user}-pay-2"
