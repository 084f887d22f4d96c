"""Database plumbing both services share: opening a migrated database, UTC timestamps, and
the one translation of driver errors (a unique violation is recognised by its constraint's name).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Constraint,
    DateTime,
    MetaData,
    PrimaryKeyConstraint,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.schema import ColumnCollectionConstraint
from sqlalchemy.types import TypeDecorator

# One naming rule for constraints in both services, so a violation names a constraint the code knows.
NAMING_CONVENTION = {
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """The current time, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; paygrant stores only aware UTC times")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def is_sqlite(url: str) -> bool:
    """True for the embedded profile's database."""
    return make_url(url).get_backend_name() == "sqlite"


# A pooled PostgreSQL connection idle for longer than this is pinged before it is used again.
PING_AFTER_IDLE_SECONDS = 1.0


def create_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys and a busy timeout, and its folder.

    Bound parameters are hidden from error messages, so no logged traceback carries stored values.
    """
    if not is_sqlite(url):
        return _ping_when_idle(create_async_engine(url, hide_parameters=True))
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


def create_autocommit_engine(url: str, engine: AsyncEngine, *, wait_for_flush: bool = True) -> AsyncEngine:
    """The engine of Database.autocommit (and, not waiting for the flush, of Database.async_commit_sessions); on
    SQLite, `engine` itself.

    A transaction on SQLite costs no round trip, and switching a pooled SQLite connection to
    autocommit and back at every use is a step that a cancelled caller can interrupt, leaving the
    connection outside the pool.
    """
    if is_sqlite(url):
        return engine
    server_settings = {} if wait_for_flush else {"synchronous_commit": "off"}
    autocommit = create_async_engine(
        url,
        isolation_level="AUTOCOMMIT",
        pool_size=2,
        hide_parameters=True,
        connect_args={"server_settings": server_settings},
    )
    return _ping_when_idle(autocommit)


def _ping_when_idle(engine: AsyncEngine) -> AsyncEngine:
    """Pings a pooled connection before use only when it has been idle for PING_AFTER_IDLE_SECONDS.

    SQLAlchemy's pool_pre_ping pings at every checkout: a round trip per transaction, which on a
    busy service is a tenth of an ownership change's time and finds nothing (a connection used a
    moment ago is alive). A connection that idled may have outlived its server (a restart, a
    failover); it is pinged, and replaced when that fails. A connection that dies in use fails its
    statement as an outage (UNAVAILABLE, retried by the caller), and SQLAlchemy then replaces every
    connection of the pool opened before the failure.
    """

    @event.listens_for(engine.sync_engine, "connect")
    @event.listens_for(engine.sync_engine, "checkin")
    def _note_use(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_LAST_USED] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(_LAST_USED, 0.0) < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # whatever the driver raises, this connection cannot serve
            raise DisconnectionError(f"a pooled connection failed its ping: {error!r}") from error

    return engine


_LAST_USED = "paygrant_last_used"


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded values readable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> bool:
    """True when the database answers a trivial query."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:  # any driver failure means "not reachable"; health reports it
        return False
    return True


def alembic_config(migrations_dir: Path, url: str) -> Config:
    """An Alembic config for one service's migration history, built in code (no .ini file)."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade_to_head(engine: AsyncEngine, migrations_dir: Path) -> None:
    """Applies every migration of one service's history that the database lacks."""
    config = alembic_config(migrations_dir, engine.url.render_as_string(hide_password=False))

    def run(connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            # Replicas starting together must not race to create the same tables.
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('paygrant schema upgrade'))"))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as conn:
        await conn.run_sync(run)


@dataclass(frozen=True)
class Schema:
    """A service's tables: their metadata, the Alembic history that builds them, and the ORM mapping."""

    metadata: MetaData
    migrations: Path
    map_models: Callable[[], None] = lambda: None


@dataclass(frozen=True)
class Database:
    """An open, migrated database: its engine, the sessions units of work run in, and `autocommit`.

    `autocommit` is for single statements that need no transaction around them, such as ownership
    checks and the relay's claims: on PostgreSQL each statement commits by itself (no BEGIN and
    COMMIT round trips), on connections of their own; SQLite, where a transaction costs no round
    trip, runs them on `engine`. `autocommit_sessions` are ORM sessions over it, to be committed
    after each statement as any session (on PostgreSQL that commits nothing: the statement did). A
    statement that finds its connection dead after a database restart fails with
    `connection_invalidated` set, and may be retried once.

    `async_commit_sessions` are autocommit sessions whose commits do not wait for PostgreSQL to
    flush its write-ahead log to disk (synchronous_commit off; a flush is most of a small write's
    time): for writes that a crash of the database may lose without harm, such as a relay's leases
    and sent marks, whose loss only has rows delivered again. A crash loses the newest such commits
    only, never one before a commit that survives.
    """

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    autocommit: AsyncEngine
    autocommit_sessions: async_sessionmaker[AsyncSession]
    async_commit_sessions: async_sessionmaker[AsyncSession]


@contextlib.asynccontextmanager
async def open_database(url: str, schema: Schema, *, migrate: bool = True) -> AsyncIterator[Database]:
    """The one way to open a service's database: map the models, migrate, make sessions; disposed on exit."""
    schema.map_models()
    engine = create_engine(url)
    autocommit = create_autocommit_engine(url, engine)
    async_commit = create_autocommit_engine(url, engine, wait_for_flush=False)
    try:
        if migrate:
            await upgrade_to_head(engine, schema.migrations)
        sessions, autocommit_sessions = session_factory(engine), session_factory(autocommit)
        yield Database(engine, sessions, autocommit, autocommit_sessions, session_factory(async_commit))
    finally:
        await async_commit.dispose()
        await autocommit.dispose()
        await engine.dispose()


def violated_constraint(error: IntegrityError, metadata: MetaData) -> str | None:
    """The name of the unique or primary-key constraint `error` violated, or None for any other violation.

    PostgreSQL names the constraint; SQLite names only its columns, which are looked up in `metadata`.
    """
    cause = error.orig
    if getattr(cause, "sqlstate", None) == "23505":
        name = getattr(getattr(cause, "__cause__", None), "constraint_name", None)
        return name if isinstance(name, str) else None
    if getattr(cause, "sqlite_errorname", None) not in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
        return None
    # "UNIQUE constraint failed: table.a, table.b"
    columns = str(cause).partition(":")[2].split(",")
    reported = [tuple(column.strip().split(".", 1)) for column in columns]
    for table in metadata.tables.values():
        for constraint in table.constraints:
            if _is_unique(constraint) and [(table.name, column.name) for column in constraint.columns] == reported:
                return str(constraint.name)
    return None


def _is_unique(constraint: Constraint) -> TypeGuard[ColumnCollectionConstraint]:
    return isinstance(constraint, (UniqueConstraint, PrimaryKeyConstraint)) and bool(constraint.name)


@contextlib.contextmanager
def unique_violations(metadata: MetaData, errors: Mapping[str, Callable[[], Exception]]) -> Iterator[None]:
    """Turns a unique violation of a constraint named in `errors` into the error it maps to.

    Every other database error passes through unchanged: a NOT NULL or foreign-key violation is a
    bug to be seen, never mistaken for "somebody recorded this first".
    """
    try:
        yield
    except IntegrityError as error:
        make_error = errors.get(violated_constraint(error, metadata) or "")
        if make_error is None:
            raise
        raise make_error() from error


# SQLSTATEs of a PostgreSQL server that cannot serve now: a lost or refused connection (class 08),
# shutting down or starting up (57P01-57P03), or out of connection slots (53300).
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")
# SQLite result codes of a database file that is locked by another writer or cannot be opened, read or written.
_UNAVAILABLE_SQLITE_CODES = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR")


def is_unavailable(error: BaseException) -> bool:
    """True when `error` means the database cannot serve now: retrying later may succeed.

    Decided by what the driver reports, never by exception class alone: SQLAlchemy wraps a refused
    connection, a server shutting down and a syntax error in the same classes, and only the first
    two are outages. Follows SQLAlchemy's `orig` and explicit causes down to the driver's error.
    """
    return any(_names_an_outage(cause) for cause in _causes(error))


def _names_an_outage(error: BaseException) -> bool:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, (PoolTimeoutError, DisconnectionError)):  # pool exhausted, or a pooled connection died
        return True
    if isinstance(error, OSError):  # refused, reset, unreachable, timed out (TimeoutError is an OSError)
        return True
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
        return True
    sqlite_code = getattr(error, "sqlite_errorname", None)
    return isinstance(sqlite_code, str) and sqlite_code.startswith(_UNAVAILABLE_SQLITE_CODES)


def _causes(error: BaseException) -> Iterator[BaseException]:
    """`error`, the driver error SQLAlchemy wrapped, and what each was explicitly raised from."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and len(seen) < 16:
        seen.add(id(current))
        yield current
        wrapped = current.orig if isinstance(current, DBAPIError) else None
        # An SQLAlchemy error raised while handling another (a failed rollback after a lost connection)
        # is about that other error, so its context counts too.
        context = current.__context__ if isinstance(current, SQLAlchemyError) else None
        current = wrapped or current.__cause__ or context
