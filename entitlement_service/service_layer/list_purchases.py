"""ListPurchases: a user's purchase history, newest first, one keyset page at a time."""

from __future__ import annotations

from dataclasses import dataclass

from entitlement_service.domain.history import HistoryQuery, page_token
from entitlement_service.domain.purchase import Purchase
from entitlement_service.domain.purchase_stream import PurchaseKey
from entitlement_service.service_layer.unit_of_work import UnitOfWorkFactory


@dataclass(frozen=True)
class PurchasePage:
    """One page, and the token of the next one (empty on the last page)."""

    purchases: list[Purchase]
    next_page_token: str


async def list_purchases(query: HistoryQuery, uow_factory: UnitOfWorkFactory) -> PurchasePage:
    """The page the query asks for; one row past it is read to know whether another page follows."""
    async with uow_factory() as uow:
        rows = await uow.purchases.history(query)
    page = rows[: query.page_size]
    if len(rows) <= query.page_size:
        return PurchasePage(page, "")
    last = page[-1]
    return PurchasePage(page, page_token(query, PurchaseKey.of(last)))
