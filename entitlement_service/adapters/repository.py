"""Purchases, refund marks and the inbox, read and written inside the caller's transaction."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from entitlement_service.adapters.orm import InboxEvent, PurchaseRow, RefundMark
from entitlement_service.domain.events import PaymentEvent
from entitlement_service.domain.purchase import Item, Purchase, PurchaseStatus, Source
from entitlement_service.errors import ConcurrentChange, DuplicateEvent, EntitlementServiceError


class PurchaseRepository:
    """The write side of applying payment events; every method works in the one session given."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record_event(self, event: PaymentEvent, received_at: dt.datetime) -> None:
        """Puts the event id in the inbox; DuplicateEvent when it is there (also when put by a racing apply)."""
        self._session.add(
            InboxEvent(
                event_id=event.event_id,
                event_type=event.type.value,
                payment_id=event.payment_id,
                received_at=received_at,
            )
        )
        await flush(self._session, DuplicateEvent(f"event {event.event_id} was applied before"))

    async def lock_buyer(self, user_id: str) -> None:
        """Serialises ownership changes of one user until commit, so re-derivations never interleave."""
        # SQLite admits one writer at a time anyway; PostgreSQL needs the lock.
        if self._session.get_bind().dialect.name == "postgresql":
            await self._session.execute(select(func.pg_advisory_xact_lock(_lock_key(user_id))))

    async def purchases_of_payment(self, payment_id: str) -> list[Purchase]:
        """Every purchase a payment made, active or revoked."""
        rows = await self._session.scalars(select(PurchaseRow).where(PurchaseRow.payment_id == payment_id))
        return [to_purchase(row) for row in rows]

    async def active_purchases(self, user_id: str, item: Item) -> list[Purchase]:
        """The purchases that give the user the item now."""
        rows = await self._session.scalars(
            select(PurchaseRow).where(
                PurchaseRow.user_id == user_id,
                PurchaseRow.item_kind == item.kind,
                PurchaseRow.item_id == item.id,
                PurchaseRow.status == PurchaseStatus.ACTIVE.value,
            )
        )
        return [to_purchase(row) for row in rows]

    async def add_purchases(self, purchases: list[Purchase]) -> None:
        """Records new purchases."""
        self._session.add_all(to_row(p) for p in purchases)
        await flush(self._session, ConcurrentChange("a purchase of this payment was recorded concurrently"))

    async def save_revocations(self, purchases: list[Purchase]) -> None:
        """Writes the revoked status and time of purchases loaded earlier in this transaction."""
        for purchase in purchases:
            row = await self._session.get_one(PurchaseRow, purchase.id)
            row.status, row.revoked_at = purchase.status.value, purchase.revoked_at
        await flush(self._session, ConcurrentChange("a purchase changed concurrently"))

    async def is_refund_marked(self, payment_id: str) -> bool:
        """True when a refund of the payment arrived before any completion of it."""
        return await self._session.get(RefundMark, payment_id) is not None

    async def mark_refund(self, payment_id: str, event_id: str, at: dt.datetime) -> None:
        """Remembers an early refund so that a later completion of the payment grants nothing."""
        self._session.add(RefundMark(payment_id=payment_id, event_id=event_id, marked_at=at))
        await flush(self._session, ConcurrentChange("the payment was marked refunded concurrently"))


async def flush(session: AsyncSession, on_conflict: EntitlementServiceError) -> None:
    """Sends pending writes; a constraint violation becomes the service's own `on_conflict` error."""
    try:
        await session.flush()
    except IntegrityError as error:
        raise on_conflict from error


def to_purchase(row: PurchaseRow) -> Purchase:
    """The domain purchase a row stores."""
    return Purchase(
        id=row.id,
        user_id=row.user_id,
        item=Item(row.item_kind, row.item_id),
        payment_id=row.payment_id,
        event_id=row.event_id,
        amount=row.amount,
        currency=row.currency,
        source=Source(row.source),
        purchased_at=row.purchased_at,
        status=PurchaseStatus(row.status),
        revoked_at=row.revoked_at,
    )


def to_row(purchase: Purchase) -> PurchaseRow:
    """The row that stores a purchase."""
    return PurchaseRow(
        id=purchase.id,
        user_id=purchase.user_id,
        item_kind=purchase.item.kind,
        item_id=purchase.item.id,
        payment_id=purchase.payment_id,
        event_id=purchase.event_id,
        amount=purchase.amount,
        currency=purchase.currency,
        source=purchase.source.value,
        status=purchase.status.value,
        purchased_at=purchase.purchased_at,
        revoked_at=purchase.revoked_at,
    )


def _lock_key(user_id: str) -> int:
    # pg_advisory_xact_lock takes a signed 64-bit key; a stable hash of the user id fits.
    return int.from_bytes(hashlib.blake2b(user_id.encode(), digest_size=8).digest(), "big", signed=True)
