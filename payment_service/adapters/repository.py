"""SQLAlchemy repositories of the catalog, checkout sessions and payments."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence

from sqlalchemy import exists, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from payment_service.adapters.orm import checkout_sessions, invoices, payments, products, refunds
from payment_service.adapters.payment_listing import payment_batch, payment_page, window_lines
from payment_service.domain.catalog import ItemRef, Product
from payment_service.domain.checkout import CheckoutSession, CheckoutStatus
from payment_service.domain.payment import Payment
from payment_service.domain.payment_listing import PaymentKey, PaymentListQuery, StreamedLine, StreamedPayment


class SqlCatalogRepository:
    """Products by item."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, item: ItemRef) -> Product | None:
        """The catalog entry of one item, if any."""
        return await self._session.get(Product, (item.kind, item.id))

    async def get_many(self, items: Iterable[ItemRef]) -> dict[ItemRef, Product]:
        """Catalog entries of the given items, by item; missing items are absent."""
        keys = [(item.kind, item.id) for item in items]
        rows = await self._session.scalars(select(Product).where(tuple_(products.c.kind, products.c.item_id).in_(keys)))
        return {product.item: product for product in rows}

    def add(self, product: Product) -> None:
        """Stages a new entry."""
        self._session.add(product)

    async def list(self, kind: str, include_inactive: bool) -> Sequence[Product]:
        """Entries ordered by kind and id, optionally of one kind and only active ones."""
        query = select(Product).order_by(products.c.kind, products.c.item_id)
        if kind:
            query = query.where(products.c.kind == kind)
        if not include_inactive:
            query = query.where(products.c.active.is_(True))
        return (await self._session.scalars(query)).all()


class SqlCheckoutRepository:
    """Checkout sessions, with their lines and invoice; remembers every session it handed out."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.seen: set[CheckoutSession] = set()

    def add(self, checkout: CheckoutSession) -> None:
        """Stages a new session."""
        self._session.add(checkout)
        self.seen.add(checkout)

    async def get(self, session_id: str, *, for_update: bool = False) -> CheckoutSession | None:
        """A session by id; `for_update` locks its row until commit.

        PostgreSQL locks the row (SELECT … FOR UPDATE). SQLite has no row locks: there a no-op UPDATE
        of the row comes first, which takes the database's write lock, so the session is read after
        every earlier writer committed and no other writer commits before this transaction ends.
        """
        if for_update and self._session.get_bind().dialect.name == "sqlite":
            table = checkout_sessions
            await self._session.execute(
                update(table)
                .where(table.c.id == session_id)
                .values(status=table.c.status)
                .execution_options(synchronize_session=False)
            )
        return self._saw(await self._session.get(CheckoutSession, session_id, with_for_update=for_update))

    async def expire_overdue(self, now: dt.datetime, *, session_id: str | None = None, limit: int = 1) -> int:
        """Stores EXPIRED for unpaid sessions past their time: `session_id`, or up to `limit`; returns how many.

        One conditional UPDATE (status still PENDING and expires_at <= now, as CheckoutSession.expire
        says), so it can never overwrite a payment or a cancellation committed at the same moment: on
        PostgreSQL a row changed meanwhile is re-checked against the condition after the other
        transaction commits; on SQLite writers take turns. The batch form skips rows other
        transactions hold (a payment being recorded) rather than wait for them.
        """
        table = checkout_sessions
        overdue = (table.c.status == CheckoutStatus.PENDING) & (table.c.expires_at <= now)
        if session_id is not None:
            chosen = table.c.id == session_id
        else:
            due = select(table.c.id).where(overdue).order_by(table.c.expires_at).limit(limit)
            chosen = table.c.id.in_(due.with_for_update(skip_locked=True))
        result = await self._session.execute(
            update(table)
            .where(chosen, overdue)
            .values(status=CheckoutStatus.EXPIRED)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def claim_provider_check(self, session_id: str, now: dt.datetime, interval: dt.timedelta) -> bool:
        """Records that QPay is being asked about the session now, unless it was within `interval`.

        One conditional UPDATE, so concurrent callers on any replica get at most one True.
        """
        table = checkout_sessions
        result = await self._session.execute(
            update(table)
            .where(table.c.id == session_id)
            .where(or_(table.c.last_checked_at.is_(None), table.c.last_checked_at <= now - interval))
            .values(last_checked_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def near_expiry(
        self, now: dt.datetime, lead: dt.timedelta, grace: dt.timedelta, recheck: dt.timedelta, limit: int
    ) -> Sequence[str]:
        """Ids of unpaid sessions expiring within `lead` or expired within `grace`, not checked within `recheck`.

        Only sessions with an invoice: QPay cannot be asked about one whose id it never told us.
        """
        table = checkout_sessions
        has_invoice = exists().where(invoices.c.session_id == table.c.id)
        query = (
            select(table.c.id)
            .where(table.c.payment_id.is_(None), table.c.amount > 0, has_invoice)
            .where(table.c.expires_at.between(now - grace, now + lead))
            .where(or_(table.c.last_checked_at.is_(None), table.c.last_checked_at <= now - recheck))
            .order_by(table.c.expires_at)
            .limit(limit)
        )
        return (await self._session.scalars(query)).all()

    async def by_idempotency_key(self, key: str) -> CheckoutSession | None:
        """The session a CreateCheckout with this key made, if any."""
        query = select(CheckoutSession).where(checkout_sessions.c.idempotency_key == key)
        return self._saw((await self._session.scalars(query)).one_or_none())

    def _saw(self, checkout: CheckoutSession | None) -> CheckoutSession | None:
        if checkout is not None:
            self.seen.add(checkout)
        return checkout


class SqlPaymentRepository:
    """Recorded payments."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, payment: Payment) -> None:
        """Stages a new payment."""
        self._session.add(payment)

    async def get(self, payment_id: str) -> Payment | None:
        """A payment by paygrant's id."""
        return await self._session.get(Payment, payment_id)

    async def by_qpay_id(self, qpay_payment_id: str) -> Payment | None:
        """A payment by QPay's id."""
        query = select(Payment).where(payments.c.qpay_payment_id == qpay_payment_id)
        return (await self._session.scalars(query)).one_or_none()

    async def by_qpay_ids(self, qpay_payment_ids: Collection[str]) -> list[Payment]:
        """The payments recorded for these QPay payment ids, in one query."""
        query = select(Payment).where(payments.c.qpay_payment_id.in_(qpay_payment_ids))
        return list(await self._session.scalars(query))

    async def by_refund_key(self, idempotency_key: str) -> Payment | None:
        """The payment a RefundPayment with this idempotency key refunded, if any."""
        query = select(Payment).join(refunds).where(refunds.c.idempotency_key == idempotency_key)
        return (await self._session.scalars(query)).one_or_none()

    async def of_session(self, session_id: str) -> list[Payment]:
        """Every payment recorded for the session, oldest first."""
        query = select(Payment).where(payments.c.session_id == session_id).order_by(payments.c.paid_at, payments.c.id)
        return list(await self._session.scalars(query))

    async def page(self, query: PaymentListQuery) -> list[Payment]:
        """Up to page_size + 1 payments matching the query, newest first (see adapters.payment_listing)."""
        return await payment_page(self._session, query)

    async def batch(
        self, start: dt.datetime, end: dt.datetime, after: PaymentKey | None, limit: int, user_id: str | None = None
    ) -> list[StreamedPayment]:
        """Up to `limit` payments paid in [start, end) after `after`, oldest first (see adapters.payment_listing)."""
        return await payment_batch(self._session, start, end, after, limit, user_id)

    async def batch_lines(
        self,
        start: dt.datetime,
        end: dt.datetime,
        after: PaymentKey | None,
        through: PaymentKey,
        user_id: str | None = None,
    ) -> dict[str, list[StreamedLine]]:
        """The lines of the sessions of the batch read after `after` up to `through` (see adapters.payment_listing)."""
        return await window_lines(self._session, start, end, after, through, user_id)
