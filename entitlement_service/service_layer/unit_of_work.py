"""One database transaction per use case: rolled back unless the use case commits it."""

from __future__ import annotations

import abc
from collections.abc import Callable
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from entitlement_service.adapters.entitlement_repository import SqlEntitlementRepository
from entitlement_service.adapters.inbox import SqlInbox
from entitlement_service.adapters.purchase_repository import SqlPurchaseRepository
from entitlement_service.service_layer.repositories import (
    EntitlementRepository,
    InboxRepository,
    PurchaseRepository,
)


class AbstractUnitOfWork(abc.ABC):
    """The repositories of one transaction; leaving `async with` without commit() undoes everything."""

    inbox: InboxRepository
    purchases: PurchaseRepository
    entitlements: EntitlementRepository

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


class UnitOfWork(AbstractUnitOfWork):
    """A unit of work over one SQLAlchemy session."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> Self:
        session = self._session = self._sessions()
        self.inbox = SqlInbox(session)
        self.purchases = SqlPurchaseRepository(session)
        self.entitlements = SqlEntitlementRepository(session)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session, self._session = self._require_session(), None
        # close() rolls back whatever was not committed, and leaves loaded objects readable.
        await session.close()

    async def commit(self) -> None:
        """Makes everything done in this unit of work durable."""
        await self._require_session().commit()

    def _require_session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is used outside `async with`")
        return self._session
