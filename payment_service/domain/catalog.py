"""The catalog: what can be bought, at what price."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from payment_service.domain.validation import require_id, require_kind


@dataclass(frozen=True, order=True)
class ItemRef:
    """A sellable thing: its kind ("course", "test", "product") and its id within the kind."""

    kind: str
    id: str

    def validate(self, field: str) -> None:
        """Raises InvalidRequest naming `field` when the kind or id is malformed."""
        require_kind(self.kind, f"{field}.kind")
        require_id(self.id, f"{field}.id")


@dataclass(eq=False)
class Product:
    """A catalog entry. Mapped onto the `products` table by the ORM adapter."""

    kind: str
    item_id: str
    title: str
    amount: int
    currency: str
    active: bool
    updated_at: dt.datetime

    @property
    def item(self) -> ItemRef:
        """The item this entry prices."""
        return ItemRef(self.kind, self.item_id)
