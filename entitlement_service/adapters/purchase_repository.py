"""Purchases and early refund marks, read and written inside the caller's transaction."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from entitlement_service.adapters.orm import metadata, purchases, refund_marks
from entitlement_service.domain.errors import ConcurrentChange
from entitlement_service.domain.history import HistoryQuery
from entitlement_service.domain.purchase import ItemRef, Purchase, PurchaseStatus
from paygrant.db import unique_violations


class SqlPurchaseRepository:
    """Purchases as payment events, grants and revokes write them; every method works in the one session given."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock_buyer(self, user_id: str) -> None:
        """Serialises ownership changes of one user until commit, so re-derivations never interleave."""
        # SQLite admits one writer at a time anyway; PostgreSQL needs the lock.
        if self._session.get_bind().dialect.name == "postgresql":
            await self._session.execute(select(func.pg_advisory_xact_lock(_lock_key(user_id))))

    async def purchases_of_payment(self, payment_id: str) -> list[Purchase]:
        """Every purchase a payment made, active or revoked."""
        return list(await self._session.scalars(select(Purchase).where(purchases.c.payment_id == payment_id)))

    async def active_purchases(self, user_id: str, item: ItemRef) -> list[Purchase]:
        """The purchases that give the user the item now."""
        query = select(Purchase).where(
            purchases.c.user_id == user_id,
            purchases.c.item_kind == item.kind,
            purchases.c.item_id == item.id,
            purchases.c.status == PurchaseStatus.ACTIVE,
        )
        return list(await self._session.scalars(query))

    async def add_purchases(self, new: list[Purchase]) -> None:
        """Records new purchases; ConcurrentChange when one of the payment's items was recorded first."""
        self._session.add_all(new)
        recorded_first = {
            "uq_purchases_payment_id_item_kind_item_id": lambda: ConcurrentChange(
                "a purchase of this payment was recorded concurrently"
            )
        }
        with unique_violations(metadata, recorded_first):
            await self._session.flush()

    async def save_revocations(self, revoked: list[Purchase]) -> None:
        """Writes the revoked status and time of purchases read in this transaction."""
        await self._session.flush()  # the session tracked the changes revoke() made

    async def granted_by_action(self, idempotency_key: str) -> Purchase | None:
        """The purchase a grant by hand with this key recorded, or None."""
        found = await self._session.scalars(select(Purchase).where(purchases.c.granted_by_action == idempotency_key))
        return found.first()

    async def revoked_by_action(self, idempotency_key: str) -> list[Purchase]:
        """The purchases a revoke by hand with this key ended, oldest first."""
        query = select(Purchase).where(purchases.c.revoked_by_action == idempotency_key)
        return list(await self._session.scalars(query.order_by(purchases.c.purchased_at, purchases.c.id)))

    async def history(self, query: HistoryQuery) -> list[Purchase]:
        """One page of a user's purchases, newest first, starting after the query's key; up to page_size + 1
        rows, so the caller sees whether another page follows."""
        c = purchases.c
        statement = select(Purchase).where(c.user_id == query.user_id)
        if query.kind is not None:
            statement = statement.where(c.item_kind == query.kind)
        if query.status is not None:
            statement = statement.where(c.status == query.status)
        if query.after is not None:
            at, last_id = query.after.purchased_at, query.after.purchase_id
            # (purchased_at, id) < (at, last_id), spelled out: row values compare alike on every backend.
            statement = statement.where(or_(c.purchased_at < at, and_(c.purchased_at == at, c.id < last_id)))
        statement = statement.order_by(c.purchased_at.desc(), c.id.desc()).limit(query.page_size + 1)
        return list(await self._session.scalars(statement))

    async def is_refund_marked(self, payment_id: str) -> bool:
        """True when a refund of the payment arrived before any completion of it."""
        marked = await self._session.scalar(
            select(refund_marks.c.payment_id).where(refund_marks.c.payment_id == payment_id)
        )
        return marked is not None

    async def mark_refund(self, payment_id: str, event_id: str, at: dt.datetime) -> None:
        """Remembers an early refund; ConcurrentChange when another apply marked it first."""
        marked_first = {"pk_refund_marks": lambda: ConcurrentChange("the payment was marked refunded concurrently")}
        with unique_violations(metadata, marked_first):
            await self._session.execute(
                insert(refund_marks).values(payment_id=payment_id, event_id=event_id, marked_at=at)
            )


def _lock_key(user_id: str) -> int:
    # pg_advisory_xact_lock takes a signed 64-bit key; a stable hash of the user id fits.
    return int.from_bytes(hashlib.blake2b(user_id.encode(), digest_size=8).digest(), "big", signed=True)
