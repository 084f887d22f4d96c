"""Statements over many rows: INSERT … ON CONFLICT in the session's dialect, key lists, keys cut into chunks.

A batch of payment events reads and writes its rows a statement per kind, not a statement per
row; a statement binds at most CHUNK keys, which stays far below what a driver can bind (32,767
parameters for asyncpg, 32,766 for SQLite) whatever a batch holds. On PostgreSQL a list of keys
travels as one array parameter (`= ANY(:keys)`), so the statement's text, and with it asyncpg's
prepared statement, is the same whatever the number of keys (`IN (...)` is a new statement for
each length).

Key lists are bound parameters, so a repository builds each statement once per dialect
(functools.cache) and passes the keys when it runs it: building a statement and computing its
cache key again on every call cost a tenth of a millisecond each, a visible part of a payment's
way to ownership.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import TypeVar

from sqlalchemy import ColumnElement, String, Table, any_, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

CHUNK = 1000

Key = TypeVar("Key")


def chunks(keys: Iterable[Key], size: int = CHUNK) -> Iterator[list[Key]]:
    """`keys` in lists of at most `size`, in order."""
    iterator = iter(keys)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def dialect_of(session: AsyncSession) -> str:
    """The name of the session's database dialect ("postgresql", "sqlite"): the key of statements built once."""
    return session.get_bind().dialect.name


def insert_on_conflict(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `table` that can say ON CONFLICT, in `dialect` (PostgreSQL or SQLite)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def one_of(dialect: str, column: ColumnElement[str], parameter: str) -> ColumnElement[bool]:
    """`column` is one of the keys bound to `parameter`: one array on PostgreSQL, an expanding `IN (...)` elsewhere."""
    if dialect == "postgresql":
        return column == any_(bindparam(parameter, type_=postgresql.ARRAY(String)))
    return column.in_(bindparam(parameter, expanding=True))
