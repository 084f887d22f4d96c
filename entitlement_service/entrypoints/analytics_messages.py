"""The analytics RPCs' messages: PeriodStats and PurchaseBatch."""

from __future__ import annotations

from collections.abc import Sequence

from entitlement_service.domain.purchase_stream import PurchaseKey, StreamedPurchase
from entitlement_service.domain.stats import Granularity, PeriodStats, Tally
from entitlement_service.entrypoints.purchase_messages import SOURCES, STATUSES
from paygrant.common.v1 import common_pb2
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.timestamps import timestamp_fields, to_timestamp

GRANULARITIES = {pb.GRANULARITY_DAY: Granularity.DAY, pb.GRANULARITY_MONTH: Granularity.MONTH}


def batch_message(batch: Sequence[StreamedPurchase]) -> pb.PurchaseBatch:
    """A non-empty batch of purchases, with the key to resume after its last one.

    Each purchase is built in place in the batch (`add`), sub-messages from dicts: a message built apart
    and then put in the batch is copied, which would double the cost of the millions a stream sends.
    """
    message = pb.PurchaseBatch(last_key=PurchaseKey.of(batch[-1]).token())
    add = message.purchases.add
    for p in batch:
        add(
            purchase_id=p.id,
            user_id=p.user_id,
            item={"kind": p.item_kind, "id": p.item_id},
            source=SOURCES[p.source],
            status=STATUSES[p.status],
            payment_id=p.payment_id or "",
            amount=p.amount,
            currency=p.currency,
            purchased_at=timestamp_fields(p.purchased_at),
            revoked_at=timestamp_fields(p.revoked_at),
            reason=p.reason or "",
            actor=p.actor or "",
            double_purchase=p.double_purchase,
            revoke_reason=p.revoke_reason or "",
            revoked_by=p.revoked_by or "",
        )
    return message


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
