"""The payment service as a gateway calls it: a retryable failure is retried with the very same request.

UNAVAILABLE and DEADLINE_EXCEEDED (also what a refused connection answers) mean "try again"; the
request carries its idempotency key, so a retry can never buy twice. Any other failure is what a
gateway would show its user; the user presses the button again, a few times at most.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import grpc

from paygrant.payment.v1 import payment_pb2, payment_pb2_grpc

T = TypeVar("T")

RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
CALL_TIMEOUT = 5.0
# How long a gateway keeps retrying one call before it gives up (the test then fails).
GIVE_UP_AFTER = 90.0
# Other failures: how often the user tries again before giving up.
USER_RETRIES = 3
# A gateway reconnects soon after a restart rather than gRPC's default backoff of up to two minutes.
CHANNEL_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 1000)]


@dataclass
class CallLog:
    """What the gateway saw: retries by status code, and answers no gateway should get from an outage."""

    on_failure: Callable[[], None] = lambda: None
    retried: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)

    def failed(self, method: str, error: grpc.aio.AioRpcError) -> None:
        """Records one failed call."""
        if error.code() in RETRYABLE:
            self.retried[error.code().name] += 1
        else:
            self.unexpected.append(f"{method} {error.code().name}: {error.details()}")
        self.on_failure()


class Gateway:
    """CreateCheckout and CheckPayment, retried as a gateway does; one per customer (its own jitter)."""

    def __init__(self, payments: payment_pb2_grpc.PaymentServiceStub, log: CallLog, rng: random.Random) -> None:
        self._payments = payments
        self._log = log
        self._rng = rng

    async def create_checkout(self, request: payment_pb2.CreateCheckoutRequest) -> payment_pb2.Checkout:
        """The checkout of `request`; every retry sends the same idempotency key."""
        return await self._retrying(
            "CreateCheckout", lambda: self._payments.CreateCheckout(request, timeout=CALL_TIMEOUT)
        )

    async def check_payment(self, session_id: str) -> payment_pb2.Checkout:
        """The client's "I have paid": asks the payment service to ask QPay."""
        request = payment_pb2.CheckPaymentRequest(session_id=session_id)
        return await self._retrying("CheckPayment", lambda: self._payments.CheckPayment(request, timeout=CALL_TIMEOUT))

    async def _retrying(self, method: str, call: Callable[[], Awaitable[T]]) -> T:
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + GIVE_UP_AFTER
        attempts = user_retries = 0
        while True:
            try:
                return await call()
            except grpc.aio.AioRpcError as error:
                self._log.failed(method, error)
                if error.code() not in RETRYABLE:
                    user_retries += 1
                    if user_retries > USER_RETRIES:
                        raise
                if loop.time() > give_up_at:
                    raise AssertionError(f"{method} still failing after {GIVE_UP_AFTER:.0f}s: {error}") from error
            attempts += 1
            # Backoff with full jitter, capped at 1 s: a client's retry pause, not a wait for a condition.
            await asyncio.sleep(self._rng.uniform(0, min(1.0, 0.05 * 2**attempts)))
