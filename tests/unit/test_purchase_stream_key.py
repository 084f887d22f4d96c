"""The stream's resume key: what token() makes, from_token() reads back; nothing else passes."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from entitlement_service.domain.purchase_stream import PurchaseKey

KEY = PurchaseKey(dt.datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=dt.UTC), "6f1c1e0e-1d3b-4c55-9d0e-3f0a9b7f2a11")


def test_a_token_reads_back_as_its_key_to_the_microsecond() -> None:
    assert PurchaseKey.from_token(KEY.token()) == KEY


def test_a_key_of_another_zone_is_written_in_utc() -> None:
    elsewhere = PurchaseKey(KEY.purchased_at.astimezone(dt.timezone(dt.timedelta(hours=8))), KEY.purchase_id)

    assert PurchaseKey.from_token(elsewhere.token()) == KEY


@pytest.mark.parametrize(
    "plain",
    [
        "2025-03-01T12:00:00+00:00",  # no id
        "2025-03-01T12:00:00+00:00|",  # an empty id
        "2025-03-01T12:00:00|id",  # no zone
        "2025-03-01T12:00:00+08:00|id",  # not UTC
        "noon|id",
        "2025-03-01T12:00:00+00:00|bad\x01id",  # a control character
    ],
)
def test_tokens_this_service_never_made_are_refused(plain: str) -> None:
    assert PurchaseKey.from_token(base64.urlsafe_b64encode(plain.encode()).decode()) is None


@pytest.mark.parametrize("token", ["", "!!!", "é", "a" * 513, base64.urlsafe_b64encode(b"\xff\xfe").decode()])
def test_garbage_is_refused(token: str) -> None:
    assert PurchaseKey.from_token(token) is None
