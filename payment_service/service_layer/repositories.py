"""What the use cases need of storage: one protocol per repository, met by SQLAlchemy and by the test fakes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from typing import Protocol

from payment_service.domain.catalog import ItemRef, Product
from payment_service.domain.checkout import CheckoutSession
from payment_service.domain.events import PaymentEvent
from payment_service.domain.outbox import OutboxMessage, OutboxStatus
from payment_service.domain.outbox_listing import OutboxEventQuery
from payment_service.domain.payment import Payment
from payment_service.domain.payment_listing import PaymentKey, PaymentListQuery, StreamedLine, StreamedPayment


class CatalogRepository(Protocol):
    """Products by item."""

    async def get(self, item: ItemRef) -> Product | None:
        """The catalog entry of one item, if any."""

    async def get_many(self, items: Iterable[ItemRef]) -> dict[ItemRef, Product]:
        """Catalog entries of the given items, by item; missing items are absent."""

    def add(self, product: Product) -> None:
        """Stages a new entry."""

    async def list(self, kind: str, include_inactive: bool) -> Sequence[Product]:
        """Entries ordered by kind and id, optionally of one kind and only active ones."""


class CheckoutRepository(Protocol):
    """Checkout sessions with their lines and invoice; `seen` holds every session added or loaded."""

    seen: set[CheckoutSession]

    def add(self, checkout: CheckoutSession) -> None:
        """Stages a new session."""

    async def get(self, session_id: str, *, for_update: bool = False) -> CheckoutSession | None:
        """A session by id; `for_update` locks it until commit (PostgreSQL's row lock, SQLite's write lock)."""

    async def by_idempotency_key(self, key: str) -> CheckoutSession | None:
        """The session a CreateCheckout with this key made, if any."""

    async def claim_provider_check(self, session_id: str, now: dt.datetime, interval: dt.timedelta) -> bool:
        """Records that the provider is asked about the session now, unless it was within `interval`."""

    async def expire_overdue(self, now: dt.datetime, *, session_id: str | None = None, limit: int = 1) -> int:
        """Stores EXPIRED for unpaid sessions past their time (`session_id`, or up to `limit`); returns how many.

        A conditional write: it never overwrites a payment or cancellation committed at the same moment.
        """

    async def near_expiry(
        self, now: dt.datetime, lead: dt.timedelta, grace: dt.timedelta, recheck: dt.timedelta, limit: int
    ) -> Sequence[str]:
        """Ids of unpaid sessions with an invoice, expiring within `lead` or expired within `grace`, not checked
        within `recheck`."""


class PaymentRepository(Protocol):
    """Recorded payments."""

    def add(self, payment: Payment) -> None:
        """Stages a new payment."""

    async def get(self, payment_id: str) -> Payment | None:
        """A payment by paygrant's id."""

    async def by_qpay_id(self, qpay_payment_id: str) -> Payment | None:
        """A payment by QPay's id."""

    async def by_qpay_ids(self, qpay_payment_ids: Collection[str]) -> list[Payment]:
        """The payments recorded for these QPay payment ids."""

    async def by_refund_key(self, idempotency_key: str) -> Payment | None:
        """The payment a RefundPayment with this idempotency key refunded, if any."""

    async def of_session(self, session_id: str) -> list[Payment]:
        """Every payment recorded for the session, oldest first."""

    async def page(self, query: PaymentListQuery) -> list[Payment]:
        """Up to page_size + 1 payments matching the query after its key, newest first by (paid_at, id)."""

    async def batch(
        self, start: dt.datetime, end: dt.datetime, after: PaymentKey | None, limit: int, user_id: str | None = None
    ) -> list[StreamedPayment]:
        """Up to `limit` payments paid in [start, end) after `after` (from `start` when None), oldest first, with
        their refunds' records; only the buyer's when `user_id` is given."""

    async def batch_lines(
        self,
        start: dt.datetime,
        end: dt.datetime,
        after: PaymentKey | None,
        through: PaymentKey,
        user_id: str | None = None,
    ) -> dict[str, list[StreamedLine]]:
        """The priced lines, in order and by session id, of the sessions of the payments a batch() with these
        arguments read, up to `through` (its last payment's key)."""


class OutboxRepository(Protocol):
    """The transactional outbox; `added` counts messages staged in this unit of work."""

    added: int

    def add(self, event: PaymentEvent, now: dt.datetime) -> OutboxMessage:
        """Stages the event's message, and returns it; it commits (or not) with everything else."""

    async def claim_due(self, now: dt.datetime, limit: int, lease_until: dt.datetime) -> list[OutboxMessage]:
        """Leases up to `limit` due pending messages until `lease_until`, at most one per payment (its oldest
        unsent, and only if no older one is dead); each carries the claim's lease_token."""

    async def record_outcomes(self, messages: Sequence[OutboxMessage]) -> bool:
        """Writes the messages' outcomes where their claim (lease_token) still holds them; returns whether a
        pending message of their payments waits behind one of them."""

    async def delete_sent_before(self, cutoff: dt.datetime, limit: int) -> int:
        """Deletes up to `limit` messages sent before `cutoff`; returns how many."""

    async def oldest_pending_at(self) -> dt.datetime | None:
        """When the oldest row still pending was written, or None when none is."""

    async def count_by_status(self) -> dict[OutboxStatus, int]:
        """How many messages are pending, sent and dead."""

    async def dead(self, limit: int) -> Sequence[OutboxMessage]:
        """The oldest messages the relay gave up on."""

    async def revive_dead(self, event_ids: Sequence[str] | None, now: dt.datetime) -> int:
        """Puts dead messages (all, or those of `event_ids`) back in line with fresh attempts; returns how many."""

    async def page(self, query: OutboxEventQuery) -> list[OutboxMessage]:
        """Up to page_size + 1 messages matching the query after its row, in the order they were written."""
