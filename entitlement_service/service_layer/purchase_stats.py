"""Revenue and counts per period and currency, computed by the database in one read."""

from __future__ import annotations

from entitlement_service.domain.stats import PeriodStats, StatsQuery
from entitlement_service.service_layer.unit_of_work import UnitOfWorkFactory


async def purchase_stats(query: StatsQuery, uow_factory: UnitOfWorkFactory) -> list[PeriodStats]:
    """One entry per (period, currency) with purchases, oldest first; SumOutOfRange when a sum passes int64."""
    async with uow_factory() as uow:
        return await uow.purchase_stats.periods(query)
