"""The outbox: a message per event, delivered at least once, retried with backoff and jitter, then dead.

A pending message is due at `next_attempt_at`: when it is written, after a failed delivery at the
end of its backoff, and while a relay delivers it at the end of that relay's lease. A relay claims
due messages by pushing `next_attempt_at` to its lease's end and writing its own `lease_token`, and
records outcomes only where its token still stands. So a relay that dies mid-delivery holds its
messages until the lease ends, then another relay claims them (the receiver applies each event id
once); a relay whose lease ran out records nothing.

The messages of one payment are delivered in the order they were written (a refund never before
its completion): a message waits while an older message of its payment is pending or dead.
"""

from __future__ import annotations

import datetime as dt
import enum
import random
from dataclasses import dataclass
from typing import Any

from payment_service.domain.events import PaymentEvent


class OutboxStatus(enum.StrEnum):
    """PENDING -> SENT, or PENDING -> DEAD after the attempt limit (an operator may retry it)."""

    PENDING = "PENDING"
    SENT = "SENT"
    DEAD = "DEAD"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped, for at most `max_attempts` deliveries."""

    max_attempts: int
    base_seconds: float
    max_seconds: float

    def delay(self, attempts: int, rng: random.Random | None = None) -> dt.timedelta:
        """How long to wait after the `attempts`-th failed delivery."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** (attempts - 1))
        return dt.timedelta(seconds=(rng or random).uniform(ceiling / 2, ceiling))

    def is_exhausted(self, attempts: int) -> bool:
        """True once a message has failed as often as it may."""
        return attempts >= self.max_attempts


class UndecodableMessage(ValueError):
    """The stored payload is not a PaymentEvent (written by a buggy or older version)."""


class OutboxMessage:
    """One event waiting for (or done with) delivery. Mapped onto `outbox` by the ORM adapter.

    PENDING --mark_sent--> SENT; PENDING --record_failure--> PENDING (later) or DEAD.
    `lease_token` names the claim of the relay delivering it, if any.
    """

    id: int | None

    def __init__(
        self, *, event_id: str, event_type: str, payment_id: str, payload: dict[str, Any], created_at: dt.datetime
    ) -> None:
        self.event_id = event_id
        self.event_type = event_type
        self.payment_id = payment_id
        self.payload = payload
        self.status = OutboxStatus.PENDING
        self.attempts = 0
        self.next_attempt_at = created_at
        self.last_error: str | None = None
        self.created_at = created_at
        self.sent_at: dt.datetime | None = None
        self.lease_token: str | None = None
        self.id = None

    @classmethod
    def of(cls, event: PaymentEvent, now: dt.datetime) -> OutboxMessage:
        """The message announcing `event`, due at once."""
        return cls(
            event_id=event.event_id,
            event_type=event.type.value,
            payment_id=event.payment_id,
            payload=event.to_payload(),
            created_at=now,
        )

    def event(self) -> PaymentEvent:
        """The event to deliver; UndecodableMessage when the payload cannot be read."""
        try:
            return PaymentEvent.from_payload(self.event_id, self.event_type, self.payload)
        except (KeyError, TypeError, ValueError) as error:
            raise UndecodableMessage(f"undecodable outbox row: {error!r}") from error

    def mark_sent(self, now: dt.datetime) -> None:
        """The receiver applied the event."""
        self.attempts += 1
        self.status = OutboxStatus.SENT
        self.sent_at = now
        self.last_error = None

    def record_failure(self, error_text: str, permanent: bool, policy: RetryPolicy, now: dt.datetime) -> None:
        """A delivery failed: retry later under `policy`, or dead when `permanent` or out of attempts."""
        self.attempts += 1
        self.last_error = error_text
        if permanent or policy.is_exhausted(self.attempts):
            self.status = OutboxStatus.DEAD
        else:
            self.next_attempt_at = now + policy.delay(self.attempts)

    @property
    def is_pending(self) -> bool:
        """True while it waits for (another) delivery."""
        return self.status is OutboxStatus.PENDING

    @property
    def is_dead(self) -> bool:
        """True once the relay stopped trying."""
        return self.status is OutboxStatus.DEAD
