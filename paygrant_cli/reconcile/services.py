"""The two services as reconcile calls them: stubs over channels, and calls that fail in one readable line."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import grpc

from paygrant.entitlement.v1.entitlement_pb2_grpc import EntitlementServiceStub
from paygrant.grpc_channel import open_channel
from paygrant.payment.v1.payment_pb2_grpc import PaymentServiceStub
from paygrant_cli.settings import CliSettings

CALL_TIMEOUT = 30.0
Answer = TypeVar("Answer")


class ReconcileFailed(Exception):
    """Reconcile could not run (a service unreachable or refusing it): exit code 2 with this one line."""


@dataclass(frozen=True)
class Services:
    """Stubs of both services, and where they are (for messages)."""

    payments: PaymentServiceStub
    entitlements: EntitlementServiceStub
    payment_target: str
    entitlement_target: str

    async def ask_payments(self, call: Awaitable[Answer], what: str) -> Answer:
        """The payment service's answer; ReconcileFailed naming it and `what` was asked when it fails."""
        return await _answer(call, f"payment service at {self.payment_target}: {what}")


async def _answer(call: Awaitable[Answer], where: str) -> Answer:
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        raise ReconcileFailed(failure_line(where, error)) from None


def failure_line(where: str, error: grpc.aio.AioRpcError) -> str:
    """One line saying which call failed and how."""
    details = " ".join((error.details() or "").split())
    return f"{where}: {error.code().name}: {details}"


@asynccontextmanager
async def connected(settings: CliSettings) -> AsyncIterator[Services]:
    """Channels to both services for the length of the block."""
    async with (
        open_channel(settings.payment_target, settings.payment_channel()) as payment,
        open_channel(settings.entitlement_target, settings.entitlement_channel()) as entitlement,
    ):
        yield Services(
            PaymentServiceStub(payment),
            EntitlementServiceStub(entitlement),
            settings.payment_target,
            settings.entitlement_target,
        )
