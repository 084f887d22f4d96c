"""The relay's settings: a lease must outlive a call, or a live relay would lose its rows to another."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from payment_service.settings import PaymentSettings


def test_a_lease_not_longer_than_the_call_timeout_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="relay_lease_seconds must be longer"):
        PaymentSettings(relay_lease_seconds=5, relay_call_timeout_seconds=5)
    assert PaymentSettings(relay_lease_seconds=6, relay_call_timeout_seconds=5).relay_lease_seconds == 6


def test_a_batch_is_at_most_what_apply_payment_events_takes() -> None:
    with pytest.raises(ValidationError, match="relay_batch_size"):
        PaymentSettings(relay_batch_size=1001)
