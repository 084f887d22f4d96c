"""Conversions between aware datetimes and google.protobuf.Timestamp."""

from __future__ import annotations

import datetime as dt

from google.protobuf.timestamp_pb2 import Timestamp


def to_timestamp(value: dt.datetime | None) -> Timestamp | None:
    """A Timestamp of an aware datetime; None stays None (the field is left unset)."""
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def from_timestamp(stamp: Timestamp) -> dt.datetime:
    """An aware UTC datetime of a Timestamp."""
    value: dt.datetime = stamp.ToDatetime(tzinfo=dt.UTC)
    return value
