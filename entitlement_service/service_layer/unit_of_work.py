"""One database transaction per use case: rolled back unless the use case commits it."""

from __future__ import annotations

import abc
from collections.abc import Callable
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession

from entitlement_service.adapters.admin_action_repository import SqlAdminActionRepository
from entitlement_service.adapters.entitlement_repository import SqlEntitlementRepository
from entitlement_service.adapters.inbox import SqlInbox
from entitlement_service.adapters.orm import metadata
from entitlement_service.adapters.purchase_repository import SqlPurchaseRepository
from entitlement_service.adapters.purchase_stats import SqlPurchaseStats
from entitlement_service.adapters.purchase_stream import SqlPurchaseStream
from entitlement_service.service_layer.repositories import (
    AdminActionRepository,
    EntitlementRepository,
    InboxRepository,
    PurchaseRepository,
    PurchaseStatsRepository,
    PurchaseStreamRepository,
)
from paygrant.sql_unit_of_work import SqlUnitOfWork


class AbstractUnitOfWork(abc.ABC):
    """The repositories of one transaction; leaving `async with` without commit() undoes everything."""

    inbox: InboxRepository
    purchases: PurchaseRepository
    entitlements: EntitlementRepository
    purchase_stats: PurchaseStatsRepository
    purchase_stream: PurchaseStreamRepository
    admin_actions: AdminActionRepository

    @abc.abstractmethod
    async def __aenter__(self) -> Self:
        """Begins the transaction and makes the repositories."""

    @abc.abstractmethod
    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Ends the transaction, rolling back whatever was not committed."""

    @abc.abstractmethod
    async def commit(self) -> None:
        """Makes everything done in this unit of work durable."""


UnitOfWorkFactory = Callable[[], AbstractUnitOfWork]


class UnitOfWork(SqlUnitOfWork, AbstractUnitOfWork):
    """A unit of work over one SQLAlchemy session."""

    metadata = metadata

    def make_repositories(self, session: AsyncSession) -> None:
        """The entitlement service's repositories over `session`."""
        self.inbox = SqlInbox(session)
        self.purchases = SqlPurchaseRepository(session)
        self.entitlements = SqlEntitlementRepository(session)
        self.purchase_stats = SqlPurchaseStats(session)
        self.purchase_stream = SqlPurchaseStream(session)
        self.admin_actions = SqlAdminActionRepository(session)

    async def commit(self) -> None:
        """Makes everything done in this unit of work durable."""
        await self.commit_session()
