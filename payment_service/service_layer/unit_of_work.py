"""The unit of work: one transaction per use case, rolled back unless committed."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from payment_service.adapters.repository import (
    CatalogRepository,
    CheckoutRepository,
    OutboxRepository,
    PaymentRepository,
)
from payment_service.domain.errors import AlreadyRecorded


class UnitOfWork:
    """Gives a use case its repositories over one database transaction."""

    catalog: CatalogRepository
    checkouts: CheckoutRepository
    payments: PaymentRepository
    outbox: OutboxRepository

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], on_outbox_commit: Callable[[], None] | None = None
    ) -> None:
        self._sessions = sessions
        self._on_outbox_commit = on_outbox_commit
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._sessions()
        self.catalog = CatalogRepository(self._session)
        self.checkouts = CheckoutRepository(self._session)
        self.payments = PaymentRepository(self._session)
        self.outbox = OutboxRepository(self._session)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._session is not None
        # close() rolls back whatever was not committed, and leaves loaded objects readable.
        await self._session.close()
        self._session = None

    async def commit(self) -> None:
        """Commits; a unique-constraint violation becomes AlreadyRecorded."""
        assert self._session is not None
        try:
            await self._session.commit()
        except IntegrityError as error:
            await self._session.rollback()
            raise AlreadyRecorded() from error
        if self.outbox.added and self._on_outbox_commit is not None:
            self._on_outbox_commit()
        self.outbox.added = 0

    async def flush(self) -> None:
        """Sends staged writes now, so constraint violations surface before more work is done."""
        assert self._session is not None
        try:
            await self._session.flush()
        except IntegrityError as error:
            await self._session.rollback()
            raise AlreadyRecorded() from error


UnitOfWorkFactory = Callable[[], UnitOfWork]
