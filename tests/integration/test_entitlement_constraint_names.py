"""The constraint names the entitlement adapters translate are the ones its database reports, on both backends."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Insert, insert
from sqlalchemy.exc import IntegrityError

from entitlement_service.adapters.orm import SCHEMA, admin_actions, entitlements, inbox, purchases, refund_marks
from entitlement_service.domain.purchase import PurchaseStatus, Source
from paygrant.db import Database, open_database, violated_constraint
from tests.conftest import NewDatabase

T0 = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
PURCHASE: dict[str, Any] = {
    "id": "purchase-1",
    "user_id": "u1",
    "item_kind": "course",
    "item_id": "algebra-1",
    "payment_id": "pay-1",
    "amount": 1,
    "currency": "MNT",
    "source": Source.PAID,
    "status": PurchaseStatus.ACTIVE,
    "purchased_at": T0,
}
ADMIN_ACTION = {
    "idempotency_key": "grant-1",
    "action": "grant",
    "user_id": "u1",
    "item_kind": "course",
    "item_id": "algebra-1",
    "reason": "support ticket 7",
    "actor": "ops",
    "recorded_at": T0,
}
ENTITLEMENT = {
    "user_id": "u1",
    "item_kind": "course",
    "item_id": "algebra-1",
    "source": Source.PAID,
    "purchased_at": T0,
}


@pytest.fixture
async def database(new_database: NewDatabase) -> AsyncIterator[Database]:
    async with open_database(await new_database("entitlement"), SCHEMA) as opened:
        async with opened.engine.begin() as conn:
            await conn.execute(
                insert(inbox).values(event_id="e1", event_type="PaymentCompleted", payment_id="pay-1", received_at=T0)
            )
            await conn.execute(insert(purchases).values(PURCHASE))
            await conn.execute(insert(entitlements).values({**ENTITLEMENT, "purchase_id": "purchase-1"}))
            await conn.execute(insert(refund_marks).values(payment_id="pay-1", event_id="e1", marked_at=T0))
            await conn.execute(insert(admin_actions).values(ADMIN_ACTION))
        yield opened


async def violation(database: Database, statement: Insert) -> IntegrityError:
    with pytest.raises(IntegrityError) as failed:
        async with database.engine.begin() as conn:
            await conn.execute(statement)
    return failed.value


REPEATS = {
    "pk_inbox": insert(inbox).values(event_id="e1", event_type="PaymentRefunded", payment_id="pay-2", received_at=T0),
    "uq_purchases_payment_id_item_kind_item_id": insert(purchases).values({**PURCHASE, "id": "purchase-2"}),
    "pk_entitlements": insert(entitlements).values({**ENTITLEMENT, "purchase_id": "purchase-1"}),
    "pk_refund_marks": insert(refund_marks).values(payment_id="pay-1", event_id="e2", marked_at=T0),
    "pk_admin_actions": insert(admin_actions).values({**ADMIN_ACTION, "action": "revoke"}),
}


@pytest.mark.parametrize(("constraint", "statement"), REPEATS.items(), ids=REPEATS)
async def test_a_repeated_unique_key_is_named_by_its_constraint(
    database: Database, constraint: str, statement: Insert
) -> None:
    assert violated_constraint(await violation(database, statement), SCHEMA.metadata) == constraint


OTHER_VIOLATIONS = {
    "not-null": insert(inbox).values(event_id="e3", event_type=None, payment_id="pay-3", received_at=T0),
    "foreign-key": insert(entitlements).values({**ENTITLEMENT, "user_id": "u2", "purchase_id": "no-such-purchase"}),
}


@pytest.mark.parametrize("statement", OTHER_VIOLATIONS.values(), ids=OTHER_VIOLATIONS)
async def test_a_violation_of_anything_but_a_unique_key_names_no_constraint(
    database: Database, statement: Insert
) -> None:
    assert violated_constraint(await violation(database, statement), SCHEMA.metadata) is None
