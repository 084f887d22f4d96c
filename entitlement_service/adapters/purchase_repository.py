"""Purchases and early refund marks, read and written inside the caller's transaction."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import itertools
from collections.abc import Collection, Iterable, Mapping

from sqlalchemy import ColumnElement, Select, and_, bindparam, insert, or_, select, text, union_all
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import ExecutableReturnsRows
from sqlalchemy.types import BigInteger

from entitlement_service.adapters.bulk import chunks, dialect_of, one_of
from entitlement_service.adapters.orm import metadata, purchases, refund_marks
from entitlement_service.domain.errors import ConcurrentChange
from entitlement_service.domain.history import HistoryQuery
from entitlement_service.domain.payment_ledger import Holding
from entitlement_service.domain.purchase import ItemRef, Purchase, PurchaseStatus
from paygrant.db import unique_violations

# One statement takes every lock, in the order of the array (sorted keys: no two batches deadlock).
_LOCK_EACH = text("SELECT pg_advisory_xact_lock(key) FROM unnest(:keys) AS key").bindparams(
    bindparam("keys", type_=ARRAY(BigInteger))
)


class SqlPurchaseRepository:
    """Purchases as payment events, grants and revokes write them; every method works in the one session given."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock_buyer(self, user_id: str) -> None:
        """Serialises ownership changes of one user until commit, so re-derivations never interleave."""
        await self.lock_buyers([user_id])

    async def lock_buyers(self, user_ids: Iterable[str]) -> None:
        """lock_buyer for many users at once, taken in one order by every transaction (no deadlock)."""
        # SQLite admits one writer at a time anyway; PostgreSQL needs the locks.
        if self._session.get_bind().dialect.name == "postgresql":
            keys = sorted({_lock_key(user_id) for user_id in user_ids})
            if keys:
                await self._session.execute(_LOCK_EACH, {"keys": keys})

    async def purchases_touched(
        self, payment_ids: Collection[str], holdings: Collection[Holding]
    ) -> tuple[dict[str, list[Purchase]], dict[Holding, list[Purchase]]]:
        """Every purchase each payment made, active or revoked, and the active purchases of each holding, in one
        query (for up to CHUNK payments and CHUNK holdings; one more per chunk beyond).

        A purchase that is both (an active purchase of a payment asked about, of a holding asked about)
        is one object in both answers, as the ledger revokes it in one place and reads it in the other.
        """
        of_payment: dict[str, list[Purchase]] = {payment_id: [] for payment_id in payment_ids}
        active: dict[Holding, list[Purchase]] = {holding: [] for holding in holdings}
        query = _touched_query(dialect_of(self._session))
        payment_chunk: list[str]
        holding_chunk: list[Holding]
        for payment_chunk, holding_chunk in itertools.zip_longest(chunks(payment_ids), chunks(holdings), fillvalue=[]):
            parameters = {"payment_ids": payment_chunk, **_holding_parameters(holding_chunk)}
            rows = await self._session.scalars(query, parameters)
            for purchase in {purchase.id: purchase for purchase in rows}.values():  # a row of both SELECTs comes twice
                if purchase.payment_id in of_payment:
                    of_payment[purchase.payment_id].append(purchase)
                if purchase.is_active and (holding := (purchase.user_id, purchase.item)) in active:
                    active[holding].append(purchase)
        return of_payment, active

    async def active_purchases_of(self, holdings: Collection[Holding]) -> dict[Holding, list[Purchase]]:
        """The purchases that give each user the item now (an empty list where none does)."""
        found: dict[Holding, list[Purchase]] = {holding: [] for holding in holdings}
        query = _active_query(dialect_of(self._session))
        for chunk in chunks(holdings):
            for purchase in await self._session.scalars(query, _holding_parameters(chunk)):
                if (holding := (purchase.user_id, purchase.item)) in found:
                    found[holding].append(purchase)
        return found

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
        """Records new purchases, in one statement; ConcurrentChange when one of the payment's items was recorded
        first. (An INSERT of rows, not the ORM's unit of work: a batch of events records hundreds at once.)"""
        if not new:
            return
        recorded_first = {
            "uq_purchases_payment_id_item_kind_item_id": lambda: ConcurrentChange(
                "a purchase of this payment was recorded concurrently"
            )
        }
        with unique_violations(metadata, recorded_first):
            await self._session.execute(insert(purchases), [_row(purchase) for purchase in new])

    async def save_revocations(self, revoked: list[Purchase]) -> None:
        """Writes the revoked status and time of purchases read in this transaction."""
        await self._session.flush()  # the session tracked the changes revoke() made

    async def get(self, purchase_id: str) -> Purchase | None:
        """A purchase by id, or None."""
        return await self._session.get(Purchase, purchase_id, populate_existing=True)

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

    async def refund_marked(self, payment_ids: Collection[str]) -> set[str]:
        """The payments among these whose refund arrived before any completion of them."""
        marked: set[str] = set()
        query = _refund_marks_query(dialect_of(self._session))
        for chunk in chunks(payment_ids):
            marked.update(await self._session.scalars(query, {"payment_ids": chunk}))
        return marked

    async def mark_refunds(self, marks: Mapping[str, str], at: dt.datetime) -> None:
        """Remembers early refunds (payment id -> refund event id); ConcurrentChange when another apply marked
        one first."""
        if not marks:
            return
        marked_first = {"pk_refund_marks": lambda: ConcurrentChange("the payment was marked refunded concurrently")}
        rows = [
            {"payment_id": payment_id, "event_id": event_id, "marked_at": at} for payment_id, event_id in marks.items()
        ]
        with unique_violations(metadata, marked_first):
            await self._session.execute(insert(refund_marks), rows)


def _any_holding(dialect: str) -> ColumnElement[bool]:
    """The user is any of `user_ids`, the kind any of `kinds`, the id any of `item_ids` (_holding_parameters).

    Three lists, not a list of triples, so PostgreSQL takes three array parameters: the rows may hold
    other combinations, which the caller leaves out.
    """
    c = purchases.c
    return and_(
        one_of(dialect, c.user_id, "user_ids"),
        one_of(dialect, c.item_kind, "kinds"),
        one_of(dialect, c.item_id, "item_ids"),
    )


def _holding_parameters(holdings: Collection[Holding]) -> dict[str, list[str]]:
    return {
        "user_ids": sorted({user_id for user_id, _ in holdings}),
        "kinds": sorted({item.kind for _, item in holdings}),
        "item_ids": sorted({item.id for _, item in holdings}),
    }


@functools.cache
def _touched_query(dialect: str) -> ExecutableReturnsRows:
    """The purchases of `payment_ids`, and the active purchases of the holdings (purchases_touched).

    Two SELECTs under UNION ALL, not one WHERE … OR …: each is planned by itself, as an index scan,
    where an OR may be planned as a scan of the whole table when the table's statistics are behind
    its size (they were: a sale day's first minutes). A row may come twice; the caller takes it once.
    """
    of_payments = select(purchases).where(one_of(dialect, purchases.c.payment_id, "payment_ids"))
    active = select(purchases).where(purchases.c.status == PurchaseStatus.ACTIVE, _any_holding(dialect))
    return select(Purchase).from_statement(union_all(of_payments, active))


@functools.cache
def _active_query(dialect: str) -> Select[Purchase]:
    return select(Purchase).where(purchases.c.status == PurchaseStatus.ACTIVE, _any_holding(dialect))


@functools.cache
def _refund_marks_query(dialect: str) -> Select[tuple[str]]:
    return select(refund_marks.c.payment_id).where(one_of(dialect, refund_marks.c.payment_id, "payment_ids"))


def _lock_key(user_id: str) -> int:
    # pg_advisory_xact_lock takes a signed 64-bit key; a stable hash of the user id fits.
    return int.from_bytes(hashlib.blake2b(user_id.encode(), digest_size=8).digest(), "big", signed=True)


def _row(purchase: Purchase) -> dict[str, object]:
    """The purchases row of a purchase: its fields, the item in its two columns."""
    row = {column: getattr(purchase, column) for column in _PLAIN_COLUMNS}
    row["item_kind"], row["item_id"] = purchase.item
    return row


_PLAIN_COLUMNS = [column.name for column in purchases.columns if column.name not in ("item_kind", "item_id")]
