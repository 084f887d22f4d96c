"""Both services' streams of a time range, read over gRPC a batch at a time, and looked at a time group at a time.

A broken stream (UNAVAILABLE: a restart, a load balancer) is resumed after the last batch received, a few
times, as the contract allows. Memory stays at a batch per stream plus the group being merged.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Generic, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from paygrant.entitlement.v1 import entitlement_pb2
from paygrant.payment.v1 import payment_pb2
from paygrant.timestamps import to_timestamp
from paygrant_cli.reconcile.services import ReconcileFailed, Services, failure_line

BATCH_SIZE = 5_000
RESUMES = 3

# A Timestamp as a comparable pair (seconds, nanos): exact, and cheaper than a datetime.
TimeKey = tuple[int, int]
Item = TypeVar("Item")


def time_key(timestamp: Timestamp) -> TimeKey:
    """The instant as a comparable pair."""
    return timestamp.seconds, timestamp.nanos


async def payment_batches(
    services: Services, since: dt.datetime, until: dt.datetime, user_id: str, *, with_lines: bool = True
) -> AsyncIterator[Sequence[payment_pb2.Payment]]:
    """Every payment paid in [since, until) (of `user_id` when given), with its lines unless not asked, oldest
    first."""
    after = ""
    for attempt in range(RESUMES + 1):
        request = payment_pb2.StreamPaymentsRequest(
            start_time=to_timestamp(since),
            end_time=to_timestamp(until),
            after_key=after,
            batch_size=BATCH_SIZE,
            with_lines=with_lines,
            user_id=user_id,
        )
        try:
            async for batch in services.payments.StreamPayments(request):
                after = batch.last_key
                yield batch.payments
            return
        except grpc.aio.AioRpcError as error:
            if error.code() is not grpc.StatusCode.UNAVAILABLE or attempt == RESUMES:
                where = f"payment service at {services.payment_target}: StreamPayments"
                raise ReconcileFailed(failure_line(where, error)) from None
        await asyncio.sleep(0.5 * 2**attempt)


async def purchase_batches(
    services: Services, since: dt.datetime, until: dt.datetime, user_id: str
) -> AsyncIterator[Sequence[entitlement_pb2.Purchase]]:
    """Every purchase made in [since, until) (of `user_id` when given), oldest first."""
    after = ""
    for attempt in range(RESUMES + 1):
        request = entitlement_pb2.StreamPurchasesRequest(
            start_time=to_timestamp(since),
            end_time=to_timestamp(until),
            after_key=after,
            batch_size=BATCH_SIZE,
            user_id=user_id,
        )
        try:
            async for batch in services.entitlements.StreamPurchases(request):
                after = batch.last_key
                yield batch.purchases
            return
        except grpc.aio.AioRpcError as error:
            if error.code() is not grpc.StatusCode.UNAVAILABLE or attempt == RESUMES:
                where = f"entitlement service at {services.entitlement_target}: StreamPurchases"
                raise ReconcileFailed(failure_line(where, error)) from None
        await asyncio.sleep(0.5 * 2**attempt)


class TimeCursor(Generic[Item]):
    """The items of a stream of batches in time order, taken a time group (equal instants) at a time."""

    def __init__(self, batches: AsyncIterator[Sequence[Item]], time_of: Callable[[Item], TimeKey]) -> None:
        self._batches = batches
        self._time_of = time_of
        self._items: Sequence[Item] = ()
        self._next = 0
        self._ended = False
        self.read = 0

    async def head(self) -> TimeKey | None:
        """The instant of the next item, or None at the end."""
        while self._next == len(self._items):
            if self._ended:
                return None
            try:
                self._items = await anext(self._batches)
            except StopAsyncIteration:
                self._ended = True
                self._items = ()
            self._next = 0
            self.read += len(self._items)
        return self._time_of(self._items[self._next])

    async def take(self, at: TimeKey) -> list[Item]:
        """The next items whose instant is `at` (none when the next item is later)."""
        taken: list[Item] = []
        while await self.head() == at:
            items, start = self._items, self._next
            end = start
            while end < len(items) and self._time_of(items[end]) == at:
                end += 1
            taken.extend(items[start:end])
            self._next = end
        return taken
