"""The simulator's "fail" callback fault at a merchant socket: the request arrives, nobody waits for the answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest_asyncio

from paygrant.qpay_sim import RunningSimulator, start_simulator
from paygrant.qpay_sim.callbacks import ABANDONED
from paygrant.qpay_sim.control_client import SimulatorControl
from paygrant.qpay_sim.state import SimInvoice
from tests.waiting import wait_for_event


class HangUpWitness:
    """A merchant endpoint at the socket level: keeps each request line and whether QPay hung up before any answer."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, bool]] = []
        self.arrived = asyncio.Event()
        self.url = ""
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        hung_up = await reader.read() == b""  # read() returns only at end of stream: nothing follows the request
        self.requests.append((head.decode().split("\r\n", 1)[0], hung_up))
        writer.close()
        self.arrived.set()


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    simulator = await start_simulator("127.0.0.1", 0)
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest_asyncio.fixture
async def witness() -> AsyncIterator[HangUpWitness]:
    merchant = HangUpWitness()
    await merchant.start()
    try:
        yield merchant
    finally:
        await merchant.stop()


def open_invoice(sim: RunningSimulator, callback_url: str) -> SimInvoice:
    return sim.state.add_invoice(
        sender_invoice_no="session-1",
        receiver_code="terminal",
        description="Course: algebra",
        amount=Decimal("15000"),
        callback_url=callback_url,
    )


async def test_failed_callback_is_sent_whole_and_abandoned_before_the_answer(
    sim: RunningSimulator, witness: HangUpWitness
) -> None:
    control = SimulatorControl(sim.base_url)
    invoice = open_invoice(sim, f"{witness.url}/cb?session_id=session-1")
    assert (await control.set_faults(callback="fail"))["callback"] == "fail"

    paid = await control.pay(invoice.invoice_id)

    assert paid["callback_status"] is None and paid["payment_status"] == "PAID"
    await wait_for_event(witness.arrived, what="the abandoned callback to reach the merchant")
    line = f"GET /cb?session_id=session-1&qpay_payment_id={paid['payment_id']} HTTP/1.1"
    assert witness.requests == [(line, True)]
    attempts = (await control.invoice(invoice.invoice_id))["callbacks"]
    assert [(attempt["status"], attempt["error"]) for attempt in attempts] == [(None, ABANDONED)]


async def test_failed_callback_to_an_unreachable_merchant_is_recorded_not_raised(
    sim: RunningSimulator, refused_port: int
) -> None:
    control = SimulatorControl(sim.base_url)
    invoice = open_invoice(sim, f"http://127.0.0.1:{refused_port}/cb")
    await control.set_faults(callback="fail")

    paid = await control.pay(invoice.invoice_id)

    assert paid["callback_status"] is None
    [attempt] = (await control.invoice(invoice.invoice_id))["callbacks"]
    assert attempt["status"] is None and "ConnectionRefused" in attempt["error"]
