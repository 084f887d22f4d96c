"""The relay's retry policy: capped exponential backoff with jitter, then dead."""

from __future__ import annotations

import random

from payment_service.domain.outbox import RetryPolicy

POLICY = RetryPolicy(max_attempts=5, base_seconds=1.0, max_seconds=10.0)


def test_delay_doubles_within_jitter_and_is_capped() -> None:
    rng = random.Random(7)
    for attempts, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (30, 10.0)]:
        delays = [POLICY.delay(attempts, rng).total_seconds() for _ in range(200)]
        assert min(delays) >= ceiling / 2 and max(delays) <= ceiling
        assert len(set(delays)) > 100, "jitter must spread retries apart"


def test_exhausted_only_at_the_attempt_limit() -> None:
    assert not POLICY.is_exhausted(4)
    assert POLICY.is_exhausted(5)
