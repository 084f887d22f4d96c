"""What the relay decides for each outbox message: sent, retried later, or dead."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Sequence

from paygrant.contract_rules import EventType
from paygrant.db import utcnow
from payment_service.domain.errors import DeliveryFailed
from payment_service.domain.events import PaidItem, PaymentEvent
from payment_service.domain.outbox import OutboxMessage, OutboxStatus, RetryPolicy
from payment_service.service_layer.relay import OutboxRelay
from tests.unit.payment_fakes import FakeStore, FakeUnitOfWork
from tests.waiting import wait_for_event

POLICY = RetryPolicy(max_attempts=3, base_seconds=60, max_seconds=60)
NO_WAIT = RetryPolicy(max_attempts=3, base_seconds=0, max_seconds=0)


def _message(payment_id: str = "pay-1", kind: EventType = EventType.PAYMENT_COMPLETED) -> OutboxMessage:
    event = PaymentEvent(str(uuid.uuid4()), kind, payment_id, "u1", "MNT", (PaidItem("course", "c", 1),), utcnow())
    return OutboxMessage.of(event, utcnow() - dt.timedelta(seconds=1))


class Receiver:
    """The entitlement service: applies each batch and records it, or fails the call, or refuses some events."""

    def __init__(self, failure: DeliveryFailed | None = None, refused: dict[str, DeliveryFailed] | None = None) -> None:
        self.failure = failure
        self.refused = refused or {}
        self.batches: list[list[str]] = []

    @property
    def applied(self) -> list[str]:
        return [event_id for batch in self.batches for event_id in batch if event_id not in self.refused]

    async def __call__(self, events: Sequence[PaymentEvent]) -> list[DeliveryFailed | None]:
        if self.failure is not None:
            raise self.failure
        self.batches.append([event.event_id for event in events])
        return [self.refused.get(event.event_id) for event in events]


def _relay(store: FakeStore, receiver: Receiver, policy: RetryPolicy = POLICY, batch_size: int = 100) -> OutboxRelay:
    return OutboxRelay(lambda: FakeUnitOfWork(store), receiver, policy, poll_seconds=1, batch_size=batch_size)


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
    store, poisoned, healthy = FakeStore(), _message(), _message(payment_id="pay-2")
    poisoned.payload = {"payment_id": "p"}  # written by a buggy or older version
    store.outbox.extend([poisoned, healthy])
    receiver = Receiver()

    assert await _relay(store, receiver).deliver_due() == 2

    assert receiver.applied == [healthy.event_id]
    assert (poisoned.status, poisoned.attempts) == (OutboxStatus.DEAD, 1)
    assert "undecodable" in (poisoned.last_error or "")
    assert healthy.status is OutboxStatus.SENT


async def test_messages_go_in_batches_of_the_batch_size_in_one_call_each() -> None:
    store = FakeStore()
    store.outbox.extend(_message(payment_id=f"pay-{n}") for n in range(5))
    receiver = Receiver()

    assert await _relay(store, receiver, batch_size=2).deliver_due() == 5

    assert [len(batch) for batch in receiver.batches] == [2, 2, 1]
    assert {m.status for m in store.outbox} == {OutboxStatus.SENT}


async def test_an_event_refused_in_its_result_goes_dead_and_the_rest_of_its_batch_is_sent() -> None:
    store, refused, accepted = FakeStore(), _message(payment_id="pay-1"), _message(payment_id="pay-2")
    store.outbox.extend([refused, accepted])
    receiver = Receiver(refused={refused.event_id: DeliveryFailed("user_id: paid by another user", permanent=True)})

    await _relay(store, receiver).deliver_due()

    assert receiver.batches == [[refused.event_id, accepted.event_id]], "one call for both"
    assert (refused.status, refused.attempts, refused.last_error) == (
        OutboxStatus.DEAD,
        1,
        "user_id: paid by another user",
    )
    assert accepted.status is OutboxStatus.SENT


async def test_a_refund_waits_in_the_outbox_until_its_completion_is_sent() -> None:
    store = FakeStore()
    completion, refund = _message(), _message(kind=EventType.PAYMENT_REFUNDED)
    other = _message(payment_id="pay-2")
    store.outbox.extend([completion, refund, other])
    receiver = Receiver()

    await _relay(store, receiver).deliver_due()

    assert receiver.batches == [[completion.event_id, other.event_id], [refund.event_id]]


async def test_a_refund_behind_a_dead_completion_waits_for_the_operator() -> None:
    store = FakeStore()
    completion, refund = _message(), _message(kind=EventType.PAYMENT_REFUNDED)
    store.outbox.extend([completion, refund])
    receiver = Receiver(refused={completion.event_id: DeliveryFailed("items[0].amount: too big", permanent=True)})

    await _relay(store, receiver).deliver_due()

    assert receiver.batches == [[completion.event_id]]
    assert (completion.status, refund.status, refund.attempts) == (OutboxStatus.DEAD, OutboxStatus.PENDING, 0)


async def test_claimed_messages_are_not_claimed_again_before_their_lease_ends() -> None:
    store, message = FakeStore(), _message()
    store.outbox.append(message)
    dying = _relay(store, Receiver())

    assert await dying.claim() == [message]  # ... and the relay dies before delivering

    assert await _relay(store, Receiver()).deliver_due() == 0, "the lease still holds the message"
    assert message.next_attempt_at >= utcnow() + dt.timedelta(seconds=20)


async def test_a_wake_up_while_a_batch_is_on_its_way_sends_the_new_message_at_once() -> None:
    """At a light load, a payment's message must not wait for the call before it to be answered and recorded."""
    store, first, second = FakeStore(), _message(payment_id="pay-1"), _message(payment_id="pay-2")
    store.outbox.append(first)
    second_sent = asyncio.Event()

    async def receiver(events: Sequence[PaymentEvent]) -> list[DeliveryFailed | None]:
        if events[0].event_id == first.event_id:
            store.outbox.append(second)  # committed while the first call is on its way
            relay.wake()
            # The first call is answered only once the second message arrived: a relay that waited for it would hang.
            await wait_for_event(second_sent, what="the second message, sent while the first call waits")
        else:
            second_sent.set()
        return [None] * len(events)

    relay = OutboxRelay(lambda: FakeUnitOfWork(store), receiver, POLICY, poll_seconds=1)

    assert await relay.deliver_due() == 2
    assert {first.status, second.status} == {OutboxStatus.SENT}


async def test_a_wake_up_with_every_slot_busy_waits_for_a_slot() -> None:
    store = FakeStore()
    store.outbox.extend([_message(payment_id="pay-1"), _message(payment_id="pay-2")])
    later = _message(payment_id="pay-3")
    in_flight, answer = 0, asyncio.Event()
    most_in_flight = 0

    async def receiver(events: Sequence[PaymentEvent]) -> list[DeliveryFailed | None]:
        nonlocal in_flight, most_in_flight
        in_flight += 1
        most_in_flight = max(most_in_flight, in_flight)
        if in_flight == 2 and later not in store.outbox:
            store.outbox.append(later)
            relay.wake()
            answer.set()
        await wait_for_event(answer, what="both slots to be taken")
        in_flight -= 1
        return [None] * len(events)

    relay = OutboxRelay(lambda: FakeUnitOfWork(store), receiver, POLICY, poll_seconds=1, batch_size=1, in_flight=2)

    assert await relay.deliver_due() == 3
    assert most_in_flight == 2
    assert {message.status for message in store.outbox} == {OutboxStatus.SENT}
