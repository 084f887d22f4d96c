"""Reading every purchase of a time range in a stable order, a batch at a time, resumable from a key."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass

from entitlement_service.domain.purchase import Purchase
from paygrant.contract_rules import id_problem

_SEPARATOR = "|"
# Longer tokens were never made here: refused before any decoding.
_MAX_TOKEN_LENGTH = 512


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
        plain = f"{self.purchased_at.astimezone(dt.UTC).isoformat()}{_SEPARATOR}{self.purchase_id}"
        return base64.urlsafe_b64encode(plain.encode()).decode()

    @classmethod
    def from_token(cls, token: str) -> PurchaseKey | None:
        """The key a token() made, or None when `token` is not one."""
        if len(token) > _MAX_TOKEN_LENGTH:
            return None
        try:
            plain = base64.urlsafe_b64decode(token.encode("ascii")).decode()
            when, separator, purchase_id = plain.partition(_SEPARATOR)
            purchased_at = dt.datetime.fromisoformat(when)
        except (ValueError, binascii.Error):  # UnicodeError is a ValueError
            return None
        if not separator or id_problem(purchase_id) or purchased_at.utcoffset() != dt.timedelta(0):
            return None
        return cls(purchased_at, purchase_id)


@dataclass(frozen=True)
class StreamQuery:
    """Purchases made in [start, end) after `after` (from the start when None), `batch_size` at a time."""

    start: dt.datetime
    end: dt.datetime
    after: PurchaseKey | None
    batch_size: int
