"""Purchase statistics computed by the database in one statement, the same on PostgreSQL and SQLite.

One scan of the range groups purchases finely (period, currency, item, source, status) into a CTE;
four small aggregates over it (totals with refunds, by kind, by source, top items ranked with
ROW_NUMBER) come back as one UNION ALL, each row tagged with its section. One statement, so
every section counts the same purchases even while new ones arrive. Only aggregates reach Python.

Periods are UTC days or months on both databases: PostgreSQL truncates the instant seen in UTC;
on SQLite, UTCDateTime stores UTC text 'YYYY-MM-DD HH:MM:SS.ffffff', which strftime truncates into
that same format, so the period reads back through UTCDateTime like any stored time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Executable,
    Integer,
    and_,
    case,
    func,
    literal_column,
    null,
    select,
    text,
    type_coerce,
    union_all,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from entitlement_service.adapters.orm import purchases
from entitlement_service.domain.purchase import ItemRef, PurchaseStatus, Source
from entitlement_service.domain.stats import Granularity, PeriodStats, StatsQuery, SumOutOfRange, Tally
from paygrant.db import UTCDateTime

# What a tally is of: a kind, a source or an item.
Name = TypeVar("Name", str, Source, ItemRef)

_PG_UNITS = {Granularity.DAY: "day", Granularity.MONTH: "month"}
_SQLITE_FORMATS = {Granularity.DAY: "%Y-%m-%d 00:00:00.000000", Granularity.MONTH: "%Y-%m-01 00:00:00.000000"}


def period_start(column: ColumnElement[dt.datetime], granularity: Granularity, dialect: str) -> ColumnElement[Any]:
    """The first instant (UTC) of the day or month holding `column`, as a UTCDateTime."""
    # Literals, not bound parameters: PostgreSQL accepts GROUP BY of an expression only when it is the selected text.
    if dialect == "sqlite":
        truncated = func.strftime(literal_column(f"'{_SQLITE_FORMATS[granularity]}'"), column)
    else:
        in_utc = column.op("AT TIME ZONE")(literal_column("'UTC'"))
        truncated = func.date_trunc(literal_column(f"'{_PG_UNITS[granularity]}'"), in_utc)
    return type_coerce(truncated, UTCDateTime)


class SqlPurchaseStats:
    """Statistics of purchases, read in the one session given."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def periods(self, query: StatsQuery) -> list[PeriodStats]:
        """One entry per (period, currency) with purchases, oldest first; SumOutOfRange past int64."""
        dialect = self._session.get_bind().dialect.name
        if dialect == "postgresql":
            # The planner's guess of a million groups turns JIT on, whose compiling cost half of the answer's
            # time over a million purchases (3.1 of 5.9 s, bench.purchase_stats); this transaction only.
            await self._session.execute(text("SET LOCAL jit = off"))
        statement = _statement(query, dialect)
        try:
            rows = (await self._session.execute(statement)).all()
        except OperationalError as error:
            # SQLite's sum() refuses to overflow (PostgreSQL sums into numeric, checked by Tally).
            if "integer overflow" in str(error.orig):
                raise SumOutOfRange("a sum of amounts is past int64; ask for a narrower range or kind") from error
            raise
        return _assemble(rows)


def _statement(query: StatsQuery, dialect: str) -> Executable:
    p = purchases.c
    period = period_start(p.purchased_at, query.granularity, dialect)
    chosen = [p.purchased_at >= query.start, p.purchased_at < query.end]
    if query.kind is not None:
        chosen.append(p.item_kind == query.kind)
    fine = (
        select(
            period.label("period"),
            p.currency,
            p.item_kind,
            p.item_id,
            p.source,
            p.status,
            func.sum(p.amount).label("amount"),
            func.count().label("n"),
        )
        .where(and_(*chosen))
        .group_by(period, p.currency, p.item_kind, p.item_id, p.source, p.status)
        .cte("fine")
    )
    f = fine.c
    amount, count = func.sum(f.amount), func.sum(f.n)
    revoked = f.status == PurchaseStatus.REVOKED
    zero = literal_column("0", Integer)

    totals = select(
        *_heading("total", f),
        amount.label("amount"),
        count.label("n"),
        func.sum(case((revoked, f.amount), else_=0)).label("refund_amount"),
        func.sum(case((revoked, f.n), else_=0)).label("refund_n"),
    ).group_by(f.period, f.currency)
    by_kind = select(*_heading("kind", f, kind=f.item_kind), amount, count, zero, zero).group_by(
        f.period, f.currency, f.item_kind
    )
    by_source = select(*_heading("source", f, source=f.source), amount, count, zero, zero).group_by(
        f.period, f.currency, f.source
    )
    ranked = (
        select(
            f.period,
            f.currency,
            f.item_kind,
            f.item_id,
            amount.label("amount"),
            count.label("n"),
            func.row_number()
            .over(
                partition_by=(f.period, f.currency),
                order_by=(amount.desc(), count.desc(), f.item_kind, f.item_id),
            )
            .label("place"),
        )
        .group_by(f.period, f.currency, f.item_kind, f.item_id)
        .subquery("ranked")
    )
    r = ranked.c
    top = select(*_heading("item", r, kind=r.item_kind, item_id=r.item_id), r.amount, r.n, zero, zero).where(
        r.place <= query.top_items
    )
    return union_all(totals, by_kind, by_source, top)


def _heading(section: str, columns: Any, *, kind: Any = None, item_id: Any = None, source: Any = None) -> list[Any]:
    """The columns that say what a row of the union is about; NULL where its section has no such thing."""
    named = {"kind": kind, "item_id": item_id, "source": source}
    about = [null().label(name) if value is None else value.label(name) for name, value in named.items()]
    return [literal_column(f"'{section}'").label("section"), columns.period, columns.currency, *about]


@dataclass
class _Period:
    """The rows of one (period, currency) as they arrive, in any order."""

    totals: tuple[Tally, Tally] | None = None
    kinds: list[tuple[str, Tally]] = field(default_factory=list)
    sources: list[tuple[Source, Tally]] = field(default_factory=list)
    items: list[tuple[ItemRef, Tally]] = field(default_factory=list)


def _assemble(rows: Iterable[Sequence[Any]]) -> list[PeriodStats]:
    periods: dict[tuple[dt.datetime, str], _Period] = {}
    for section, period, currency, kind, item_id, source, amount, count, refund_amount, refund_count in rows:
        entry = periods.setdefault((period, currency), _Period())
        tally = Tally(int(amount), int(count))
        if section == "total":
            entry.totals = (tally, Tally(int(refund_amount), int(refund_count)))
        elif section == "kind":
            entry.kinds.append((kind, tally))
        elif section == "source":
            entry.sources.append((Source(source), tally))
        else:
            entry.items.append((ItemRef(kind, item_id), tally))
    return [
        PeriodStats(
            period_start=period,
            currency=currency,
            purchases=entry.totals[0],
            refunds=entry.totals[1],
            by_kind=_largest_first(entry.kinds),
            by_source=_largest_first(entry.sources),
            top_items=_largest_first(entry.items),
        )
        for (period, currency), entry in sorted(periods.items())
        if entry.totals is not None  # every period with purchases has its totals row
    ]


def _largest_first(tallies: list[tuple[Name, Tally]]) -> tuple[tuple[Name, Tally], ...]:
    return tuple(sorted(tallies, key=lambda named: (-named[1].amount, -named[1].count, named[0])))
