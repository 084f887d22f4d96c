"""Statements over many rows: INSERT … ON CONFLICT in the session's dialect, key lists, keys cut into chunks.

A batch of payment events reads and writes its rows a statement per kind, not a statement per
row; a statement binds at most CHUNK keys, which stays far below what a driver can bind (32,767
parameters for asyncpg, 32,766 for SQLite) whatever a batch holds. On PostgreSQL a list of keys
travels as one array parameter (`= ANY(:keys)`), so the statement's text, and with it asyncpg's
prepared statement, is the same whatever the number of keys (`IN (...)` is a new statement for
each length).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import TypeVar

from sqlalchemy import ColumnElement, String, Table, any_, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

CHUNK = 1000

Key = TypeVar("Key")


def chunks(keys: Iterable[Key], size: int = CHUNK) -> Iterator[list[Key]]:
    """`keys` in lists of at most `size`, in order."""
    iterator = iter(keys)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def insert_on_conflict(session: AsyncSession, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `table` that can say ON CONFLICT, for the session's database (PostgreSQL or SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def one_of(session: AsyncSession, column: ColumnElement[str], keys: list[str]) -> ColumnElement[bool]:
    """`column` is one of `keys`: one array parameter on PostgreSQL, `IN (...)` elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(keys, postgresql.ARRAY(String)))
    return column.in_(keys)
