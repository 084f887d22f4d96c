"""The unit of work: one transaction per use case, rolled back unless committed.

On commit it writes the events its aggregates recorded to the outbox first, so a state change
and the message announcing it commit together or not at all.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from paygrant.db import utcnow
from paygrant.sql_unit_of_work import SqlUnitOfWork
from payment_service.adapters.orm import metadata
from payment_service.adapters.outbox_repository import SqlOutboxRepository
from payment_service.adapters.repository import SqlCatalogRepository, SqlCheckoutRepository, SqlPaymentRepository
from payment_service.domain.errors import AlreadyRecorded
from payment_service.domain.events import PaymentEvent
from payment_service.service_layer.repositories import (
    CatalogRepository,
    CheckoutRepository,
    OutboxRepository,
    PaymentRepository,
)

# The unique facts use cases expect a concurrent request to win; any other violation is a bug and passes through.
EXPECTED_RACES: dict[str, Callable[[], Exception]] = {
    "uq_payments_qpay_payment_id": AlreadyRecorded,
    "uq_checkout_sessions_idempotency_key": AlreadyRecorded,
    "uq_refunds_idempotency_key": AlreadyRecorded,
    "pk_products": AlreadyRecorded,
}


class AbstractUnitOfWork(abc.ABC):
    """The repositories of one transaction; leaving without commit() rolls back."""

    catalog: CatalogRepository
    checkouts: CheckoutRepository
    payments: PaymentRepository
    outbox: OutboxRepository

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.rollback()

    async def commit(self) -> None:
        """Stages the events the aggregates recorded as outbox messages, then commits everything at once."""
        now = utcnow()
        for event in self.collect_new_events():
            self.outbox.add(event, now)
        await self._commit()

    def collect_new_events(self) -> Iterator[PaymentEvent]:
        """Takes the events recorded by every session this unit of work has seen."""
        for checkout in self.checkouts.seen:
            while checkout.events:
                yield checkout.events.pop(0)

    @abc.abstractmethod
    async def _commit(self) -> None: ...

    @abc.abstractmethod
    async def rollback(self) -> None:
        """Undoes whatever was not committed; a no-op after commit()."""


UnitOfWorkFactory = Callable[[], AbstractUnitOfWork]


class UnitOfWork(SqlUnitOfWork, AbstractUnitOfWork):
    """A unit of work over one SQLAlchemy session; `on_outbox_commit` runs after a commit that wrote outbox rows."""

    metadata = metadata
    expected_races = EXPECTED_RACES

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], on_outbox_commit: Callable[[], None] | None = None
    ) -> None:
        super().__init__(sessions)
        self._on_outbox_commit = on_outbox_commit

    def make_repositories(self, session: AsyncSession) -> None:
        """The payment service's repositories over `session`."""
        self.catalog = SqlCatalogRepository(session)
        self.checkouts = SqlCheckoutRepository(session)
        self.payments = SqlPaymentRepository(session)
        self.outbox = SqlOutboxRepository(session)

    async def _commit(self) -> None:
        await self.commit_session()
        if self.outbox.added and self._on_outbox_commit is not None:
            self._on_outbox_commit()
        self.outbox.added = 0
