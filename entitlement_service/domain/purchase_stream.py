"""Reading every purchase of a time range in a stable order, a batch at a time, resumable from a key."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from entitlement_service.domain.purchase import Purchase
from paygrant.keyset import key_token, parse_key_token


@dataclass(frozen=True, order=True)
class PurchaseKey:
    """A purchase's place in the stream's order: (purchased_at, purchase id), unique and never changing."""

    purchased_at: dt.datetime
    purchase_id: str

    @classmethod
    def of(cls, purchase: Purchase) -> PurchaseKey:
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
