"""The analytics RPCs' messages: PeriodStats and PurchaseBatch."""

from __future__ import annotations

from collections.abc import Sequence

from entitlement_service.domain.purchase import Purchase
from entitlement_service.domain.purchase_stream import PurchaseKey
from entitlement_service.domain.stats import Granularity, PeriodStats, Tally
from entitlement_service.entrypoints.purchase_messages import SOURCES, purchase_message
from paygrant.common.v1 import common_pb2
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.timestamps import to_timestamp

GRANULARITIES = {pb.GRANULARITY_DAY: Granularity.DAY, pb.GRANULARITY_MONTH: Granularity.MONTH}


def batch_message(batch: Sequence[Purchase]) -> pb.PurchaseBatch:
    """A non-empty batch of purchases, with the key to resume after its last one."""
    return pb.PurchaseBatch(
        purchases=[purchase_message(purchase) for purchase in batch], last_key=PurchaseKey.of(batch[-1]).token()
    )


def period_message(stats: PeriodStats) -> pb.PeriodStats:
    """The PeriodStats message of one period and currency."""
    return pb.PeriodStats(
        period_start=to_timestamp(stats.period_start),
        currency=stats.currency,
        purchases=_tally(stats.purchases),
        refunds=_tally(stats.refunds),
        by_kind=[pb.KindTally(kind=kind, tally=_tally(tally)) for kind, tally in stats.by_kind],
        by_source=[pb.SourceTally(source=SOURCES[source], tally=_tally(tally)) for source, tally in stats.by_source],
        top_items=[
            pb.ItemTally(item=common_pb2.ItemRef(kind=item.kind, id=item.id), tally=_tally(tally))
            for item, tally in stats.top_items
        ],
    )


def _tally(tally: Tally) -> pb.Tally:
    return pb.Tally(amount=tally.amount, count=tally.count)
