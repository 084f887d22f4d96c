"""One database transaction per use case: rolled back unless the use case commits it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from entitlement_service.adapters.entitlement_repository import EntitlementRepository
from entitlement_service.adapters.repository import PurchaseRepository


class UnitOfWork:
    """Opens a session on enter and gives the repositories over it; leaving without commit() rolls back."""

    purchases: PurchaseRepository
    entitlements: EntitlementRepository

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> Self:
        self._session = self._sessions()
        self.purchases = PurchaseRepository(self._session)
        self.entitlements = EntitlementRepository(self._session)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session, self._session = self._require_session(), None
        try:
            await session.rollback()  # a no-op after commit(); undoes everything otherwise
        finally:
            await session.close()

    async def commit(self) -> None:
        """Makes everything done in this unit of work durable."""
        await self._require_session().commit()

    def _require_session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is used outside `async with`")
        return self._session
