"""The Coalescer without I/O: which keys share a fetch, which wait for a new one, and where failures go.

The fake fetch answers each key with (the fetch's number, the key), so a test sees which fetch
read every answer; fetches that must stay in flight wait on a gate the test opens.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from paygrant.coalescing import Coalescer

Answer = tuple[int, int]  # (number of the fetch that read it, key)
T = TypeVar("T")


class Fetches:
    """A fake fetch that records every batch and, while `gated`, holds each fetch until its gate opens."""

    def __init__(self, gated: bool = False, failing: set[int] | None = None) -> None:
        self.gated = gated
        self.failing = failing or set()  # numbers of the fetches that raise
        self.batches: list[list[int]] = []
        self.gates: list[asyncio.Event] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.started = asyncio.Event()  # set by every fetch as it begins

    async def __call__(self, keys: list[int]) -> dict[int, Answer]:
        number = len(self.batches)
        self.batches.append(keys)
        gate = asyncio.Event()
        self.gates.append(gate)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.started.set()
        try:
            if self.gated:
                await gate.wait()
            if number in self.failing:
                raise RuntimeError(f"fetch {number} failed")
            return {key: (number, key) for key in keys}
        finally:
            self.in_flight -= 1

    async def wait_started(self, count: int) -> None:
        """Waits until `count` fetches have begun (fails the test after 5 s)."""
        async with asyncio.timeout(5):
            while len(self.batches) < count:
                self.started.clear()
                await self.started.wait()


async def let_other_tasks_run() -> None:
    """A few loop turns, so that any task that could start now has started (no time passes)."""
    for _ in range(10):
        await asyncio.sleep(0)


def asking(coalescer: Coalescer[int, Answer], *keys: int) -> asyncio.Task[dict[int, Answer]]:
    """A caller asking for `keys`, as its own task."""
    return asyncio.create_task(coalescer.get(keys))


async def within_5s(awaitable: Awaitable[T], what: str = "the answer") -> T:
    """The awaited result; fails the test instead of hanging when it never comes."""
    try:
        async with asyncio.timeout(5):
            return await awaitable
    except TimeoutError:
        raise AssertionError(f"{what} did not come within 5 s") from None


async def test_callers_of_one_loop_turn_share_one_fetch() -> None:
    fetch = Fetches()
    coalescer = Coalescer(fetch)
    first, second, third = await asyncio.gather(coalescer.get([1]), coalescer.get([2]), coalescer.get([1, 3]))
    assert fetch.batches == [[1, 2, 3]]
    assert (first, second, third) == ({1: (0, 1)}, {2: (0, 2)}, {1: (0, 1), 3: (0, 3)})


async def test_duplicate_keys_in_one_call_are_fetched_once_and_answered_once() -> None:
    fetch = Fetches()
    answers = await Coalescer(fetch).get([1, 2, 1, 1])
    assert fetch.batches == [[1, 2]]
    assert answers == {1: (0, 1), 2: (0, 2)}


async def test_a_key_asked_while_its_batch_is_fetched_is_read_by_a_new_fetch_started_after() -> None:
    fetch = Fetches(gated=True)
    coalescer = Coalescer(fetch)
    early = asking(coalescer, 1)
    await fetch.wait_started(1)  # fetch 0 has taken key 1 and is reading
    late = asking(coalescer, 1)
    await fetch.wait_started(2)
    assert fetch.batches == [[1], [1]]  # fetch 1 began after the late caller asked
    fetch.gates[0].set()  # the earlier read ends first ...
    assert await within_5s(early) == {1: (0, 1)}
    await let_other_tasks_run()
    assert not late.done()  # ... and still does not answer the late caller
    fetch.gates[1].set()
    assert await within_5s(late) == {1: (1, 1)}


async def test_a_call_over_max_batch_keys_is_split_into_fetches_of_max_batch() -> None:
    fetch = Fetches()
    answers = await Coalescer(fetch, max_batch=2).get([1, 2, 3, 4, 5])
    assert fetch.batches == [[1, 2], [3, 4], [5]]
    assert answers == {1: (0, 1), 2: (0, 2), 3: (1, 3), 4: (1, 4), 5: (2, 5)}


async def test_no_more_than_max_fetches_run_at_once_and_the_rest_wait_for_a_slot() -> None:
    fetch = Fetches(gated=True)
    coalescer = Coalescer(fetch, max_fetches=2)
    first = asking(coalescer, 1)
    await fetch.wait_started(1)
    second = asking(coalescer, 2)
    await fetch.wait_started(2)
    waiting = [asking(coalescer, 3), asking(coalescer, 4)]
    await let_other_tasks_run()
    assert fetch.batches == [[1], [2]]  # keys 3 and 4 wait: two fetches are in flight
    fetch.gates[0].set()
    assert await within_5s(first) == {1: (0, 1)}
    await let_other_tasks_run()  # fetch 0's slot is released when its task has ended
    fetch.gates[1].set()
    assert await within_5s(second) == {2: (1, 2)}
    await fetch.wait_started(3)
    assert fetch.batches[2] == [3, 4]  # the waiting keys share the next fetch
    fetch.gates[2].set()
    assert [await within_5s(task) for task in waiting] == [{3: (2, 3)}, {4: (2, 4)}]
    assert fetch.most_in_flight == 2


async def test_keys_waiting_for_a_slot_are_fetched_when_every_fetch_in_flight_ends_at_once() -> None:
    # Fails as paygrant/coalescing.py stands: each ending fetch looks for a free slot while its own task
    # still counts in `_fetches`, so when all of them end in one turn none starts the waiting keys.
    fetch = Fetches(gated=True)
    coalescer = Coalescer(fetch, max_fetches=2)
    first = asking(coalescer, 1)
    await fetch.wait_started(1)
    second = asking(coalescer, 2)
    await fetch.wait_started(2)
    waiting = asking(coalescer, 3)
    await let_other_tasks_run()
    assert fetch.batches == [[1], [2]]
    fetch.gated = False  # for the fetches to come
    for gate in fetch.gates:  # both reads end in the same loop turn, as replies read off one select() do
        gate.set()
    assert list(await within_5s(asyncio.gather(first, second))) == [{1: (0, 1)}, {2: (1, 2)}]
    assert await within_5s(waiting, "the answer for key 3, left waiting for a slot") == {3: (2, 3)}


async def test_a_failed_fetch_raises_in_every_waiter_of_its_batch_only_and_later_calls_work() -> None:
    fetch = Fetches(gated=True, failing={0})
    coalescer = Coalescer(fetch)
    failing = [asking(coalescer, 1), asking(coalescer, 2), asking(coalescer, 1)]
    await fetch.wait_started(1)
    other_batch = asking(coalescer, 4)
    await fetch.wait_started(2)
    assert fetch.batches == [[1, 2], [4]]
    for gate in fetch.gates:
        gate.set()
    results = await within_5s(asyncio.gather(*failing, return_exceptions=True))
    assert [(type(result), str(result)) for result in results] == [(RuntimeError, "fetch 0 failed")] * 3
    assert await within_5s(other_batch) == {4: (1, 4)}
    fetch.gated = False
    assert await within_5s(coalescer.get([1, 2])) == {1: (2, 1), 2: (2, 2)}


async def test_a_failed_fetch_leaves_no_unretrieved_failure_behind() -> None:
    # Fails as paygrant/coalescing.py stands: `get` awaits its keys' futures one by one, so a caller
    # of several keys of a failed batch raises from the first, and the others' failures are logged
    # by the event loop ("Future exception was never retrieved") when they are collected.
    reported: list[str] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: reported.append(str(context["message"])))
    try:
        failure = ""
        try:
            await within_5s(Coalescer(Fetches(failing={0})).get([1, 2, 3]))
        except RuntimeError as error:  # not kept: its traceback holds the futures alive
            failure = str(error)
        await let_other_tasks_run()  # the failed fetch's task ends and lets go of its futures
        gc.collect()
    finally:
        loop.set_exception_handler(None)
    assert failure == "fetch 0 failed"
    assert reported == []


async def test_a_caller_cancelled_while_waiting_does_not_cancel_others_waiting_for_the_same_key() -> None:
    # Fails as paygrant/coalescing.py stands: callers of one key await one shared future unshielded,
    # so cancelling one caller cancels that future, and every other caller gets CancelledError.
    fetch = Fetches(gated=True)
    coalescer = Coalescer(fetch)
    impatient, patient = asking(coalescer, 1), asking(coalescer, 1)
    await fetch.wait_started(1)
    impatient.cancel()  # as a gRPC deadline cancels one check's handler
    with pytest.raises(asyncio.CancelledError):
        await impatient
    fetch.gates[0].set()
    assert await within_5s(patient) == {1: (0, 1)}
