"""Ownership answers read straight from the entitlements table, outside any unit of work.

A check needs one SELECT and nothing else, so it runs on Database.autocommit (no BEGIN, no
COMMIT: no round trip but the query's own), and concurrent checks share one query
(paygrant.coalescing). On PostgreSQL the keys travel as three arrays joined through `unnest`, so
the statement text, and with it asyncpg's prepared statement, is the same for any number of keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Executable, bindparam, select, text, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import Text

from entitlement_service.adapters.orm import entitlements
from entitlement_service.domain.entitlement import NOT_OWNED, Ownership, OwnershipQuery
from entitlement_service.domain.purchase import ItemRef
from paygrant.coalescing import Coalescer
from paygrant.metrics import OWNERSHIP_ANSWERS

_c = entitlements.c
_FROM_DATABASE = OWNERSHIP_ANSWERS.labels("database")
ANSWER_COLUMNS = (_c.user_id, _c.item_kind, _c.item_id, _c.purchased_at, _c.source)

_UNNEST = text(
    "SELECT e.user_id, e.item_kind, e.item_id, e.purchased_at, e.source"
    " FROM unnest(:users, :kinds, :ids) AS q(user_id, item_kind, item_id)"
    " JOIN entitlements AS e USING (user_id, item_kind, item_id)"
).bindparams(
    bindparam("users", type_=ARRAY(Text)), bindparam("kinds", type_=ARRAY(Text)), bindparam("ids", type_=ARRAY(Text))
)
POSTGRES_ANSWERS = _UNNEST.columns(*ANSWER_COLUMNS)


SQL_ANSWERS = select(*ANSWER_COLUMNS).where(
    tuple_(_c.user_id, _c.item_kind, _c.item_id).in_(bindparam("keys", expanding=True))
)


def answers_statement(queries: Sequence[OwnershipQuery], dialect: str) -> tuple[Executable, dict[str, Any]]:
    """One SELECT of the entitlements that answer `queries` (a row per owned item), and its parameters.

    The statements are built once, so SQLAlchemy's compiled cache finds them without computing a key.
    """
    if dialect == "postgresql":
        users, kinds, ids = [q.user_id for q in queries], [q.item.kind for q in queries], [q.item.id for q in queries]
        return POSTGRES_ANSWERS, {"users": users, "kinds": kinds, "ids": ids}
    return SQL_ANSWERS, {"keys": list({(q.user_id, q.item.kind, q.item.id) for q in queries})}


def answers_from(queries: Iterable[OwnershipQuery], rows: Iterable[Sequence[Any]]) -> dict[OwnershipQuery, Ownership]:
    """The answer to each query, from the rows `answers_statement` selected."""
    found = {
        OwnershipQuery(user_id, ItemRef(kind, item_id)): Ownership(purchased_at, source)
        for user_id, kind, item_id, purchased_at, source in rows
    }
    return {q: found.get(q, NOT_OWNED) for q in queries}


class SqlOwnershipReader:
    """Reads ownership on Database.autocommit, one query for every check waiting at once (up to 1,000 keys).

    A read that finds its connection dead (after a database restart) is retried once on a new one.
    """

    def __init__(self, reads: AsyncEngine, max_queries: int = 2) -> None:
        self._engine = reads
        self._dialect = reads.dialect.name
        self._coalescer = Coalescer(self._read, max_batch=1000, max_fetches=max_queries)

    async def __call__(self, queries: Sequence[OwnershipQuery]) -> dict[OwnershipQuery, Ownership]:
        """The answer to each query, read after the call began."""
        answers = await self._coalescer.get(queries)
        _FROM_DATABASE.inc(len(queries))
        return answers

    async def _read(self, queries: list[OwnershipQuery]) -> dict[OwnershipQuery, Ownership]:
        try:
            return await self._read_once(queries)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            return await self._read_once(queries)  # the connection had died; the pool made a new one

    async def _read_once(self, queries: list[OwnershipQuery]) -> dict[OwnershipQuery, Ownership]:
        async with self._engine.connect() as connection:
            rows = await connection.execute(*answers_statement(queries, self._dialect))
            return answers_from(queries, rows)
