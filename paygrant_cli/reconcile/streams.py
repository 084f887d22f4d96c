"""Both services' streams of a time range, read over gRPC a batch at a time, and cut into windows of whole instants.

A broken stream (UNAVAILABLE: a restart, a load balancer) is resumed after the last batch received, a few
times, as the contract allows. Memory stays at a few batches per stream (read ahead, and the window matched).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
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
Other = TypeVar("Other")
Batch = TypeVar("Batch", payment_pb2.PaymentBatch, entitlement_pb2.PurchaseBatch)
PREFETCH = 2  # batches read ahead per stream


def time_key(timestamp: Timestamp) -> TimeKey:
    """The instant as a comparable pair."""
    return timestamp.seconds, timestamp.nanos


async def payment_batches(
    services: Services, since: dt.datetime, until: dt.datetime, user_id: str, *, with_lines: bool = True
) -> AsyncIterator[Sequence[payment_pb2.Payment]]:
    """Every payment paid in [since, until) (of `user_id` when given), with its lines unless not asked, oldest
    first."""

    def stream_after(after_key: str) -> AsyncIterator[payment_pb2.PaymentBatch]:
        request = payment_pb2.StreamPaymentsRequest(
            start_time=to_timestamp(since),
            end_time=to_timestamp(until),
            after_key=after_key,
            batch_size=BATCH_SIZE,
            with_lines=with_lines,
            user_id=user_id,
        )
        return services.payments.StreamPayments(request)  # type: ignore[no-any-return]

    where = f"payment service at {services.payment_target}: StreamPayments"
    async for batch in _resumed(stream_after, where):
        yield batch.payments


async def purchase_batches(
    services: Services, since: dt.datetime, until: dt.datetime, user_id: str
) -> AsyncIterator[Sequence[entitlement_pb2.Purchase]]:
    """Every purchase made in [since, until) (of `user_id` when given), oldest first."""

    def stream_after(after_key: str) -> AsyncIterator[entitlement_pb2.PurchaseBatch]:
        request = entitlement_pb2.StreamPurchasesRequest(
            start_time=to_timestamp(since),
            end_time=to_timestamp(until),
            after_key=after_key,
            batch_size=BATCH_SIZE,
            user_id=user_id,
        )
        return services.entitlements.StreamPurchases(request)  # type: ignore[no-any-return]

    where = f"entitlement service at {services.entitlement_target}: StreamPurchases"
    async for batch in _resumed(stream_after, where):
        yield batch.purchases


async def _resumed(stream_after: Callable[[str], AsyncIterator[Batch]], where: str) -> AsyncIterator[Batch]:
    """The batches of the stream `stream_after("")` opens; when it breaks with UNAVAILABLE it is opened again
    after the last batch's key, up to RESUMES times. ReconcileFailed, saying `where`, when it cannot go on."""
    after = ""
    for attempt in range(RESUMES + 1):
        try:
            async for batch in stream_after(after):
                after = batch.last_key
                yield batch
            return
        except grpc.aio.AioRpcError as error:
            if error.code() is not grpc.StatusCode.UNAVAILABLE or attempt == RESUMES:
                raise ReconcileFailed(failure_line(where, error)) from None
        await asyncio.sleep(0.5 * 2**attempt)


class TimeBuffer(Generic[Item]):
    """The batches of one stream in time order, buffered ahead by a task of their own (so the service keeps
    producing while reconcile matches), and taken a time window at a time."""

    def __init__(self, batches: AsyncIterator[Sequence[Item]], time_of: Callable[[Item], TimeKey]) -> None:
        self._time_of = time_of
        self._queue: asyncio.Queue[Sequence[Item] | None] = asyncio.Queue(maxsize=PREFETCH)
        self._task = asyncio.create_task(self._fill(batches))
        self.items: list[Item] = []
        self.times: list[TimeKey] = []
        self.ended = False
        self.read = 0

    async def _fill(self, batches: AsyncIterator[Sequence[Item]]) -> None:
        async for batch in batches:
            await self._queue.put(batch)
        await self._queue.put(None)

    async def extend(self) -> None:
        """Buffers the next batch; `ended` once there is none."""
        if self.ended:
            return
        get = asyncio.ensure_future(self._queue.get())
        done, _ = await asyncio.wait((get, self._task), return_when=asyncio.FIRST_COMPLETED)
        if get not in done:  # the stream failed: its error, not a wait for ever
            get.cancel()
            self._task.result()
        batch = get.result()
        if batch is None:
            self.ended = True
            return
        self.items.extend(batch)
        self.times.extend(self._time_of(item) for item in batch)
        self.read += len(batch)

    @property
    def last(self) -> TimeKey | None:
        """The instant of the last item buffered; None when nothing is, or when the stream ended (nothing later
        can come)."""
        return None if self.ended or not self.times else self.times[-1]

    def take_before(self, cut: TimeKey | None) -> list[Item]:
        """Every buffered item before instant `cut` (all when None), removed from the buffer."""
        end = len(self.times) if cut is None else bisect.bisect_left(self.times, cut)
        taken = self.items[:end]
        del self.items[:end], self.times[:end]
        return taken

    async def close(self) -> None:
        """Stops reading ahead."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task


async def windows(first: TimeBuffer[Item], second: TimeBuffer[Other]) -> AsyncIterator[tuple[list[Item], list[Other]]]:
    """Both streams cut into windows of whole instants: every item before the earliest instant either buffer may
    still be adding to, so what one instant holds on both sides always arrives in one window."""
    while True:
        for buffer in (first, second):
            if not buffer.items and not buffer.ended:
                await buffer.extend()
        if not first.items and not second.items and first.ended and second.ended:
            return
        open_ends = [last for last in (first.last, second.last) if last is not None]
        cut = min(open_ends) if open_ends else None
        taken = first.take_before(cut), second.take_before(cut)
        if taken[0] or taken[1]:
            yield taken
            continue
        # Both buffers hold only the instant `cut` (or nothing): read on where it may go on.
        for buffer in (first, second):
            if buffer.last == cut:
                await buffer.extend()
