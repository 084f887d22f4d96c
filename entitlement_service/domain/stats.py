"""Purchase statistics: what a report over a time range asks for and what it answers, per period and currency."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from entitlement_service.domain.errors import EntitlementServiceError
from entitlement_service.domain.purchase import ItemRef, Source

# Sums are sent as int64; a period's sum past this cannot be answered.
MAX_SUM = 2**63 - 1


class Granularity(enum.StrEnum):
    """The length of a statistics period: a calendar day or month, in UTC."""

    DAY = "day"
    MONTH = "month"


class SumOutOfRange(EntitlementServiceError):
    """A period's sum of amounts does not fit in an int64; a narrower query (a kind, a day) may."""


@dataclass(frozen=True)
class StatsQuery:
    """Purchases made in [start, end), in periods of `granularity`, of one kind or all (None)."""

    start: dt.datetime
    end: dt.datetime
    granularity: Granularity
    kind: str | None
    top_items: int


@dataclass(frozen=True)
class Tally:
    """Revenue (sum of amounts in minor units) and number of a group of purchases."""

    amount: int
    count: int

    def __post_init__(self) -> None:
        if self.amount > MAX_SUM or self.count > MAX_SUM:
            raise SumOutOfRange(f"a sum of amounts ({self.amount}) is past int64; ask for a narrower range or kind")


@dataclass(frozen=True)
class PeriodStats:
    """Everything bought in one period in one currency; each list is largest amount first."""

    period_start: dt.datetime
    currency: str
    purchases: Tally
    refunds: Tally
    by_kind: tuple[tuple[str, Tally], ...]
    by_source: tuple[tuple[Source, Tally], ...]
    top_items: tuple[tuple[ItemRef, Tally], ...]
