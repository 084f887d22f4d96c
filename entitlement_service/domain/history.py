"""A user's purchase history, newest first, read a page at a time by keyset.

A page ends at a purchase; the next one starts strictly after it in (purchased_at, id) order
(descending). So a purchase recorded between two pages never shifts or repeats an entry: it sorts
before the first page, or (a late event with an old timestamp) at its own place, once. The token
is opaque to callers: a digest of the filters it was read with and the last key read (the same
PurchaseKey the purchase stream resumes from), so a token is refused with filters other than its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from entitlement_service.domain.errors import InvalidRequest
from entitlement_service.domain.purchase import PurchaseStatus
from entitlement_service.domain.purchase_stream import PurchaseKey
from paygrant import keyset


@dataclass(frozen=True)
class HistoryQuery:
    """Which purchases of one user to list: of one kind and in one status, when given."""

    user_id: str
    kind: str | None
    status: PurchaseStatus | None
    page_size: int
    after: PurchaseKey | None = None

    def filters_digest(self) -> str:
        """What a token remembers of the filters, so it is refused with others."""
        return keyset.filters_digest(self.user_id, self.kind, self.status)


def page_token(query: HistoryQuery, last: PurchaseKey) -> str:
    """The token of the page after `last`, for the same filters: the filters' digest, then the key's token."""
    return keyset.page_token(query.filters_digest(), last.token())


def after_token(query: HistoryQuery, token: str) -> HistoryQuery:
    """The query resumed after the key a token carries; an empty token is the first page.

    InvalidRequest naming page_token for anything this service did not make for these filters.
    """
    if not token:
        return query
    key_token = keyset.page_key_token(token, query.filters_digest())
    key = PurchaseKey.from_token(key_token) if key_token is not None else None
    if key is None:
        raise InvalidRequest("page_token", "is not a page token of this query")
    return HistoryQuery(query.user_id, query.kind, query.status, query.page_size, key)
