"""QPay's payment callback: an unsigned `GET <callback_url>&qpay_payment_id=<id>`.

The fault switches can drop it, send it twice, send it late or give up on it before the
answer, which is what the receiving service must survive.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlsplit

import aiohttp
from aiohttp import web

from paygrant.qpay_sim.state import CallbackAttempt, SimInvoice, SimPayment, SimState

ABANDONED = "abandoned before the answer (fault: fail)"

Send = Callable[[SimInvoice, str], Awaitable[int | None]]


def callback_url_for(callback_url: str, payment_id: str) -> str:
    """The merchant's callback URL with `qpay_payment_id` appended, as QPay does it."""
    separator = "&" if "?" in callback_url else "?"
    return f"{callback_url}{separator}qpay_payment_id={quote(payment_id, safe='')}"


class CallbackSender:
    """Sends callbacks with its own HTTP session; `start()` before use, `close()` after."""

    def __init__(self, state: SimState, timeout: float) -> None:
        self._state = state
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Open the HTTP session used for callbacks."""
        self._session = aiohttp.ClientSession(timeout=self._timeout)

    async def close(self) -> None:
        """Cancel callbacks still waiting for their delay, then close the session."""
        for task in list(self._pending):
            task.cancel()
        for task in list(self._pending):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()
        self._session = None

    async def announce(self, invoice: SimInvoice, payment: SimPayment) -> int | None:
        """Send the payment's callback as the faults say; the first answer's status, or
        None when it was dropped, delayed or failed."""
        faults = self._state.faults
        if faults.callback == "drop":
            return None
        times = 2 if faults.callback == "duplicate" else 1
        send = self._abandon if faults.callback == "fail" else self._send
        url = callback_url_for(invoice.callback_url, payment.payment_id)
        if faults.callback_delay > 0:
            task = asyncio.create_task(self._send_later(send, invoice, url, times, faults.callback_delay))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            return None
        statuses = [await send(invoice, url) for _ in range(times)]
        return statuses[0]

    async def _send_later(self, send: Send, invoice: SimInvoice, url: str, times: int, delay: float) -> None:
        await asyncio.sleep(delay)
        for _ in range(times):
            await send(invoice, url)

    async def _send(self, invoice: SimInvoice, url: str) -> int | None:
        if self._session is None:
            raise RuntimeError("CallbackSender is not started")
        status: int | None = None
        error: str | None = None
        try:
            async with self._session.get(url) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            # An unreachable merchant is what QPay shrugs off; record it, do not fail.
            error = repr(exc)
        invoice.callbacks.append(CallbackAttempt(url, status, error, self._state.now()))
        return status

    async def _abandon(self, invoice: SimInvoice, url: str) -> None:
        """Sends the whole request, then hangs up without reading a byte of the answer."""
        parts = urlsplit(url)
        secure = parts.scheme == "https"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        error = ABANDONED
        try:
            _, writer = await asyncio.open_connection(
                parts.hostname, parts.port or (443 if secure else 80), ssl=secure or None
            )
            writer.write(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        except OSError as exc:
            error = repr(exc)
        invoice.callbacks.append(CallbackAttempt(url, None, error, self._state.now()))


SENDER_KEY = web.AppKey("qpay_sim_callbacks", CallbackSender)
