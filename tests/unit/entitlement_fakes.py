"""In-memory stand-ins for the entitlement service's storage and cache, for use-case tests without I/O."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from entitlement_service.domain.admin_action import AdminAction
from entitlement_service.domain.entitlement import NOT_OWNED, Entitlement, Ownership, OwnershipQuery
from entitlement_service.domain.errors import AdminActionRecorded, ConcurrentChange
from entitlement_service.domain.events import PaymentEvent
from entitlement_service.domain.history import HistoryQuery
from entitlement_service.domain.payment_ledger import Holding
from entitlement_service.domain.purchase import ItemRef, Purchase
from entitlement_service.service_layer.ownership_cache import CacheLookup, CommittedAnswers
from entitlement_service.service_layer.unit_of_work import AbstractUnitOfWork


@dataclass
class Tables:
    """What the database holds: applied event ids, purchases, early refund marks, entitlements, admin actions."""

    inbox: set[str] = field(default_factory=set)
    purchases: list[Purchase] = field(default_factory=list)
    refund_marks: set[str] = field(default_factory=set)
    entitlements: dict[tuple[str, ItemRef], Entitlement] = field(default_factory=dict)
    admin_actions: dict[str, AdminAction] = field(default_factory=dict)

    def copy(self) -> Tables:
        """A copy a transaction may change without touching this one."""
        return Tables(
            set(self.inbox),
            [dataclasses.replace(p) for p in self.purchases],
            set(self.refund_marks),
            dict(self.entitlements),
            dict(self.admin_actions),
        )


class FakeInbox:
    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    async def record_new(self, events: Sequence[PaymentEvent], received_at: dt.datetime) -> set[str]:
        new = {event.event_id for event in events} - self.tables.inbox
        self.tables.inbox.update(new)
        return new

    async def withdraw(self, event_ids: Collection[str]) -> None:
        self.tables.inbox.difference_update(event_ids)


class FakePurchaseRepository:
    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    async def lock_buyer(self, user_id: str) -> None:
        """One task at a time: nothing to lock."""

    async def lock_buyers(self, user_ids: Iterable[str]) -> None:
        """One task at a time: nothing to lock."""

    async def purchases_touched(
        self, payment_ids: Collection[str], holdings: Collection[Holding]
    ) -> tuple[dict[str, list[Purchase]], dict[Holding, list[Purchase]]]:
        of_payment = {
            payment_id: [p for p in self.tables.purchases if p.payment_id == payment_id] for payment_id in payment_ids
        }
        return of_payment, await self.active_purchases_of(holdings)

    async def active_purchases_of(self, holdings: Collection[Holding]) -> dict[Holding, list[Purchase]]:
        return {(user_id, item): await self.active_purchases(user_id, item) for user_id, item in holdings}

    async def active_purchases(self, user_id: str, item: ItemRef) -> list[Purchase]:
        return [p for p in self.tables.purchases if p.user_id == user_id and p.item == item and p.is_active]

    async def add_purchases(self, purchases: list[Purchase]) -> None:
        # As the unique constraint: grants have no payment, and NULLs never collide.
        recorded = {(p.payment_id, p.item) for p in self.tables.purchases if p.payment_id is not None}
        if any((p.payment_id, p.item) in recorded for p in purchases):
            raise ConcurrentChange("a purchase of this payment was recorded concurrently")
        self.tables.purchases.extend(purchases)

    async def save_revocations(self, purchases: list[Purchase]) -> None:
        """The revoked objects are the stored ones: nothing to write."""

    async def get(self, purchase_id: str) -> Purchase | None:
        return next((p for p in self.tables.purchases if p.id == purchase_id), None)

    async def granted_by_action(self, idempotency_key: str) -> Purchase | None:
        return next((p for p in self.tables.purchases if p.granted_by_action == idempotency_key), None)

    async def revoked_by_action(self, idempotency_key: str) -> list[Purchase]:
        revoked = [p for p in self.tables.purchases if p.revoked_by_action == idempotency_key]
        return sorted(revoked, key=lambda p: (p.purchased_at, p.id))

    async def history(self, query: HistoryQuery) -> list[Purchase]:
        found = [
            p
            for p in self.tables.purchases
            if p.user_id == query.user_id
            and (query.kind is None or p.item.kind == query.kind)
            and (query.status is None or p.status is query.status)
            and (query.after is None or (p.purchased_at, p.id) < (query.after.purchased_at, query.after.purchase_id))
        ]
        return sorted(found, key=lambda p: (p.purchased_at, p.id), reverse=True)[: query.page_size + 1]

    async def refund_marked(self, payment_ids: Collection[str]) -> set[str]:
        return self.tables.refund_marks & set(payment_ids)

    async def mark_refunds(self, marks: Mapping[str, str], at: dt.datetime) -> None:
        if self.tables.refund_marks & set(marks):
            raise ConcurrentChange("the payment was marked refunded concurrently")
        self.tables.refund_marks.update(marks)


class FakeEntitlementRepository:
    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    async def put(self, user_id: str, item: ItemRef, entitlement: Entitlement | None) -> None:
        await self.put_many({(user_id, item): entitlement})

    async def put_many(self, derived: Mapping[Holding, Entitlement | None]) -> None:
        for holding, entitlement in derived.items():
            if entitlement is None:
                self.tables.entitlements.pop(holding, None)
            else:
                self.tables.entitlements[holding] = entitlement

    async def ownership_of(self, queries: Sequence[OwnershipQuery]) -> dict[OwnershipQuery, Ownership]:
        found = self.tables.entitlements
        return {q: found[q.user_id, q.item].ownership if (q.user_id, q.item) in found else NOT_OWNED for q in queries}

    async def of_user(self, user_id: str, kind: str | None = None) -> list[Entitlement]:
        owned = [e for (user, item), e in self.tables.entitlements.items() if user == user_id]
        return sorted((e for e in owned if kind is None or e.item.kind == kind), key=lambda e: e.item)


class FakeAdminActionRepository:
    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    async def record(self, action: AdminAction, at: dt.datetime) -> None:
        if action.idempotency_key in self.tables.admin_actions:
            raise AdminActionRecorded(f"key {action.idempotency_key!r} is recorded")
        self.tables.admin_actions[action.idempotency_key] = dataclasses.replace(action, recorded_at=at)

    async def get(self, idempotency_key: str) -> AdminAction | None:
        return self.tables.admin_actions.get(idempotency_key)


class FakeDatabase:
    """Committed tables, and units of work over copies of them that only commit() publishes."""

    def __init__(self) -> None:
        self.committed = Tables()
        self.units_opened = 0

    def uow_factory(self) -> FakeUnitOfWork:
        """A new unit of work over this database."""
        return FakeUnitOfWork(self)


class FakeUnitOfWork(AbstractUnitOfWork):
    def __init__(self, database: FakeDatabase) -> None:
        self.database = database
        self.tables = Tables()

    async def __aenter__(self) -> Self:
        self.database.units_opened += 1
        self.tables = self.database.committed.copy()
        self.inbox = FakeInbox(self.tables)
        self.purchases = FakePurchaseRepository(self.tables)
        self.entitlements = FakeEntitlementRepository(self.tables)
        self.admin_actions = FakeAdminActionRepository(self.tables)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Whatever was not committed is dropped with the copy."""

    async def commit(self) -> None:
        self.database.committed = self.tables.copy()


class FakeOwnershipCache:
    """Remembers answers per query and which users were invalidated."""

    def __init__(self) -> None:
        self.answers: dict[OwnershipQuery, Ownership] = {}
        self.invalidated: list[str] = []

    async def lookup(self, queries: Sequence[OwnershipQuery]) -> CacheLookup:
        known = {q: self.answers[q] for q in queries if q in self.answers}
        return CacheLookup(known=known, generations={q.user_id: "0" for q in queries})

    async def remember(self, lookup: CacheLookup, answers: Mapping[OwnershipQuery, Ownership]) -> None:
        self.answers.update(answers)

    async def invalidate_users(self, user_ids: Sequence[str], committed: CommittedAnswers | None = None) -> None:
        for user_id in user_ids:
            await self.invalidate_user(user_id)

    def epoch(self) -> int:
        return 0

    async def invalidate_user(self, user_id: str) -> None:
        self.invalidated.append(user_id)
        self.answers = {q: a for q, a in self.answers.items() if q.user_id != user_id}
