"""Concurrent lookups become one: keys asked while a fetch is pending join the next fetch.

Under load, dozens of checks wait on the database at once; each paying its own round trip (and
its own connection checkout) caps a server at a few hundred checks a second. A Coalescer gathers
the keys its callers ask for into one `fetch` per batch, with at most `max_fetches` batches in
flight. A key joins a batch only before that batch's fetch starts, so every answer is read after
its caller asked: coalescing never answers from a read that began earlier.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


class Coalescer(Generic[Key, Value]):
    """`await get(keys)` answers through `fetch`, sharing each fetch with the callers waiting alongside."""

    def __init__(
        self,
        fetch: Callable[[list[Key]], Awaitable[Mapping[Key, Value]]],
        max_batch: int = 1000,
        max_fetches: int = 4,
    ) -> None:
        self._fetch = fetch
        self._max_batch = max_batch
        self._max_fetches = max_fetches
        self._waiting: dict[Key, asyncio.Future[Value]] = {}
        self._fetches: set[asyncio.Task[None]] = set()
        self._scheduled: asyncio.Task[None] | None = None

    async def get(self, keys: Iterable[Key]) -> dict[Key, Value]:
        """The value of each key; raises what the fetch that read it raised."""
        loop = asyncio.get_running_loop()
        futures = {}
        for key in keys:
            future = self._waiting.get(key)
            if future is None:
                future = self._waiting[key] = loop.create_future()
            futures[key] = future
        self._start_fetches()
        # Gathered: every future's outcome is retrieved, so a failed fetch leaves no unread exception.
        # Shielded: callers share futures, and one caller cancelled (a deadline) must not cancel the rest.
        values = await asyncio.shield(asyncio.gather(*futures.values()))
        return dict(zip(futures, values, strict=True))

    def _start_fetches(self) -> None:
        # One fetch at a time is scheduled; it takes its batch when it starts running, so every
        # caller of the same loop turn (and all who came while the others were fetching) shares it.
        if self._waiting and self._scheduled is None and len(self._fetches) < self._max_fetches:
            self._scheduled = asyncio.get_running_loop().create_task(self._run())
            self._fetches.add(self._scheduled)
            self._scheduled.add_done_callback(self._fetches.discard)

    async def _run(self) -> None:
        self._scheduled = None
        batch = {key: self._waiting.pop(key) for key in list(self._waiting)[: self._max_batch]}
        self._start_fetches()  # for what did not fit in this batch
        try:
            values = await self._fetch(list(batch))
        except BaseException as error:  # every waiter gets the failure; a cancelled fetch cancels them
            for future in batch.values():
                if not future.done():
                    future.set_exception(error) if isinstance(error, Exception) else future.cancel()
            if not isinstance(error, Exception):
                raise
        else:
            for key, future in batch.items():
                if not future.done():
                    future.set_result(values[key])
        finally:
            # Leave the set now, not in the done callback (which runs later), so the next fetch can start.
            current = asyncio.current_task()
            if current is not None:
                self._fetches.discard(current)
            self._start_fetches()
