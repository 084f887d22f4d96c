"""The suite's one way to wait for something that happens in another task or process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0, what: str = "condition") -> None:
    """Waits until `check()` is true; fails the test with `what` after `within` seconds."""
    try:
        async with asyncio.timeout(within):
            # Another process or task's state, read by asking: there is no event to wait on.
            while not await check():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out after {within}s waiting for {what}") from None


async def wait_for_event(event: asyncio.Event, within: float = 10.0, what: str = "event") -> None:
    """Waits until `event` is set; fails the test with `what` after `within` seconds."""
    try:
        await asyncio.wait_for(event.wait(), within)
    except TimeoutError:
        raise AssertionError(f"timed out after {within}s waiting for {what}") from None
