"""Reading the outbox for operators and reconciliation: its events by status, age or payment, a page at a time.

Pages run in the order the rows were written (their autoincrement id); a page token holds the id of
the last row read and a digest of the filters, so it is refused with other filters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace

from paygrant import keyset
from payment_service.domain.errors import InvalidRequest
from payment_service.domain.outbox import OutboxStatus
from payment_service.domain.validation import require_ids

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 1_000
MAX_PAYMENT_IDS = 1_000
MAX_RETRIED_IDS = 1_000


@dataclass(frozen=True)
class OutboxEventQuery:
    """Events matching every filter given (None or empty: any), `page_size` at a time, after row `after_id`."""

    status: OutboxStatus | None = None
    created_before: dt.datetime | None = None
    payment_ids: tuple[str, ...] = ()
    page_size: int = DEFAULT_PAGE_SIZE
    after_id: int | None = None

    def filters_digest(self) -> str:
        """What a page token remembers of the filters."""
        return keyset.filters_digest("outbox", self.status, self.created_before, sorted(self.payment_ids))

    def next_page_token(self, last_id: int) -> str:
        """The token of the page after row `last_id`, for the same filters."""
        return keyset.page_token(self.filters_digest(), str(last_id))


def parse_outbox_query(
    status: OutboxStatus | None,
    created_before: dt.datetime | None,
    payment_ids: Sequence[str],
    page_size: int,
    page_token: str,
) -> OutboxEventQuery:
    """A ListOutboxEvents request with every field checked."""
    ids = tuple(require_ids(payment_ids, "payment_ids", 0, MAX_PAYMENT_IDS))
    size = keyset.require_size(page_size, "page_size", MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE, InvalidRequest)
    query = OutboxEventQuery(status, created_before, ids, size)
    if not page_token:
        return query
    key = keyset.page_key_token(page_token, query.filters_digest())
    if key is None or not key.isascii() or not key.isdigit() or len(key) > 19:
        raise InvalidRequest("page_token", "is not a page token of this query (the same filters)")
    return replace(query, after_id=int(key))


def require_event_ids(event_ids: Sequence[str]) -> list[str]:
    """The ids a RetryOutboxEvents names: 1 to MAX_RETRIED_IDS valid ids, duplicates dropped."""
    return require_ids(event_ids, "event_ids", 1, MAX_RETRIED_IDS)
