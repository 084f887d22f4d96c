"""to_timestamp agrees with protobuf's own conversion for every aware datetime, and round-trips."""

from __future__ import annotations

import datetime as dt

from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st

from paygrant.timestamps import from_timestamp, to_timestamp

ZONES = st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=8)), dt.timezone(dt.timedelta(hours=-5, minutes=-30))])


@given(st.datetimes(timezones=ZONES))
def test_to_timestamp_matches_protobuf_and_round_trips(value: dt.datetime) -> None:
    expected = Timestamp()
    expected.FromDatetime(value)
    assert to_timestamp(value) == expected
    assert from_timestamp(expected) == value


def test_a_naive_datetime_is_read_as_utc_and_none_stays_unset() -> None:
    naive = dt.datetime(1969, 12, 31, 23, 59, 59, 999_999)
    assert to_timestamp(naive) == Timestamp(seconds=-1, nanos=999_999_000)
    assert to_timestamp(None) is None
