"""Every purchase of a time range, batch after batch, each read in a short transaction of its own.

No transaction stays open while a batch waits for the caller to take it: a slow reader holds no
snapshot and no connection, and memory stays at one batch. Purchases recorded meanwhile appear
when their key comes after the batches already sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from entitlement_service.domain.purchase_stream import PurchaseKey, StreamedPurchase, StreamQuery
from entitlement_service.service_layer.unit_of_work import UnitOfWorkFactory


async def stream_purchases(query: StreamQuery, uow_factory: UnitOfWorkFactory) -> AsyncIterator[list[StreamedPurchase]]:
    """Non-empty batches of up to batch_size purchases in key order; ends after the first short batch."""
    after = query.after
    while True:
        async with uow_factory() as uow:
            batch = await uow.purchase_stream.batch(query.start, query.end, after, query.batch_size, query.user_id)
        if batch:
            yield batch
        if len(batch) < query.batch_size:
            return
        after = PurchaseKey.of(batch[-1])
