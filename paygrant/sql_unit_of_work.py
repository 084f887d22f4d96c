"""The SQLAlchemy half both services' units of work share: one session per `async with`.

Leaving without commit closes the session, which rolls back; commit translates only the unique
races the service expects (by constraint name) and lets every other database error through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import ClassVar, Self

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from paygrant.db import unique_violations


class SqlUnitOfWork:
    """Subclasses name their `metadata` and `expected_races`, and make their repositories per session."""

    metadata: ClassVar[MetaData]
    # Constraint name -> the error a violation of it means (a concurrent request recorded it first).
    expected_races: ClassVar[Mapping[str, Callable[[], Exception]]] = {}

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None

    def make_repositories(self, session: AsyncSession) -> None:
        """Sets the repositories of one transaction as attributes."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        self._session = self._sessions()
        self.make_repositories(self._session)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session, self._session = self.session, None
        # close() rolls back whatever was not committed, and leaves loaded objects readable.
        await session.close()

    async def commit_session(self) -> None:
        """Commits; an expected unique race becomes its error, anything else passes through."""
        try:
            with unique_violations(self.metadata, self.expected_races):
                await self.session.commit()
        except BaseException:
            await self.session.rollback()
            raise

    async def rollback(self) -> None:
        """Undoes whatever was not committed."""
        await self.session.rollback()

    @property
    def session(self) -> AsyncSession:
        """The open session; only inside `async with`."""
        if self._session is None:
            raise RuntimeError("the unit of work is used outside `async with`")
        return self._session
