"""The outbox's delivery rules: retry with backoff and jitter, then dead."""

from __future__ import annotations

import datetime as dt
import enum
import random
from dataclasses import dataclass


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
        """True once a row has failed as often as it may."""
        return attempts >= self.max_attempts
