"""What the use cases need from storage: the inbox, purchases, entitlements and admin actions of one transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

from entitlement_service.domain.admin_action import AdminAction
from entitlement_service.domain.entitlement import Entitlement, Ownership, OwnershipQuery
from entitlement_service.domain.events import PaymentEvent
from entitlement_service.domain.history import HistoryQuery
from entitlement_service.domain.purchase import ItemRef, Purchase
from entitlement_service.domain.purchase_stream import PurchaseKey
from entitlement_service.domain.stats import PeriodStats, StatsQuery


class InboxRepository(Protocol):
    """The event ids applied so far."""

    async def record_event(self, event: PaymentEvent, received_at: dt.datetime) -> None:
        """Puts the event id in the inbox; DuplicateEvent when it is there (also when put by a racing apply)."""


class PurchaseRepository(Protocol):
    """Purchases and early refund marks, written by payment events, grants and revokes."""

    async def lock_buyer(self, user_id: str) -> None:
        """Serialises ownership changes of one user until the transaction ends."""

    async def purchases_of_payment(self, payment_id: str) -> list[Purchase]:
        """Every purchase a payment made, active or revoked."""

    async def active_purchases(self, user_id: str, item: ItemRef) -> list[Purchase]:
        """The purchases that give the user the item now."""

    async def add_purchases(self, purchases: list[Purchase]) -> None:
        """Records new purchases; ConcurrentChange when one of the payment's items was recorded first."""

    async def save_revocations(self, purchases: list[Purchase]) -> None:
        """Writes the revoked status and time of purchases read in this transaction."""

    async def granted_by_action(self, idempotency_key: str) -> Purchase | None:
        """The purchase a grant by hand with this key recorded, or None."""

    async def revoked_by_action(self, idempotency_key: str) -> list[Purchase]:
        """The purchases a revoke by hand with this key ended, oldest first."""

    async def history(self, query: HistoryQuery) -> list[Purchase]:
        """Up to page_size + 1 of a user's purchases, newest first, after the query's key."""

    async def is_refund_marked(self, payment_id: str) -> bool:
        """True when a refund of the payment arrived before any completion of it."""

    async def mark_refund(self, payment_id: str, event_id: str, at: dt.datetime) -> None:
        """Remembers an early refund; ConcurrentChange when another apply marked it first."""


class EntitlementRepository(Protocol):
    """Who owns what now: written when purchases change, read by checks and listings."""

    async def put(self, user_id: str, item: ItemRef, entitlement: Entitlement | None) -> None:
        """Stores the user's entitlement to the item; None removes it."""

    async def ownership_of(self, queries: Sequence[OwnershipQuery]) -> dict[OwnershipQuery, Ownership]:
        """The answer to each query, in one round trip."""

    async def of_user(self, user_id: str, kind: str | None = None) -> list[Entitlement]:
        """Everything the user owns now (of one kind, when given), ordered by kind then item id."""


class AdminActionRepository(Protocol):
    """Grants and revokes by hand, by idempotency key."""

    async def record(self, action: AdminAction, at: dt.datetime) -> None:
        """Puts the action under its key; AdminActionRecorded when the key is taken (also by a racing request)."""

    async def get(self, idempotency_key: str) -> AdminAction | None:
        """The action recorded under the key, or None."""


class PurchaseStatsRepository(Protocol):
    """Statistics of purchases, computed by the database."""

    async def periods(self, query: StatsQuery) -> list[PeriodStats]:
        """One entry per (period, currency) with purchases, oldest first; SumOutOfRange past int64."""


class PurchaseStreamRepository(Protocol):
    """Every purchase of a time range in key order, a batch at a time."""

    async def batch(
        self, start: dt.datetime, end: dt.datetime, after: PurchaseKey | None, limit: int
    ) -> list[Purchase]:
        """Up to `limit` purchases made in [start, end) after `after` (from `start` when None), in key order."""
