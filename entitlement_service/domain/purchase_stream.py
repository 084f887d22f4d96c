"""Reading every purchase of a time range in a stable order, a batch at a time, resumable from a key."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple

from entitlement_service.domain.purchase import Purchase, PurchaseStatus, Source
from paygrant.keyset import key_token, parse_key_token


class StreamedPurchase(NamedTuple):
    """A purchase as the stream reads it: its columns as they are stored, without the ORM's bookkeeping, which
    would cost several times the read itself over the millions of rows a reconciliation streams."""

    id: str
    user_id: str
    item_kind: str
    item_id: str
    source: Source
    status: PurchaseStatus
    payment_id: str | None
    amount: int
    currency: str
    purchased_at: dt.datetime
    revoked_at: dt.datetime | None
    reason: str | None
    actor: str | None
    double_purchase: bool
    revoke_reason: str | None
    revoked_by: str | None


@dataclass(frozen=True, order=True)
class PurchaseKey:
    """A purchase's place in the stream's order: (purchased_at, purchase id), unique and never changing."""

    purchased_at: dt.datetime
    purchase_id: str

    @classmethod
    def of(cls, purchase: Purchase | StreamedPurchase) -> PurchaseKey:
        """The key of a purchase."""
        return cls(purchase.purchased_at, purchase.id)

    def token(self) -> str:
        """The opaque text a caller passes back to resume after this purchase."""
        return key_token(self.purchased_at, self.purchase_id)

    @classmethod
    def from_token(cls, token: str) -> PurchaseKey | None:
        """The key a token() made, or None when `token` is not one."""
        key = parse_key_token(token)
        return None if key is None else cls(*key)


@dataclass(frozen=True)
class StreamQuery:
    """Purchases made in [start, end) after `after` (from the start when None), `batch_size` at a time."""

    start: dt.datetime
    end: dt.datetime
    after: PurchaseKey | None
    batch_size: int
    user_id: str | None = None  # only this user's purchases when given
