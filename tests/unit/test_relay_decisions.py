"""What the relay decides for each outbox message: sent, retried later, or dead."""

from __future__ import annotations

import datetime as dt
import uuid

from paygrant.contract_rules import EventType
from paygrant.db import utcnow
from payment_service.domain.errors import DeliveryFailed
from payment_service.domain.events import PaidItem, PaymentEvent
from payment_service.domain.outbox import OutboxMessage, OutboxStatus, RetryPolicy
from payment_service.service_layer.relay import OutboxRelay
from tests.unit.payment_fakes import FakeStore, FakeUnitOfWork

POLICY = RetryPolicy(max_attempts=3, base_seconds=60, max_seconds=60)
NO_WAIT = RetryPolicy(max_attempts=3, base_seconds=0, max_seconds=0)


def _message() -> OutboxMessage:
    event = PaymentEvent(
        str(uuid.uuid4()), EventType.PAYMENT_COMPLETED, "pay-1", "u1", "MNT", (PaidItem("course", "c", 1),), utcnow()
    )
    return OutboxMessage.of(event, utcnow() - dt.timedelta(seconds=1))


class Receiver:
    """The entitlement service: records what it applied, or fails as told."""

    def __init__(self, failure: DeliveryFailed | None = None) -> None:
        self.failure = failure
        self.applied: list[str] = []

    async def __call__(self, event: PaymentEvent) -> None:
        if self.failure is not None:
            raise self.failure
        self.applied.append(event.event_id)


def _relay(store: FakeStore, receiver: Receiver, policy: RetryPolicy = POLICY) -> OutboxRelay:
    return OutboxRelay(lambda: FakeUnitOfWork(store), receiver, policy, poll_seconds=1)


async def test_a_delivered_message_is_marked_sent() -> None:
    store, message = FakeStore(), _message()
    store.outbox.append(message)
    receiver = Receiver()

    assert await _relay(store, receiver).deliver_due() == 1

    assert receiver.applied == [message.event_id]
    assert (message.status, message.attempts, message.last_error) == (OutboxStatus.SENT, 1, None)
    assert message.sent_at is not None


async def test_a_failed_delivery_is_retried_later_with_backoff() -> None:
    store, message = FakeStore(), _message()
    store.outbox.append(message)
    before = utcnow()

    await _relay(store, Receiver(DeliveryFailed("UNAVAILABLE: connection refused"))).deliver_due()

    assert (message.status, message.attempts) == (OutboxStatus.PENDING, 1)
    assert message.last_error == "UNAVAILABLE: connection refused"
    assert message.next_attempt_at >= before + dt.timedelta(seconds=30), "the backoff delays the next attempt"


async def test_a_message_goes_dead_at_the_attempt_limit() -> None:
    store, message = FakeStore(), _message()
    store.outbox.append(message)
    relay = _relay(store, Receiver(DeliveryFailed("UNAVAILABLE")), NO_WAIT)

    attempts = [await relay.deliver_due() for _ in range(2)]

    assert attempts == [3, 0], "with no backoff it is retried at once, until the limit; then never again"
    assert (message.status, message.attempts) == (OutboxStatus.DEAD, 3)


async def test_a_permanently_refused_message_goes_dead_at_once() -> None:
    store, message = FakeStore(), _message()
    store.outbox.append(message)

    await _relay(store, Receiver(DeliveryFailed("INVALID_ARGUMENT: items[0].kind", permanent=True))).deliver_due()

    assert (message.status, message.attempts) == (OutboxStatus.DEAD, 1)


async def test_an_undecodable_message_goes_dead_and_the_next_one_is_delivered() -> None:
    store, poisoned, healthy = FakeStore(), _message(), _message()
    poisoned.payload = {"payment_id": "p"}  # written by a buggy or older version
    store.outbox.extend([poisoned, healthy])
    receiver = Receiver()

    assert await _relay(store, receiver).deliver_due() == 2

    assert receiver.applied == [healthy.event_id]
    assert (poisoned.status, poisoned.attempts) == (OutboxStatus.DEAD, 1)
    assert "undecodable" in (poisoned.last_error or "")
    assert healthy.status is OutboxStatus.SENT
