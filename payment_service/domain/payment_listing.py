"""Reading recorded payments in bulk: operators' filtered pages, and the reconciliation stream.

Both read by keyset over (paid_at, id), unique and never changing for a payment: a page or batch
starts strictly after the key of the last row read, so payments recorded meanwhile never shift or
repeat an entry. Pages run newest first; the stream runs oldest first over a paid_at range.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import NamedTuple

from paygrant import keyset
from payment_service.domain.errors import InvalidRequest
from payment_service.domain.payment import Payment, PaymentOutcome, PaymentStatus
from payment_service.domain.validation import require_id

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 500
DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE = 1_000, 5_000


class StreamedPayment(NamedTuple):
    """A payment as the stream reads it, with its refund's record: its columns as stored, without the ORM's
    bookkeeping, which would cost several times the read itself over the millions a reconciliation streams."""

    id: str
    qpay_payment_id: str | None
    session_id: str
    user_id: str
    status: PaymentStatus
    amount: int
    currency: str
    paid_at: dt.datetime
    outcome: PaymentOutcome
    late: bool
    overpaid: bool
    refund_due: bool
    refunded_at: dt.datetime | None
    refund_reason: str | None
    refunded_by: str | None
    refund_external: bool | None


class StreamedLine(NamedTuple):
    """A priced line of a streamed payment's session."""

    kind: str
    item_id: str
    title: str
    amount: int


@dataclass(frozen=True, order=True)
class PaymentKey:
    """A payment's place in listing order: (paid_at, payment id)."""

    paid_at: dt.datetime
    payment_id: str

    @classmethod
    def of(cls, payment: Payment | StreamedPayment) -> PaymentKey:
        """The key of a payment."""
        return cls(payment.paid_at, payment.id)

    def token(self) -> str:
        """The opaque text a caller passes back to resume after this payment."""
        return keyset.key_token(self.paid_at, self.payment_id)

    @classmethod
    def from_token(cls, token: str) -> PaymentKey | None:
        """The key a token() made, or None when `token` is not one."""
        key = keyset.parse_key_token(token)
        return None if key is None else cls(*key)


@dataclass(frozen=True)
class PaymentFilters:
    """Which payments to list; None (or an open end) means any. paid_at in [paid_from, paid_to)."""

    user_id: str | None = None
    session_id: str | None = None
    outcome: PaymentOutcome | None = None
    late: bool | None = None
    refund_due: bool | None = None
    paid_from: dt.datetime | None = None
    paid_to: dt.datetime | None = None


@dataclass(frozen=True)
class PaymentListQuery:
    """A page of payments matching `filters`, newest first, strictly after `after` when given."""

    filters: PaymentFilters
    page_size: int = DEFAULT_PAGE_SIZE
    after: PaymentKey | None = None

    def filters_digest(self) -> str:
        """What a page token remembers of the filters, so it is refused with others."""
        f = self.filters
        return keyset.filters_digest(
            "payments", f.user_id, f.session_id, f.outcome, f.late, f.refund_due, f.paid_from, f.paid_to
        )

    def next_page_token(self, last: PaymentKey) -> str:
        """The token of the page after `last`, for the same filters."""
        return keyset.page_token(self.filters_digest(), last.token())


@dataclass(frozen=True)
class PaymentStreamQuery:
    """Payments paid in [start, end) after `after` (from the start when None), `batch_size` at a time."""

    start: dt.datetime
    end: dt.datetime
    after: PaymentKey | None
    batch_size: int
    user_id: str | None = None
    with_lines: bool = False


def parse_list_query(filters: PaymentFilters, page_size: int, page_token: str) -> PaymentListQuery:
    """A ListPayments request with every field checked; the filters' ids and range, the size, the token."""
    if filters.user_id is not None:
        require_id(filters.user_id, "user_id")
    if filters.session_id is not None:
        require_id(filters.session_id, "session_id")
    if filters.paid_from is not None and filters.paid_to is not None and filters.paid_to <= filters.paid_from:
        raise InvalidRequest("paid_to", "must be after paid_from")
    size = keyset.require_size(page_size, "page_size", MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE, InvalidRequest)
    query = PaymentListQuery(filters, size)
    if not page_token:
        return query
    key_token = keyset.page_key_token(page_token, query.filters_digest())
    after = PaymentKey.from_token(key_token) if key_token is not None else None
    if after is None:
        raise InvalidRequest("page_token", "is not a page token of this query (the same filters)")
    return replace(query, after=after)


def parse_stream_query(
    start: dt.datetime | None,
    end: dt.datetime | None,
    after_key: str,
    batch_size: int,
    user_id: str = "",
    with_lines: bool = False,
) -> PaymentStreamQuery:
    """A StreamPayments request with every field checked; an empty after_key starts at start_time, an empty
    user_id means every buyer."""
    if user_id:
        require_id(user_id, "user_id")
    if start is None:
        raise InvalidRequest("start_time", "is required")
    if end is None:
        raise InvalidRequest("end_time", "is required")
    if end <= start:
        raise InvalidRequest("end_time", "must be after start_time")
    after = None
    if after_key:
        after = PaymentKey.from_token(after_key)
        if after is None:
            raise InvalidRequest("after_key", "is not a key this service gave (PaymentBatch.last_key)")
    size = keyset.require_size(batch_size, "batch_size", MAX_BATCH_SIZE, DEFAULT_BATCH_SIZE, InvalidRequest)
    return PaymentStreamQuery(start, end, after, size, user_id or None, with_lines)
