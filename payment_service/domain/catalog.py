"""The catalog: what can be bought, at what price."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from payment_service.domain.errors import InvalidRequest

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
MAX_ITEM_ID = 128


@dataclass(frozen=True, order=True)
class ItemRef:
    """A sellable thing: its kind ("course", "test", "product") and its id within the kind."""

    kind: str
    id: str

    def validate(self, field: str) -> None:
        """Raises InvalidRequest naming `field` when the kind or id is malformed."""
        if not KIND_PATTERN.match(self.kind):
            raise InvalidRequest(f"{field}.kind", "must be 1-32 lowercase letters, digits, '_' or '-'")
        if not 0 < len(self.id) <= MAX_ITEM_ID or self.id.strip() != self.id:
            raise InvalidRequest(f"{field}.id", f"must be 1-{MAX_ITEM_ID} characters without surrounding spaces")


class Product:
    """A catalog entry. Mapped onto the `products` table by the ORM adapter."""

    def __init__(
        self, kind: str, item_id: str, title: str, amount: int, currency: str, active: bool, updated_at: dt.datetime
    ) -> None:
        self.kind = kind
        self.item_id = item_id
        self.title = title
        self.amount = amount
        self.currency = currency
        self.active = active
        self.updated_at = updated_at

    @property
    def item(self) -> ItemRef:
        """The item this entry prices."""
        return ItemRef(self.kind, self.item_id)
