"""What the use cases need from storage: the inbox, purchases, entitlements and admin actions of one transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Protocol

from entitlement_service.domain.admin_action import AdminAction
from entitlement_service.domain.entitlement import Entitlement, Ownership, OwnershipQuery
from entitlement_service.domain.events import PaymentEvent
from entitlement_service.domain.history import HistoryQuery
from entitlement_service.domain.payment_ledger import Holding
from entitlement_service.domain.purchase import ItemRef, Purchase
from entitlement_service.domain.purchase_stream import PurchaseKey, StreamedPurchase
from entitlement_service.domain.stats import PeriodStats, StatsQuery


class InboxRepository(Protocol):
    """The event ids applied so far."""

    async def record_new(self, events: Sequence[PaymentEvent], received_at: dt.datetime) -> set[str]:
        """Puts the events' ids in the inbox; returns the ids that were not there (also not put by a racing apply)."""

    async def withdraw(self, event_ids: Collection[str]) -> None:
        """Takes ids recorded in this transaction out again: their events were refused, not applied."""


class PurchaseRepository(Protocol):
    """Purchases and early refund marks, written by payment events, grants and revokes."""

    async def lock_buyer(self, user_id: str) -> None:
        """Serialises ownership changes of one user until the transaction ends."""

    async def lock_buyers(self, user_ids: Iterable[str]) -> None:
        """lock_buyer for many users at once, in one order for every transaction."""

    async def purchases_touched(
        self, payment_ids: Collection[str], holdings: Collection[Holding]
    ) -> tuple[dict[str, list[Purchase]], dict[Holding, list[Purchase]]]:
        """Every purchase each payment made, active or revoked, and the active purchases of each holding, read
        together (an empty list for a payment or a holding with none)."""

    async def active_purchases_of(self, holdings: Collection[Holding]) -> dict[Holding, list[Purchase]]:
        """The purchases that give each user the item now (an empty list where none does)."""

    async def active_purchases(self, user_id: str, item: ItemRef) -> list[Purchase]:
        """The purchases that give the user the item now."""

    async def add_purchases(self, purchases: list[Purchase]) -> None:
        """Records new purchases; ConcurrentChange when one of the payment's items was recorded first."""

    async def save_revocations(self, purchases: list[Purchase]) -> None:
        """Writes the revoked status and time of purchases read in this transaction."""

    async def get(self, purchase_id: str) -> Purchase | None:
        """A purchase by id, or None."""

    async def granted_by_action(self, idempotency_key: str) -> Purchase | None:
        """The purchase a grant by hand with this key recorded, or None."""

    async def revoked_by_action(self, idempotency_key: str) -> list[Purchase]:
        """The purchases a revoke by hand with this key ended, oldest first."""

    async def history(self, query: HistoryQuery) -> list[Purchase]:
        """Up to page_size + 1 of a user's purchases, newest first, after the query's key."""

    async def refund_marked(self, payment_ids: Collection[str]) -> set[str]:
        """The payments among these whose refund arrived before any completion of them."""

    async def mark_refunds(self, marks: Mapping[str, str], at: dt.datetime) -> None:
        """Remembers early refunds (payment id -> refund event id); ConcurrentChange when one was marked first."""


class EntitlementRepository(Protocol):
    """Who owns what now: written when purchases change, read by checks and listings."""

    async def put(self, user_id: str, item: ItemRef, entitlement: Entitlement | None) -> None:
        """Stores the user's entitlement to the item; None removes it."""

    async def put_many(self, derived: Mapping[Holding, Entitlement | None]) -> None:
        """Stores each (user, item)'s entitlement; None removes it."""

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
        self, start: dt.datetime, end: dt.datetime, after: PurchaseKey | None, limit: int, user_id: str | None = None
    ) -> list[StreamedPurchase]:
        """Up to `limit` purchases made in [start, end) after `after` (from `start` when None), in key order; only
        the user's when `user_id` is given."""
